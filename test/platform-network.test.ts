/**
 * Issue #14 holes 1 and 2 on the rendered platform: every pod in the platform's monitoring and billing
 * namespaces is selected by an ingress NetworkPolicy, and the union of the policies selecting it admits
 * exactly the peers of the table below (written from the design, not from the code under test). On the
 * unfixed render the central Prometheus and the billing pods had no policy at all, so anything in the
 * cluster could read every tenant's series and the billing /metrics.
 * Also: the billing metrics port is never on a client Service, Route or HTTPRoute, the OpenShift Route
 * serves /v1/ only, and the billing ServiceMonitor scrapes the metrics port with a sampleLimit.
 */
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseStackConfig, type StackConfig } from "../components/config";
import { platformTenantNamespaces } from "../components/config/platform";
import { readStackConfigFile, type RenderResult } from "../scripts/render";
import { findObject, ofKind, renderExample, repoRoot } from "./support/stacks";

type Labels = Record<string, string>;
interface Pod {
  readonly owner: string;
  readonly namespace: string;
  readonly labels: Labels;
}

const selects = (selector: { matchLabels?: Labels } | undefined, labels: Labels): boolean =>
  Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);

/** Pods of the platform namespaces: workload templates, and the Prometheus the operator runs (its podMetadata labels). */
const platformPods = (r: RenderResult, namespaces: string[]): Pod[] => {
  const pods: Pod[] = [];
  for (const { object } of r.objects as Array<{ object: any }>) {
    const ns: string = object.metadata?.namespace;
    if (!namespaces.includes(ns)) continue;
    if (["Deployment", "StatefulSet", "DaemonSet"].includes(object.kind)) {
      pods.push({ owner: `${object.kind}/${object.metadata.name}`, namespace: ns, labels: object.spec.template.metadata.labels ?? {} });
    }
    if (object.kind === "Prometheus") {
      // prometheus-operator labels its pods; podMetadata labels are added to them.
      const operatorLabels = { "app.kubernetes.io/name": "prometheus", "app.kubernetes.io/instance": object.metadata.name, "operator.prometheus.io/name": object.metadata.name };
      pods.push({ owner: `Prometheus/${object.metadata.name}`, namespace: ns, labels: { ...operatorLabels, ...(object.spec.podMetadata?.labels ?? {}) } });
    }
  }
  return pods;
};

/** "namespace[/k=v,...]:port" for every peer and port a policy's ingress rules admit. */
const admitted = (policy: any): string[] => {
  const out: string[] = [];
  for (const rule of policy.spec.ingress ?? []) {
    const ports: string[] = (rule.ports ?? []).map((p: { port: number | string }) => String(p.port));
    // A rule without peers admits every source (NetworkPolicy semantics): an empty tenant shard
    // rendered as `from: []` would open the billing API to the cluster.
    if ((rule.from ?? []).length === 0) for (const port of ports.length > 0 ? ports : ["*"]) out.push(`*:${port}`);
    for (const peer of rule.from ?? []) {
      const nsSel = peer.namespaceSelector;
      const namespaces: string[] = nsSel
        ? [
            ...(nsSel.matchLabels?.["kubernetes.io/metadata.name"] ? [nsSel.matchLabels["kubernetes.io/metadata.name"]] : []),
            ...(nsSel.matchExpressions ?? []).flatMap((e: { key: string; operator: string; values: string[] }) => (e.key === "kubernetes.io/metadata.name" && e.operator === "In" ? e.values : [`?${JSON.stringify(e)}`])),
          ]
        : [policy.metadata.namespace];
      if (nsSel && namespaces.length === 0) namespaces.push(`?${JSON.stringify(nsSel)}`);
      const pods = peer.podSelector?.matchLabels ? Object.entries(peer.podSelector.matchLabels as Labels).sort().map(([k, v]) => `${k}=${v}`).join(",") : "";
      for (const ns of namespaces) for (const port of ports) out.push(`${ns}${pods ? `/${pods}` : ""}:${port}`);
    }
  }
  return out;
};

/** Rendered objects are untyped Kubernetes JSON. */
const obj = (o: { object: unknown }): any => o.object;

const ingressOf = (r: RenderResult, pod: Pod): { policies: string[]; peers: string[] } => {
  const policies = ofKind(r, "NetworkPolicy")
    .map((o) => o.object as any)
    .filter((p) => p.metadata.namespace === pod.namespace && (p.spec.policyTypes ?? ["Ingress"]).includes("Ingress") && selects(p.spec.podSelector, pod.labels));
  return { policies: policies.map((p) => p.metadata.name), peers: [...new Set(policies.flatMap(admitted))].sort() };
};

