/*
 * The example tenant stacks (Pulumi.tenant-a.yaml, Pulumi.tenant-b.yaml) rendered offline under Pulumi
 * mocks, with the platform StackReference answered from test/fixtures/platform-outputs.json: they
 * conform to the upstream CRDs and the Kubernetes schemas, pass the security invariants and have the
 * shapes the tenant design promises.
 */
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as YAML from "yaml";
import { readStackConfigFile, render, type RenderResult } from "../scripts/render";
import { createConformanceValidator, type ConformanceValidator } from "./support/conformance";
import { checkSecurityInvariants } from "./support/invariants";
import { findObject, ofKind, renderConfig, renderExample, repoRoot, platformOutputsFixture } from "./support/stacks";

const fixture = platformOutputsFixture();
const exampleTenants = ["tenant-a", "tenant-b"];

/** Renders Pulumi.<stack>.yaml with its platformStack answered from the fixture. */
async function renderTenant(stack: string): Promise<RenderResult> {
  const { config, secretKeys } = readStackConfigFile(path.join(repoRoot, `Pulumi.${stack}.yaml`));
  const platformStack = config["maas-billing:platformStack"] as string;
  return render({ stack, config, secretKeys, stackReferenceOutputs: { [platformStack]: fixture } });
}

const renders: Record<string, RenderResult> = {};
let validator: ConformanceValidator;
beforeAll(async () => {
  validator = createConformanceValidator();
  for (const stack of exampleTenants) renders[stack] = await renderTenant(stack);
});

describe("example tenant stacks", () => {
  it.each(exampleTenants)("%s reads its platform through a StackReference and is a tenant stack only", (stack) => {
    const r = renders[stack];
    expect(r.resources.filter((x) => x.type === "pulumi:pulumi:StackReference").map((x) => x.name)).toEqual(["acme/maas-billing/platform-openshift"]);
    expect(r.resources.filter((x) => x.type === "maas:tenant:TenantStack").map((x) => x.name)).toEqual([`tenant-${stack}`]);
    expect(r.resources.some((x) => x.type.startsWith("maas:platform"))).toBe(false);
  });

  it.each(exampleTenants)("%s conforms to the CRDs and Kubernetes schemas", async (stack) => {
    expect(renders[stack].objects.length).toBeGreaterThan(10);
    expect(await validator.validateAll(renders[stack].objects)).toEqual([]);
  });

  it.each(exampleTenants)("%s passes the security invariants", (stack) => {
    expect(checkSecurityInvariants(renders[stack])).toEqual([]);
  });

  it("tenant-a has the parts the issue asks for", () => {
    const r = renders["tenant-a"];
    const kinds = Object.fromEntries(["StatefulSet", "Deployment", "Secret", "AuthPolicy", "TokenRateLimitPolicy", "RateLimitPolicy", "Route"].map((k) => [k, ofKind(r, k).length]));
    // 3 API keys + Grafana admin; 2 routes x 3 policies; Grafana exposed with a Route on openshift.
    expect(kinds).toEqual({ StatefulSet: 1, Deployment: 1, Secret: 4, AuthPolicy: 2, TokenRateLimitPolicy: 2, RateLimitPolicy: 2, Route: 1 });
  });

  it("the fixture is what the example platform stack really exports", async () => {
    const platform = await renderExample("platform-openshift");
    expect(platform.outputs).toEqual(fixture);
  });

  it("the same input renders identical objects", async () => {
    const again = await renderTenant("tenant-b");
    expect(again.objects).toEqual(renders["tenant-b"].objects);
  });
});

describe("tenant Prometheus", () => {
  it("retention, storage and resources come from config; no token is mounted in federated mode", () => {
    const sts = findObject(renders["tenant-a"], "StatefulSet", "tenant-a-prometheus").object as any;
    const pod = sts.spec.template.spec;
    expect(pod.containers[0].args).toContain("--storage.tsdb.retention.time=30d");
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe("20Gi");
    expect(pod.containers[0].resources).toEqual({ requests: { cpu: "200m", memory: "1Gi" }, limits: { cpu: "1", memory: "4Gi" } });
    expect(pod.automountServiceAccountToken).toBe(false);
    // Openshift: the SCC assigns the UID, so none is fixed.
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
  });

  it("only the tenant's Grafana may query it", () => {
    const np = findObject(renders["tenant-a"], "NetworkPolicy", "tenant-a-prometheus").object as any;
    const grafana = findObject(renders["tenant-a"], "Deployment", "tenant-a-grafana").object as any;
    const from = np.spec.ingress[0].from[0].podSelector.matchLabels as Record<string, string>;
    for (const [k, v] of Object.entries(from)) expect(grafana.spec.template.metadata.labels[k]).toBe(v);
    expect(np.spec.ingress).toHaveLength(1);
  });
});

