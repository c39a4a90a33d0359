// The whole metrics path of a tenant: a real Prometheus started with the tenant stack's rendered
// configuration and rules, scraping `/federate` on that tenant's platform proxies, which sit in front
// of the central (fixture) Prometheus. Only in-cluster addresses are rewired to loopback.
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import type { KubeObject } from "./kube-client";
import { freePort } from "../../billing-service/src/net/free-port";
import { instantQuery, startPrometheusWith } from "./prometheus";
import type { FederationUnderTest } from "./prom-isolation";
import { expect, type Report } from "./report";
import type { TenantFacts } from "./tenants";

interface ScrapeConfig {
  job_name: string;
  scrape_interval?: string;
  static_configs?: Array<{ targets: string[] }>;
  [key: string]: unknown;
}

/**
 * The tenant's rendered prometheus.yml with: federation targets (`<deployment>.<ns>.svc:<port>`) pointed
 * at the local proxy of that Deployment, rule files at local copies, the self-scrape at `selfAddress`,
 * and 1 s intervals so the check does not wait for 30 s scrapes.
 */
export function rewireTenantConfig(
  configYaml: string,
  proxyUrls: Map<string, string>,
  ruleFile: string,
  selfAddress: string,
): { config: string; federationJobs: string[] } {
  const config = parse(configYaml) as { global?: Record<string, unknown>; rule_files?: string[]; scrape_configs: ScrapeConfig[] };
  config.global = { ...config.global, scrape_interval: "1s", evaluation_interval: "1s" };
  if (config.rule_files) config.rule_files = [ruleFile];
  const federationJobs: string[] = [];
  for (const job of config.scrape_configs) {
    delete job.scrape_interval;
    for (const sc of job.static_configs ?? []) {
      sc.targets = sc.targets.map((target) => {
        const service = target.split(".")[0];
        const local = proxyUrls.get(service);
        if (local) {
          if (!federationJobs.includes(job.job_name)) federationJobs.push(job.job_name);
          return new URL(local).host;
        }
        if (/^localhost:|^127\.0\.0\.1:/.test(target)) return selfAddress;
        throw new Error(`job ${job.job_name}: no local stand-in for target ${target}`);
      });
    }
  }
  return { config: stringify(config), federationJobs };
}

export async function tenantFederationChecks(
  report: Report,
  workDir: string,
  tenant: TenantFacts,
  otherTenants: TenantFacts[],
  tenantRender: KubeObject[],
  federation: FederationUnderTest,
): Promise<void> {
  await report.check(`${tenant.name}'s own Prometheus (rendered config and rules) federates only ${tenant.name}'s series through its proxies`, async (detail) => {
    const configMap = tenantRender.find((o) => o.kind === "ConfigMap" && typeof (o.data as any)?.["prometheus.yml"] === "string");
    expect(configMap !== undefined, `${tenant.name}'s render has no ConfigMap with prometheus.yml`);
    const data = configMap.data as Record<string, string>;
    const dir = join(workDir, `${tenant.name}-prometheus-files`);
    mkdirSync(dir, { recursive: true });
    const ruleFile = join(dir, "rules.yml");
    writeFileSync(ruleFile, data["rules.yml"] ?? "groups: []\n");

    const port = await freePort();
    const { config, federationJobs } = rewireTenantConfig(data["prometheus.yml"], federation.proxyUrls, ruleFile, `127.0.0.1:${port}`);
    expect(federationJobs.length > 0, "the tenant config scrapes none of the platform's federation proxies");
    detail(`federation jobs: ${federationJobs.join(", ")}`);
    const { url } = await startPrometheusWith(workDir, `${tenant.name}-prometheus`, config, undefined, port);

    const deadline = Date.now() + 60_000;
    let up: Array<{ metric: Record<string, string> }> = [];
    while (Date.now() < deadline) {
      up = await instantQuery(url, `up{job=~"${federationJobs.join("|")}"} == 1`, Date.now() / 1000);
      if (up.length === federationJobs.length) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    detail(`federation targets up: ${up.map((s) => s.metric.job).sort().join(", ")}`);
    expect(up.length === federationJobs.length, "not every federation target came up within 60 s");

    // Samples keep their central timestamps (honor_labels, federation), so query at the fixture time.
    const series = await instantQuery(url, `{job=~"${federationJobs.join("|")}"}`, federation.evalTime);
    const metrics = [...new Set(series.map((s) => s.metric.__name__))].sort();
    // Billing-service series name the tenant in `tenant` and carry the billing namespace they are
    // scraped in (the billing proxy's namespace guard enforces it); every other series carries a
    // tenant namespace in `route_namespace` (gateway) or `namespace` (model servers).
    const billing = series.filter((s) => s.metric.tenant !== undefined);
    const namespaced = series.filter((s) => s.metric.tenant === undefined && (s.metric.route_namespace ?? s.metric.namespace));
    const tenantValues = [...new Set(namespaced.map((s) => s.metric.route_namespace ?? s.metric.namespace))].sort();
    const tenantLabels = [...new Set(billing.map((s) => s.metric.tenant))].sort();
    const billingNamespaces = [...new Set(billing.map((s) => s.metric.namespace))].sort();
    detail(`federated series: ${series.length}, metrics ${JSON.stringify(metrics)}`);
    detail(`tenant namespaces seen (route_namespace, else namespace): ${JSON.stringify(tenantValues)}; tenant labels seen: ${JSON.stringify(tenantLabels)} (billing series scraped in ${JSON.stringify(billingNamespaces)})`);
    expect(series.length > 0, "the tenant Prometheus federated nothing");
    expect(
      billing.every((s) => s.metric.tenant === tenant.name && s.metric.namespace === federation.sources.billing),
      `billing series other than ${tenant.name}'s scraped in ${federation.sources.billing}: ${JSON.stringify(billing.filter((s) => s.metric.tenant !== tenant.name || s.metric.namespace !== federation.sources.billing).slice(0, 3).map((s) => s.metric))}`,
    );
    const foreignNamespaces = otherTenants.flatMap((t) => t.namespaces);
    const foreignNames = otherTenants.map((t) => t.name);
    const leaked = series.filter(
      (s) =>
        foreignNamespaces.includes(s.metric.namespace) ||
        foreignNamespaces.includes(s.metric.route_namespace) ||
        foreignNames.includes(s.metric.tenant),
    );
    expect(leaked.length === 0, `foreign series federated: ${JSON.stringify(leaked.slice(0, 3).map((s) => s.metric))}`);
    expect(JSON.stringify(tenantValues) === JSON.stringify([...tenant.namespaces].sort()), `expected series from each of ${tenant.namespaces.join(", ")}`);
    expect(JSON.stringify(tenantLabels) === JSON.stringify([tenant.name]), `expected the billing service's series of ${tenant.name}, saw tenant labels ${JSON.stringify(tenantLabels)}`);

    const rules = (await (await fetch(`${url}/api/v1/rules`)).json()) as { data: { groups: Array<{ name: string; rules: Array<{ health: string }> }> } };
    const groups = rules.data.groups.map((g) => `${g.name} (${g.rules.length} rules)`);
    detail(`rule groups loaded: ${groups.join(", ") || "(none)"}`);
    if (data["rules.yml"]) expect(rules.data.groups.length > 0, "the rendered rules did not load");
  });
}