/** The allowed peers of each platform pod, from the design in issue #14 and docs/billing-service.md. */
const expectedPeers = (config: StackConfig): Record<string, string[]> => {
  const p = config.platform!;
  const mon = p.monitoring.namespace;
  const billing = p.namespace;
  const tenants = p.tenants.flatMap((t) => platformTenantNamespaces(t));
  const kubernetes = config.flavor === "kubernetes";
  const scraper = kubernetes ? `${mon}/maas-billing.io/role=central-prometheus` : "openshift-user-workload-monitoring/app.kubernetes.io/name=prometheus";
  const billingPods = "app.kubernetes.io/component=billing-api,app.kubernetes.io/name=maas-billing-api";
  const table: Record<string, string[]> = {
    "Deployment/maas-billing-api": [`${p.gateway.namespace}:8080`, ...tenants.map((ns) => `${ns}:8080`), `${scraper}:8081`],
    "StatefulSet/maas-billing-db": [`${billing}/${billingPods}:5432`],
  };
  for (const t of p.tenants) {
    for (const role of ["models", "gateway", "billing"]) table[`Deployment/maas-fed-${t.name}-${role}`] = platformTenantNamespaces(t).map((ns) => `${ns}:8080`);
  }
  if (kubernetes) {
    table["Prometheus/maas-prometheus"] = [
      `${mon}/app.kubernetes.io/component=federation-proxy:9090`,
      ...(p.grafana.enabled ? [`${mon}/app.kubernetes.io/name=maas-grafana:9090`] : []),
      `${billing}/${billingPods}:9090`,
    ];
  }
  if (p.grafana.enabled) table["Deployment/maas-grafana"] = p.grafana.expose.enabled ? [`${p.gateway.namespace}:3000`] : [];
  return Object.fromEntries(Object.entries(table).map(([k, v]) => [k, [...v].sort()]));
};

const stacks = ["platform-kubernetes", "platform-openshift", "dev"];
const renders = new Map<string, { r: RenderResult; config: StackConfig }>();

beforeAll(async () => {
  for (const stack of stacks) {
    const { config } = readStackConfigFile(path.join(repoRoot, `Pulumi.${stack}.yaml`));
    const raw = Object.fromEntries(Object.entries(config).filter(([k]) => k.startsWith("maas-billing:")).map(([k, v]) => [k.slice("maas-billing:".length), v]));
    renders.set(stack, { r: await renderExample(stack), config: parseStackConfig(raw) });
  }
}, 300_000);