describe("config changes roll the pods that read them at start", () => {
  it("a new scrape interval changes the Prometheus and Grafana pod hash annotations", async () => {
    const { config } = readStackConfigFile(path.join(repoRoot, "Pulumi.tenant-b.yaml"));
    const tenant = config["maas-billing:tenant"] as Record<string, unknown>;
    const platformStack = config["maas-billing:platformStack"] as string;
    const changed = await render({
      stack: "tenant-b",
      config: { ...config, "maas-billing:tenant": { ...tenant, prometheus: { scrapeInterval: "15s" } } },
      stackReferenceOutputs: { [platformStack]: fixture },
    });
    const hashes = (r: RenderResult) => [
      (findObject(r, "StatefulSet", "tenant-b-prometheus").object as any).spec.template.metadata.annotations["maas-billing.io/config-sha256"],
      (findObject(r, "Deployment", "tenant-b-grafana").object as any).spec.template.metadata.annotations["maas-billing.io/provisioning-sha256"],
    ];
    const [before, after] = [hashes(renders["tenant-b"]), hashes(changed)];
    expect(before.every((h) => /^[0-9a-f]{64}$/.test(h))).toBe(true);
    expect(after[0]).not.toBe(before[0]);
    expect(after[1]).not.toBe(before[1]);
  });
});

