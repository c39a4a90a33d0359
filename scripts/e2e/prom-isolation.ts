// Tenant isolation of metrics: a real Prometheus holding every tenant's series, and per tenant the
// prom-label-proxy instances with exactly the enforcement arguments the platform render gives them.
import { BILLING_METRIC, federate, FORGED_MODEL, GATEWAY_METRIC, instantQuery, MODEL_METRIC, startLabelProxy, startPrometheus, type SeriesSources } from "./prometheus";
import { expect, type Report } from "./report";
import type { TenantFacts } from "./tenants";

/** The metric whose series each enforced label scopes (contract: "Tenant isolation design"). */
const METRIC_FOR_LABEL: Record<string, string> = { namespace: MODEL_METRIC, route_namespace: GATEWAY_METRIC, tenant: BILLING_METRIC };

/** The values of `label` that belong to `tenant`: its name for `tenant`, otherwise its namespaces. */
export function ownValues(tenant: TenantFacts, label: string): string[] {
  return label === "tenant" ? [tenant.name] : [...tenant.namespaces];
}

/** Where each federation proxy (by Deployment name) listens, and the evaluation time of the fixture. */
export interface FederationUnderTest {
  proxyUrls: Map<string, string>;
  evalTime: number;
  /** Namespaces the billing and Limitador series are scraped in (what the namespace guards enforce). */
  sources: SeriesSources;
}

export async function prometheusIsolationChecks(
  report: Report,
  binDir: string,
  workDir: string,
  tenants: TenantFacts[],
): Promise<FederationUnderTest> {
  const proxyUrls = new Map<string, string>();
  // Where the render says billing and Limitador series are scraped (the namespaces its guards enforce).
  const guarded = (label: string) => tenants.flatMap((t) => t.proxies).find((p) => p.label === label)?.guardNamespace;
  const sources: SeriesSources = { billing: guarded("tenant") ?? "maas-billing", gateway: guarded("route_namespace") ?? "kuadrant-system" };
  const prometheus = await startPrometheus(
    workDir,
    tenants.map((t) => ({ tenant: t.name, namespaces: t.namespaces })),
    sources,
  );
  const forgedPerMetric = tenants.length * (tenants.length - 1);

  await report.check("the fixture Prometheus holds every tenant's series (so the proxy results below are filtering, not missing data)", async (detail) => {
    for (const metric of [MODEL_METRIC, GATEWAY_METRIC, BILLING_METRIC]) {
      const all = await instantQuery(prometheus.url, metric, prometheus.evalTime);
      // Plus the series each tenant planted for every other tenant (billing and gateway metrics).
      const expected = (metric === BILLING_METRIC ? tenants.length : tenants.flatMap((t) => t.namespaces).length) + (metric === MODEL_METRIC ? 0 : forgedPerMetric);
      detail(`${metric}: ${all.length} series directly from Prometheus`);
      expect(all.length === expected, `expected ${expected} series, got ${all.length}`);
    }
  });

  for (const tenant of tenants) {
    for (const proxy of tenant.proxies) {
      const metric = METRIC_FOR_LABEL[proxy.label];
      const own = ownValues(tenant, proxy.label).sort();
      const others = tenants.filter((t) => t !== tenant).flatMap((t) => ownValues(t, proxy.label));
      await report.check(`${proxy.name} (enforces ${proxy.label}) answers ${tenant.name}'s queries with ${tenant.name}'s series only`, async (detail) => {
        expect(metric !== undefined, `unexpected enforced label ${proxy.label}`);
        const url = await startLabelProxy(binDir, workDir, proxy.name, prometheus.url, proxy.enforcementArgs, proxy.guardArgs);
        proxyUrls.set(proxy.name, url);
        detail(`args: ${proxy.enforcementArgs.join(" ")}${proxy.guardArgs ? ` behind namespace guard ${proxy.guardArgs.join(" ")}` : ""}`);

        const answer = await instantQuery(url, metric, prometheus.evalTime);
        const seen = answer.map((s) => s.metric[proxy.label]).sort();
        detail(`query ${metric}: ${proxy.label} values ${JSON.stringify(seen)}`);
        expect(JSON.stringify(seen) === JSON.stringify(own), `expected exactly ${own.join(", ")}`);
        const planted = answer.filter((s) => s.metric.model === FORGED_MODEL);
        detail(`series planted by other tenants' pods with ${proxy.label} of ${tenant.name}: ${planted.length}`);
        expect(planted.length === 0, `${planted.length} series planted by another tenant's pods passed (namespaces ${planted.map((s) => s.metric.namespace).join(", ")})`);

        for (const foreign of others) {
          const escape = `${metric}{${proxy.label}="${foreign}"}`;
          const leaked = await instantQuery(url, escape, prometheus.evalTime);
          const wider = await instantQuery(url, `sum by (${proxy.label}) ({__name__=~".+", ${proxy.label}=~".+"})`, prometheus.evalTime);
          detail(`query ${escape}: ${leaked.length} series; any-metric sum: ${JSON.stringify(wider.map((s) => s.metric[proxy.label]).sort())}`);
          expect(leaked.every((s) => own.includes(s.metric[proxy.label])), `${foreign}'s series leaked`);
          expect(wider.every((s) => own.includes(s.metric[proxy.label])), `a foreign ${proxy.label} leaked`);
        }

        const federated = await federate(url, '{__name__=~".+"}');
        const federatedValues = [...new Set(federated.map((s) => s[proxy.label]))].sort();
        detail(`/federate match[]={__name__=~".+"}: ${federated.length} series, ${proxy.label} values ${JSON.stringify(federatedValues)}`);
        expect(federated.length > 0, "federation returned nothing");
        expect(federatedValues.every((v) => own.includes(v)), "federation leaked a foreign series");
      });
    }
  }
  return { proxyUrls, evalTime: prometheus.evalTime, sources };
}