describe.each(stacks)("ingress of the platform namespaces (%s)", (stack) => {
  it("every pod of the monitoring and billing namespaces is selected by an ingress policy admitting exactly the allowed peers", () => {
    const { r, config } = renders.get(stack)!;
    const p = config.platform!;
    const pods = platformPods(r, [p.monitoring.namespace, p.namespace]);
    const expected = expectedPeers(config);
    const seen: Record<string, string[]> = {};
    for (const pod of pods) {
      const { policies, peers } = ingressOf(r, pod);
      expect(policies.length, `${pod.owner} in ${pod.namespace} is selected by no ingress NetworkPolicy`).toBeGreaterThan(0);
      seen[pod.owner] = peers;
    }
    expect(seen).toEqual(expected);
  });

  it("both platform namespaces deny ingress by default", () => {
    const { r, config } = renders.get(stack)!;
    for (const ns of [config.platform!.monitoring.namespace, config.platform!.namespace]) {
      const denyAll = ofKind(r, "NetworkPolicy").map(obj).filter((o) => o.metadata.namespace === ns && Object.keys(o.spec.podSelector ?? {}).length === 0 && o.spec.ingress === undefined);
      expect(denyAll.map((o) => o.spec.policyTypes), ns).toEqual([["Ingress"]]);
    }
  });

  it("the metrics port is on no client Service, Route or HTTPRoute; the ServiceMonitor scrapes it with a sampleLimit", () => {
    const { r, config } = renders.get(stack)!;
    const billingNs = config.platform!.namespace;
    const client = obj(findObject(r, "Service", "maas-billing-api"));
    expect(client.spec.ports.map((port: { port: number }) => port.port)).toEqual([8080]);
    for (const kind of ["Route", "HTTPRoute"]) {
      for (const object of ofKind(r, kind).map(obj).filter((o) => o.metadata.namespace === billingNs)) {
        expect(JSON.stringify(object.spec)).not.toMatch(/8081|"metrics"/);
      }
    }
    const monitor = obj(findObject(r, "ServiceMonitor", "maas-billing-api"));
    expect(monitor.spec.endpoints).toEqual([{ port: "metrics", path: "/metrics", interval: "30s" }]);
    expect(monitor.spec.sampleLimit).toBeGreaterThan(0);
    const metricsService = ofKind(r, "Service").map(obj).find((o) => o.metadata.namespace === billingNs && selects(monitor.spec.selector, o.metadata.labels ?? {}));
    expect(metricsService?.metadata.name).toBe("maas-billing-api-metrics");
    expect(ofKind(r, "Service").map(obj).filter((o) => selects(monitor.spec.selector, o.metadata.labels ?? {})).map((o) => o.metadata.name)).toEqual(["maas-billing-api-metrics"]);
    const container = obj(findObject(r, "Deployment", "maas-billing-api")).spec.template.spec.containers[0];
    expect(container.env).toContainEqual({ name: "MAAS_BILLING_METRICS_PORT", value: "8081" });
  });

  it("the OpenShift Routes of the billing API serve /v1/ and /portal/ only", () => {
    const { r, config } = renders.get(stack)!;
    const routes = ofKind(r, "Route").map(obj).filter((o) => o.metadata.name === "maas-billing-api");
    expect(routes.length).toBe(config.flavor === "openshift" ? 1 : 0);
    for (const object of routes) expect(object.spec.path).toBe("/v1/");
    // The portal (issue #19) has its own Route on the same host; no Route of the billing namespace serves "/".
    const all = ofKind(r, "Route").map(obj).filter((o) => o.metadata.namespace === config.platform!.namespace);
    expect(all.map((o) => o.spec.path).sort()).toEqual(config.flavor === "openshift" ? ["/portal/", "/v1/"] : []);
  });
});

describe("central Prometheus (kubernetes)", () => {
  it("enforces the namespace label of every monitor and ignores monitors' namespace selectors", () => {
    const { r } = renders.get("platform-kubernetes")!;
    const prometheus = obj(findObject(r, "Prometheus", "maas-prometheus"));
    expect(prometheus.spec.enforcedNamespaceLabel).toBe("namespace");
    expect(prometheus.spec.ignoreNamespaceSelectors).toBe(true);
    // Only the platform's own rules (which read every namespace) are exempt, never a monitor.
    expect(prometheus.spec.excludedFromEnforcement).toEqual([{ group: "monitoring.coreos.com", resource: "prometheusrules", namespace: "maas-monitoring" }]);
  });
});

describe.each(stacks)("federation proxies also enforce where their series are scraped (%s)", (stack) => {
  it("the billing proxy enforces tenant AND the billing namespace; the gateway proxy route_namespace AND Limitador's namespace", () => {
    const { r, config } = renders.get(stack)!;
    const p = config.platform!;
    for (const t of p.tenants) {
      for (const [role, label, values, namespace] of [
        ["billing", "tenant", [t.name], p.namespace],
        ["gateway", "route_namespace", platformTenantNamespaces(t), p.limitador.namespace],
      ] as const) {
        const containers: any[] = obj(findObject(r, "Deployment", `maas-fed-${t.name}-${role}`)).spec.template.spec.containers;
        const outer = containers.find((c) => c.name === "prom-label-proxy");
        const guard = containers.find((c) => c.name === "namespace-guard");
        expect(outer.args).toEqual(["--insecure-listen-address=0.0.0.0:8080", "--upstream=http://127.0.0.1:8082", `--label=${label}`, ...values.map((v) => `--label-value=${v}`)]);
        expect(guard.args[0]).toBe("--insecure-listen-address=127.0.0.1:8082");
        expect(guard.args.filter((a: string) => a.startsWith("--label"))).toEqual(["--label=namespace", `--label-value=${namespace}`]);
        // The guard, not the outer proxy, talks to the central Prometheus (directly or through the auth sidecar).
        expect(guard.args.find((a: string) => a.startsWith("--upstream="))).not.toContain("127.0.0.1:8082");
      }
      const models: any[] = obj(findObject(r, "Deployment", `maas-fed-${t.name}-models`)).spec.template.spec.containers;
      expect(models.map((c) => c.name)).not.toContain("namespace-guard");
    }
  });
});