describe("Grafana", () => {
  it("takes its admin password from a generated Secret, never a default, with anonymous access off", () => {
    const r = renders["tenant-a"];
    const env = (findObject(r, "Deployment", "tenant-a-grafana").object as any).spec.template.spec.containers[0].env as any[];
    const byName = Object.fromEntries(env.map((e) => [e.name, e]));
    expect(byName.GF_SECURITY_ADMIN_PASSWORD.valueFrom.secretKeyRef).toEqual({ name: "tenant-a-grafana-admin", key: "admin-password" });
    expect(byName.GF_AUTH_ANONYMOUS_ENABLED.value).toBe("false");
    const secret = findObject(r, "Secret", "tenant-a-grafana-admin").object as any;
    expect(r.secretValues).toContain(secret.stringData["admin-password"]);
    expect(secret.stringData["admin-password"]).toHaveLength(32);
  });

  it("provisions the tenant Prometheus with the fixed uid the dashboards use, and the dashboards", () => {
    const r = renders["tenant-a"];
    const prov = findObject(r, "ConfigMap", "tenant-a-grafana-provisioning").object as any;
    expect(prov.data["datasources.yaml"]).toContain("uid: maas-tenant-prometheus");
    expect(prov.data["datasources.yaml"]).toContain("url: http://tenant-a-prometheus.tenant-a-monitoring.svc:9090");
    const dashboards = findObject(r, "ConfigMap", "tenant-a-grafana-dashboards").object as any;
    // The platform exports a billingUrl for tenant-a, so its billing dashboard is provisioned too.
    expect(Object.keys(dashboards.data).sort()).toEqual(["billing.json", "tenant-model-usage.json", "token-usage-chargeback.json"]);
    expect(JSON.parse(dashboards.data["billing.json"]).uid).toBe("maas-billing-tenant");
    for (const text of Object.values(dashboards.data) as string[]) {
      const uids = [...text.matchAll(/"datasource":\s*\{\s*"type":\s*"prometheus",\s*"uid":\s*"([^"]+)"/g)].map((m) => m[1]);
      expect(uids.length).toBeGreaterThan(0);
      expect(new Set(uids)).toEqual(new Set(["maas-tenant-prometheus"]));
      // The platform's vLLM family (kserve_vllm in the fixture), never plain vllm:.
      expect(text).not.toMatch(/[^_]vllm:/);
    }
    expect(dashboards.data["tenant-model-usage.json"]).toContain("kserve_vllm:");
  });

  it("leaves the billing dashboard and the federate-billing job out when the platform exports no billingUrl (older platforms)", async () => {
    const platformStack = "acme/maas-billing/platform";
    const federation = Object.fromEntries(
      Object.entries(fixture.federation as Record<string, { url: string; gatewayUrl: string }>).map(([t, f]) => [t, { url: f.url, gatewayUrl: f.gatewayUrl }]),
    );
    const r = await renderConfig("tenant-old-platform", { flavor: "openshift", platformStack, tenant: { name: "tenant-a" } }, { [platformStack]: { ...fixture, federation } });
    const dashboards = findObject(r, "ConfigMap", "tenant-a-grafana-dashboards").object as any;
    expect(Object.keys(dashboards.data).sort()).toEqual(["tenant-model-usage.json", "token-usage-chargeback.json"]);
    const config = YAML.parse((findObject(r, "ConfigMap", "tenant-a-prometheus-config").object as any).data["prometheus.yml"]);
    expect(config.scrape_configs.map((j: { job_name: string }) => j.job_name)).toEqual(["federate-models", "federate-gateway", "prometheus"]);
  });

  it("is exposed by a Route on openshift only when asked", () => {
    const route = findObject(renders["tenant-a"], "Route", "tenant-a-grafana").object as any;
    expect(route.spec).toEqual({
      host: "grafana.tenant-a.apps.example.com",
      to: { kind: "Service", name: "tenant-a-grafana", weight: 100 },
      port: { targetPort: "http" },
      tls: { termination: "edge", insecureEdgeTerminationPolicy: "Redirect" },
    });
    expect(ofKind(renders["tenant-b"], "Route")).toEqual([]);
  });

  it("is exposed by an HTTPRoute on the platform Gateway on kubernetes", async () => {
    const platformStack = "acme/maas-billing/platform";
    const r = await renderConfig(
      "tenant-k8s",
      { flavor: "kubernetes", platformStack, tenant: { name: "tenant-a", grafana: { expose: { enabled: true, host: "grafana.a.example.com" } } } },
      { [platformStack]: { ...fixture, vllmMetricFamily: "vllm" } },
    );
    const route = findObject(r, "HTTPRoute", "tenant-a-grafana").object as any;
    expect(route.spec.parentRefs).toEqual([{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "maas-default-gateway", namespace: "openshift-ingress" }]);
    expect(route.spec.hostnames).toEqual(["grafana.a.example.com"]);
    expect(route.spec.rules).toEqual([{ backendRefs: [{ name: "tenant-a-grafana", port: 3000 }] }]);
    expect(ofKind(r, "Route")).toEqual([]);
    // Plain Kubernetes: the image's own UIDs are fixed.
    const pod = (findObject(r, "StatefulSet", "tenant-a-prometheus").object as any).spec.template.spec;
    expect(pod.securityContext.runAsUser).toBe(65534);
    expect(await validator.validateAll(r.objects)).toEqual([]);
    expect(checkSecurityInvariants(r)).toEqual([]);
  });

  it("takes the platform's counter names (gatewayCounterSuffix) into federation, rules and dashboards, and its tiers' token limits into the limit panel and rule", async () => {
    const platformStack = "acme/maas-billing/platform";
    const r = await renderConfig(
      "tenant-total",
      { flavor: "openshift", platformStack, tenant: { name: "tenant-a", tiers: [{ name: "premium", tokenRates: [{ limit: 5000, window: "1m" }] }] } },
      { [platformStack]: { ...fixture, gatewayCounterSuffix: "_total" } },
    );
    const data = (findObject(r, "ConfigMap", "tenant-a-prometheus-config").object as any).data as Record<string, string>;
    expect(data["prometheus.yml"]).toContain("authorized_hits_total|authorized_calls_total|limited_calls_total");
    expect(data["rules.yml"]).toContain("rate(authorized_hits_total[5m])");
    expect(data["rules.yml"]).toContain('increase(authorized_hits_total{tier="premium"}[1m])) / 5000');
    const dashboards = ofKind(r, "ConfigMap").map((o) => (o.object as any).data as Record<string, string>).find((d) => d?.["token-usage-chargeback.json"]);
    const chargeback = dashboards!["token-usage-chargeback.json"];
    expect(chargeback).toContain("authorized_hits_total");
    expect(chargeback).not.toMatch(/authorized_(hits|calls)\{|limited_calls\{/);
    expect(chargeback).toContain("Usage against token limits");
    expect(await validator.validateAll(r.objects)).toEqual([]);
  });

  it("refuses an HTTPRoute without a host, naming the key", async () => {
    const platformStack = "acme/maas-billing/platform";
    await expect(
      renderConfig("tenant-k8s", { flavor: "kubernetes", platformStack, tenant: { name: "tenant-a", grafana: { expose: { enabled: true } } } }, { [platformStack]: fixture }),
    ).rejects.toThrow('maas-billing:tenant.grafana.expose.host: required when grafana.expose.enabled is true on flavor kubernetes (an HTTPRoute needs a host name). Example: "grafana.tenant-a.example.com"');
  });
});

describe("API keys and Kuadrant policies", () => {
  it("one Secret per key, labelled and annotated for Kuadrant, value generated", () => {
    const r = renders["tenant-a"];
    const secret = findObject(r, "Secret", "tenant-a-apikey-alice").object as any;
    expect(secret.metadata.labels).toMatchObject({ "authorino.kuadrant.io/managed-by": "authorino", app: "maas-tenant-a-api-key" });
    expect(secret.metadata.annotations).toMatchObject({ "kuadrant.io/user-id": "alice", "kuadrant.io/groups": "premium" });
    expect(secret.metadata.namespace).toBe("tenant-a-models");
    expect(r.secretValues).toContain(secret.stringData.api_key);
  });

  it("keys and the Grafana password are exported only as secret outputs", () => {
    const r = renders["tenant-a"];
    expect(r.secretOutputs).toEqual(["apiKeys", "grafanaAdminPassword"]);
    const keys = r.outputs.apiKeys as Record<string, string>;
    expect(Object.keys(keys).sort()).toEqual(["alice", "batch-jobs", "bob"]);
    expect(keys.alice).toBe((findObject(r, "Secret", "tenant-a-apikey-alice").object as any).stringData.api_key);
  });

  it("the AuthPolicy selects the tenant's keys and accepts only keys from the tenant's own namespace", () => {
    const spec = (findObject(renders["tenant-a"], "AuthPolicy", "tenant-a-granite-3-8b-auth").object as any).spec;
    expect(spec.targetRef).toEqual({ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "granite-3-8b" });
    expect(spec.rules.authentication["api-key"].apiKey.selector.matchLabels.app).toBe("maas-tenant-a-api-key");
    expect(spec.rules.authorization["own-namespace-keys-only"].patternMatching.patterns).toEqual([
      { selector: "auth.identity.metadata.namespace", operator: "eq", value: "tenant-a-models" },
    ]);
    expect(Object.keys(spec.rules.response.success.filters.identity.json.properties).sort()).toEqual(["groups", "keyId", "keyName", "subscription", "tenant", "tier", "userid"]);
  });

  it("token and request limits per tier, counted per user", () => {
    const r = renders["tenant-b"];
    const trlp = (findObject(r, "TokenRateLimitPolicy", "tenant-b-mistral-7b-tokens").object as any).spec;
    expect(trlp.limits.basic).toEqual({
      rates: [{ limit: 2000, window: "1m" }, { limit: 100000, window: "24h" }],
      when: [{ predicate: 'auth.identity.tier == "basic"' }],
      counters: [{ expression: "auth.identity.userid" }],
    });
    const rlp = (findObject(r, "RateLimitPolicy", "tenant-b-mistral-7b-requests").object as any).spec;
    // A tier without request rates gets no request limit.
    expect(Object.keys(rlp.limits)).toEqual(["basic"]);
  });

  it("refuses a route outside the tenant's namespaces", async () => {
    const platformStack = "acme/maas-billing/platform";
    await expect(
      renderConfig("x", { flavor: "openshift", platformStack, tenant: { name: "tenant-a", routes: [{ name: "r", namespace: "tenant-b-models" }] } }, { [platformStack]: fixture }),
    ).rejects.toThrow('maas-billing:tenant.routes[0].namespace: "tenant-b-models" is not one of the tenant\'s namespaces (tenant-a-models, tenant-a-monitoring)');
  });
});

describe("the all-in-one dev stack", () => {
  it("renders both tenants next to the platform, exporting their keys only as one secret output", async () => {
    const r = await renderExample("dev");
    expect(r.resources.filter((x) => x.type === "maas:tenant:TenantStack").map((x) => x.name).sort()).toEqual(["tenant-tenant-a", "tenant-tenant-b"]);
    expect(r.secretOutputs).toContain("tenantSecrets");
    expect(r.secretOutputs).not.toContain("tenants");
    expect(checkSecurityInvariants(r)).toEqual([]);
  });
});
