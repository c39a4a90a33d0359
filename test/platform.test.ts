import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { parseTokenFile, StaticTokenAuthenticator } from "../billing-service/src/auth/static";
import { beforeAll, describe, expect, it } from "vitest";
import { PLATFORM_PROMETHEUS_DS_UID, platformDashboards, platformPrometheusRules } from "../dashboards";
import { tenantAdminRoleRules } from "../components/tenant/rbac";
import { parseStackConfig } from "../components/config";
import type { RenderResult } from "../scripts/render";
import { exampleStacks, findObject, ofKind, renderConfig, renderedCollectorSettings, renderExample, testImage } from "./support/stacks";

/** A Limitador override pinned by digest (a test value: the digest names no real image). */
const LIMITADOR_IMAGE = `quay.io/kuadrant/limitador@sha256:${"5b".repeat(32)}`;

// The real program (index.ts) runs under Pulumi's mock runtime (scripts/render sets the mocks before
// the program is imported); each render records every resource it registers.
const platform = {
  billing: { image: testImage },
  limitador: { image: LIMITADOR_IMAGE, verbosity: 3 },
  monitoring: { retention: "10d", retentionSize: "30GB", storageSize: "40Gi", clusterMonitoringConfig: { prometheusK8s: { retention: "24h" } } },
  tenants: [
    { name: "tenant-a", adminGroup: "tenant-a-admins" },
    { name: "tenant-b", namespaces: ["b-models"] },
  ],
};

let openshift: RenderResult;
let kubernetes: RenderResult;
beforeAll(async () => {
  openshift = await renderConfig("unit-openshift", { flavor: "openshift", platform });
  kubernetes = await renderConfig("unit-kubernetes", { flavor: "kubernetes", platform });
});

describe("OpenShift monitoring", () => {
  it("enables user-workload monitoring by patching cluster-monitoring-config, keeping its other settings", () => {
    const patch = findObject(openshift, "ConfigMap", "cluster-monitoring-config", true).object;
    expect(patch.metadata.namespace).toBe("openshift-monitoring");
    expect(YAML.parse((patch.data as Record<string, string>)["config.yaml"])).toEqual({ enableUserWorkload: true, prometheusK8s: { retention: "24h" } });
    // Never a create of the operator's ConfigMaps.
    const created = ofKind(openshift, "ConfigMap").filter((o) => !o.patch).map((o) => o.object.metadata.namespace);
    expect(created.filter((ns) => ns?.startsWith("openshift-"))).toEqual([]);
  });

  it("sets retention and storage of the UWM Prometheus in user-workload-monitoring-config", () => {
    const patch = findObject(openshift, "ConfigMap", "user-workload-monitoring-config", true).object;
    expect(patch.metadata.namespace).toBe("openshift-user-workload-monitoring");
    const cfg = YAML.parse((patch.data as Record<string, string>)["config.yaml"]);
    expect(cfg.prometheus).toMatchObject({ retention: "10d", retentionSize: "30GB", volumeClaimTemplate: { spec: { resources: { requests: { storage: "40Gi" } } } } });
    // The platform PrometheusRule reads series of every namespace: its namespace is exempt from enforcement.
    expect(cfg.namespacesWithoutLabelEnforcement).toEqual(["maas-monitoring"]);
  });

  it("has no prometheus-operator Prometheus of its own", () => {
    expect(ofKind(openshift, "Prometheus")).toEqual([]);
  });
});

describe("Kubernetes monitoring", () => {
  it("runs a platform Prometheus with retention from config and RBAC to discover targets", () => {
    const prom = findObject(kubernetes, "Prometheus", "maas-prometheus").object;
    expect(prom.spec).toMatchObject({ retention: "10d", retentionSize: "30GB", serviceAccountName: "maas-prometheus", serviceMonitorSelector: {} });
    expect(findObject(kubernetes, "ClusterRoleBinding", "maas-prometheus").object.subjects).toEqual([
      { kind: "ServiceAccount", name: "maas-prometheus", namespace: "maas-monitoring" },
    ]);
  });

  it("touches no OpenShift object", () => {
    expect(kubernetes.objects.filter((o) => o.patch && o.object.kind === "ConfigMap")).toEqual([]);
    expect(ofKind(kubernetes, "Route")).toEqual([]);
  });
});

describe("billing namespace and database", () => {
  it("labels the billing namespace Pod Security restricted", () => {
    expect(findObject(openshift, "Namespace", "maas-billing").object.metadata.labels).toMatchObject({
      "pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/audit": "restricted",
      "pod-security.kubernetes.io/warn": "restricted",
    });
  });

  it("keeps the billing and tenant namespaces when the stack is destroyed (they hold data)", () => {
    expect(findObject(openshift, "Namespace", "maas-billing").retainOnDelete).toBe(true);
    expect(findObject(openshift, "Namespace", "tenant-a-models").retainOnDelete).toBe(true);
    // The monitoring namespace holds only replaceable proxies.
    expect(findObject(openshift, "Namespace", "maas-monitoring").retainOnDelete).toBe(false);
  });

  it("protects the database StatefulSet and gives it a volume claim", () => {
    const sts = findObject(openshift, "StatefulSet", "maas-billing-db");
    expect(sts.protect).toBe(true);
    const spec = sts.object.spec as { volumeClaimTemplates: { spec: { resources: { requests: { storage: string } } } }[] };
    expect(spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe("20Gi");
  });

  it("generates the password with RandomPassword into the Secret, never RandomString", () => {
    const passwords = openshift.resources.filter((r) => r.type === "random:index/randomPassword:RandomPassword");
    expect(passwords.map((r) => r.name)).toEqual([
      "platform-billing-token-admin",
      "platform-billing-token-gateway",
      "platform-billing-token-tenant-tenant-a",
      "platform-billing-token-tenant-tenant-b",
      "platform-database-app-password",
      "platform-database-password",
      "platform-grafana-admin-password",
    ]);
    expect(openshift.resources.filter((r) => r.type === "random:index/randomString:RandomString")).toEqual([]);
    const secret = findObject(openshift, "Secret", "maas-billing-db").object.stringData as Record<string, string>;
    expect(openshift.secretValues).toContain(secret.password);
    expect(secret.url).toBe(`postgres://billing:${secret.password}@maas-billing-db.maas-billing.svc:5432/maas_billing`);
    // Its own password, not Grafana's.
    expect(secret.password).not.toBe((findObject(openshift, "Secret", "maas-grafana-admin").object.stringData as Record<string, string>)["admin-password"]);
  });

  it("gives the service an app role of its own: the owner's credentials reach only the migrate init container (threat model B4)", () => {
    const owner = findObject(openshift, "Secret", "maas-billing-db").object.stringData as Record<string, string>;
    const app = findObject(openshift, "Secret", "maas-billing-db-app").object.stringData as Record<string, string>;
    expect(openshift.secretValues).toContain(app.password);
    expect(app.password).not.toBe(owner.password);
    expect(app).toMatchObject({ username: "billing_app", database: "maas_billing" });
    expect(app.url).toBe(`postgres://billing_app:${app.password}@maas-billing-db.maas-billing.svc:5432/maas_billing`);
    const pod = (findObject(openshift, "Deployment", "maas-billing-api").object as any).spec.template.spec;
    const secretsRead = (c: { env: Array<{ valueFrom?: { secretKeyRef?: { name: string } } }> }) => [...new Set(c.env.map((e) => e.valueFrom?.secretKeyRef?.name).filter(Boolean))];
    expect(pod.containers.map(secretsRead)).toEqual([["maas-billing-db-app"]]);
    expect(pod.initContainers).toHaveLength(1);
    expect(pod.initContainers[0]).toMatchObject({ name: "migrate", image: testImage, args: ["migrate"] });
    expect(pod.initContainers[0].env).toEqual([
      { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: "maas-billing-db", key: "url" } } },
      { name: "MAAS_BILLING_APP_DB_ROLE", valueFrom: { secretKeyRef: { name: "maas-billing-db-app", key: "username" } } },
      { name: "MAAS_BILLING_APP_DB_PASSWORD", valueFrom: { secretKeyRef: { name: "maas-billing-db-app", key: "password" } } },
    ]);
    const secretInputs = (resourceName: string) => openshift.resources.find((r) => r.name === resourceName)?.secretInputPaths;
    expect(secretInputs("platform-database-app-secret")).toEqual(["stringData"]);
  });

  it("reads the password only through secretKeyRef", () => {
    const sts = findObject(openshift, "StatefulSet", "maas-billing-db").object as any;
    const env = sts.spec.template.spec.containers[0].env;
    expect(env.find((e: { name: string }) => e.name === "POSTGRES_PASSWORD")).toEqual({
      name: "POSTGRES_PASSWORD",
      valueFrom: { secretKeyRef: { name: "maas-billing-db", key: "password" } },
    });
  });

  it("admits only the billing service to the database", () => {
    const np = findObject(openshift, "NetworkPolicy", "maas-billing-db").object as any;
    const api = findObject(openshift, "Deployment", "maas-billing-api").object as any;
    expect(np.spec.ingress).toEqual([{ from: [{ podSelector: { matchLabels: api.spec.selector.matchLabels } }], ports: [{ protocol: "TCP", port: 5432 }] }]);
    expect(np.spec.podSelector.matchLabels).toEqual((findObject(openshift, "StatefulSet", "maas-billing-db").object as any).spec.selector.matchLabels);
  });

  it("sets a UID on kubernetes and leaves it to the SCC on openshift", () => {
    const ctx = (r: RenderResult) => (findObject(r, "StatefulSet", "maas-billing-db").object as any).spec.template.spec.securityContext;
    expect(ctx(kubernetes)).toMatchObject({ runAsUser: 70, fsGroup: 70, runAsNonRoot: true });
    expect(ctx(openshift).runAsUser).toBeUndefined();
  });
});

describe("billing service", () => {
  it("runs the configured image by digest with the database URL from the Secret", () => {
    const c = (findObject(openshift, "Deployment", "maas-billing-api").object as any).spec.template.spec.containers[0];
    expect(c.image).toBe(testImage);
    expect(c.env).toContainEqual({ name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: "maas-billing-db-app", key: "url" } } });
    expect(c.env).toContainEqual({ name: "MAAS_BILLING_PROMETHEUS_URL", value: "https://thanos-querier.openshift-monitoring.svc:9091" });
    expect(c.env).toContainEqual({ name: "MAAS_BILLING_PROMETHEUS_TOKEN_FILE", value: "/var/run/secrets/kubernetes.io/serviceaccount/token" });
  });

  it("hands the collector the tenant registry and the vLLM family through a mounted settings file", () => {
    // Read with the service's own parsers (billing-service/src/contract), collector.yaml and the tenant
    // registry shards it names, through the pod's volume: what the collector will see.
    expect(renderedCollectorSettings(openshift)).toMatchObject({
      vllmFamily: "kserve_vllm",
      gatewayCounterSuffix: "",
      attributeLabels: [],
      strictTenants: true,
      // No access-log pipeline (platform.accessLogs): the gateway counters are billed.
      billableSource: "gateway",
      tenants: [
        { name: "tenant-a", namespaces: ["tenant-a-models", "tenant-a-monitoring"] },
        { name: "tenant-b", namespaces: ["b-models"] },
      ],
    });
    const pod = (findObject(openshift, "Deployment", "maas-billing-api").object as any).spec.template.spec;
    expect(pod.containers[0].env).toContainEqual({ name: "MAAS_BILLING_COLLECTOR_CONFIG", value: "/etc/maas-billing/collector.yaml" });
    const volume = pod.volumes.find((v: { name: string }) => v.name === "collector-config");
    expect(volume.projected.sources).toHaveLength(17);
    expect(volume.projected.sources[0]).toEqual({ configMap: { name: "maas-billing-api-collector", items: [{ key: "collector.yaml", path: "collector.yaml" }] } });
  });

  it("reads the kubernetes platform Prometheus over plain in-cluster HTTP, without a token", () => {
    const env = (findObject(kubernetes, "Deployment", "maas-billing-api").object as any).spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: "MAAS_BILLING_PROMETHEUS_URL", value: "http://prometheus-operated.maas-monitoring.svc:9090" });
    expect(env.map((e: { name: string }) => e.name)).not.toContain("MAAS_BILLING_PROMETHEUS_TOKEN_FILE");
  });

  it("may create TokenReviews and SubjectAccessReviews, nothing else cluster-wide", () => {
    expect(findObject(openshift, "ClusterRole", "maas-billing-api").object.rules).toEqual([
      { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
      { apiGroups: ["authorization.k8s.io"], resources: ["subjectaccessreviews"], verbs: ["create"] },
    ]);
    expect((findObject(openshift, "ClusterRoleBinding", "maas-billing-api-monitoring-view").object as any).roleRef.name).toBe("cluster-monitoring-view");
    expect(ofKind(kubernetes, "ClusterRoleBinding").map((o) => o.object.metadata.name).sort()).toEqual(["maas-billing-api", "maas-prometheus"]);
  });

  it("exposes the tenant billing portal on OpenShift with its own /portal/ Route on the API's host", async () => {
    // A configured host: both Routes carry it (same origin).
    const example = await renderExample("platform-openshift");
    const api = findObject(example, "Route", "maas-billing-api").object as any;
    const portal = findObject(example, "Route", "maas-billing-api-portal").object as any;
    expect(api.spec.host).toBe("billing.apps.example.com");
    expect(portal.spec).toMatchObject({ host: api.spec.host, path: "/portal/", to: api.spec.to, port: api.spec.port, tls: { termination: "edge", insecureEdgeTerminationPolicy: "Redirect" } });
    expect(example.outputs.billingPortalUrl).toBe("https://billing.apps.example.com/portal/");
    // No host: the portal Route takes the one OpenShift generates for the API Route (read back after
    // creation, unknown under mocks), never one of its own.
    const generated = findObject(openshift, "Route", "maas-billing-api-portal").object as any;
    expect(generated.spec.path).toBe("/portal/");
    expect(generated.spec.host).toBeUndefined();
  });

  it("is scraped by a ServiceMonitor and exposed by a Route (openshift), in-cluster only on kubernetes without a host", () => {
    // The scrape-only metrics port (test/platform-network.test.ts checks no client exposure carries it).
    expect((findObject(openshift, "ServiceMonitor", "maas-billing-api").object as any).spec.endpoints).toEqual([{ port: "metrics", path: "/metrics", interval: "30s" }]);
    expect((findObject(openshift, "Route", "maas-billing-api").object as any).spec.to).toEqual({ kind: "Service", name: "maas-billing-api", weight: 100 });
    expect(ofKind(openshift, "HTTPRoute")).toEqual([]);
    // kubernetes without platform.billing.host: not on the shared Gateway, whose platform AuthPolicy
    // refuses requests without an API key (review R12); with a host, its own Gateway
    // (test/platform-billing-listener.test.ts, test/platform-nonmodel-gateways.test.ts).
    expect(ofKind(kubernetes, "HTTPRoute").map((o) => o.object.metadata.name)).not.toContain("maas-billing-api");
    // The tenant billing portal is exposed where the API is (same origin).
    const paths = [findObject(openshift, "Route", "maas-billing-api"), findObject(openshift, "Route", "maas-billing-api-portal")].map((o) => (o.object as any).spec.path);
    expect(paths).toEqual(["/v1/", "/portal/"]);
  });
});

describe("platform alerts and recording rules", () => {
  it.each([
    ["openshift", () => openshift],
    ["kubernetes", () => kubernetes],
  ])("%s: one PrometheusRule in the monitoring namespace with the rules of dashboards/rules.ts", (_flavor, result) => {
    const rule = findObject(result(), "PrometheusRule", "maas-billing-platform").object as any;
    expect(rule.apiVersion).toBe("monitoring.coreos.com/v1");
    expect(rule.metadata.namespace).toBe("maas-monitoring");
    expect(rule.spec).toEqual(platformPrometheusRules({ vllmFamily: "kserve_vllm", tierLabel: "tier" }));
    const alerts = rule.spec.groups.flatMap((g: any) => g.rules.map((r: any) => r.alert)).filter(Boolean);
    expect(alerts).toEqual(expect.arrayContaining(["MaasQuotaExhausted", "MaasBillingCollectorLagging", "MaasLimitadorCounterReset"]));
  });

  it("follows the configured vLLM family and tier label", async () => {
    const r = await renderConfig("unit-rules", {
      flavor: "kubernetes",
      platform: { billing: { image: testImage }, vllmMetricFamily: "vllm", telemetry: { tierLabel: "subscription" } },
    });
    const exprs = (findObject(r, "PrometheusRule", "maas-billing-platform").object as any).spec.groups.flatMap((g: any) => g.rules.map((x: any) => x.expr)).join("\n");
    expect(exprs).toContain("rate(vllm:prompt_tokens_total[5m])");
    expect(exprs).toContain("sum by (route_namespace, subscription) (rate(authorized_hits[5m]))");
    expect(exprs).not.toContain("kserve_vllm:");
  });

  it("passes the real promtool check rules as rendered", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-rules-"));
    try {
      const file = path.join(dir, "rules.yaml");
      fs.writeFileSync(file, YAML.stringify((findObject(openshift, "PrometheusRule", "maas-billing-platform").object as any).spec));
      const out = execFileSync("promtool", ["check", "rules", file], { encoding: "utf8" });
      expect(out).toMatch(/SUCCESS: \d+ rules found/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is picked up by the kubernetes platform Prometheus (every rule in every namespace)", () => {
    expect(findObject(kubernetes, "Prometheus", "maas-prometheus").object.spec).toMatchObject({ ruleSelector: {}, ruleNamespaceSelector: {} });
  });
});

describe("billing API credentials", () => {
  const stringData = (r: RenderResult, kind: string, name: string, namespace?: string) => {
    const found = ofKind(r, kind).filter((o) => o.object.metadata.name === name && (namespace === undefined || o.object.metadata.namespace === namespace));
    expect(found, `${kind} ${namespace}/${name}`).toHaveLength(1);
    return (found[0].object as any).stringData as Record<string, string>;
  };
  /**
   * The tokens directory as a billing pod sees it: each source of the Deployment's projected
   * `tokens` volume, the Secret's key written to its path. Written to disk, it is read by the
   * service's own loader (StaticTokenAuthenticator.fromFile on the directory).
   */
  const mountedTokens = (r: RenderResult): Record<string, string> => {
    const pod = (findObject(r, "Deployment", "maas-billing-api").object as any).spec.template.spec;
    const volume = pod.volumes.find((v: any) => v.name === "tokens");
    const files: Record<string, string> = {};
    for (const { secret } of volume.projected.sources) {
      for (const item of secret.items) files[item.path] = stringData(r, "Secret", secret.name, "maas-billing")[item.key];
    }
    return files;
  };
  const tokenEntries = (r: RenderResult) =>
    Object.entries(mountedTokens(r))
      .flatMap(([f, text]) => parseTokenFile(text, f))
      .sort((a, b) => a.name.localeCompare(b.name));
  const tokensAuth = (r: RenderResult): StaticTokenAuthenticator => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maas-tokens-"));
    try {
      for (const [f, text] of Object.entries(mountedTokens(r))) fs.writeFileSync(path.join(dir, f), text);
      return StaticTokenAuthenticator.fromFile(dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };

  it("gives each tenant a generated token in its monitoring namespace, and the platform admin one in the billing namespace", () => {
    const a = stringData(openshift, "Secret", "maas-billing-token", "tenant-a-monitoring").token;
    // tenant-b registered only b-models: its token goes there.
    const b = stringData(openshift, "Secret", "maas-billing-token", "b-models").token;
    const admin = stringData(openshift, "Secret", "maas-billing-admin-token", "maas-billing").token;
    for (const t of [a, b, admin]) expect(openshift.secretValues).toContain(t);
    expect(new Set([a, b, admin]).size).toBe(3);
  });

  it("mounts tokens files holding only SHA-256 hashes, which the billing service's own loader accepts with the right scopes", async () => {
    const files = mountedTokens(openshift);
    // The platform's tokens, and the tenants' split over 16 shard Secrets (no Secret lists every tenant).
    expect(Object.keys(files).sort()).toEqual(["tokens.yaml", ...Array.from({ length: 16 }, (_, i) => `tenants-${String(i).padStart(2, "0")}.yaml`)].sort());
    for (const text of Object.values(files)) for (const secret of openshift.secretValues) expect(text).not.toContain(secret);
    expect(parseTokenFile(files["tokens.yaml"], "tokens.yaml").map((e) => e.name)).toEqual(["platform-admin", "platform-gateway"]);
    const a = stringData(openshift, "Secret", "maas-billing-token", "tenant-a-monitoring").token;
    const b = stringData(openshift, "Secret", "maas-billing-token", "b-models").token;
    const admin = stringData(openshift, "Secret", "maas-billing-admin-token", "maas-billing").token;
    const gateway = stringData(openshift, "Secret", "maas-billing-gateway-token", "kuadrant-system").token;
    expect(tokenEntries(openshift)).toEqual([
      { name: "platform-admin", admin: true, sha256: createHash("sha256").update(admin).digest("hex") },
      { name: "platform-gateway", quotaGateway: true, sha256: createHash("sha256").update(gateway).digest("hex") },
      { name: "tenant-tenant-a", tenant: "tenant-a", sha256: createHash("sha256").update(a).digest("hex") },
      { name: "tenant-tenant-b", tenant: "tenant-b", sha256: createHash("sha256").update(b).digest("hex") },
    ]);
    const auth = tokensAuth(openshift);
    const tenantA = await auth.authenticate(a);
    expect([await tenantA?.may("usage.read", "tenant-a"), await tenantA?.may("usage.read", "tenant-b"), await tenantA?.may("quotas.update", "tenant-a")]).toEqual([true, false, false]);
    expect(await (await auth.authenticate(admin))?.may("quotas.update", "tenant-a")).toBe(true);
    // The gateway's token: the quota check of any tenant, nothing else, and only that route.
    const gw = await auth.authenticate(gateway);
    expect([await gw?.may("quotas.update", "tenant-b"), await gw?.may("quotas.check", "tenant-b"), await gw?.may("usage.read", "tenant-b"), gw?.onlyRoutes]).toEqual([false, true, false, ["POST /v1/quota/authorize"]]);
    expect(await auth.authenticate("not-a-token")).toBeUndefined();

    // The hashes are no credential, but the file is declared a Pulumi secret all the same, as are the tokens.
    const secretInputs = (resourceName: string) => openshift.resources.find((r) => r.name === resourceName)?.secretInputPaths;
    expect(secretInputs("platform-billing-tokens")).toEqual(["stringData"]);
    expect(secretInputs("platform-billing-tokens-tenants-00")).toEqual(["stringData"]);
    expect(secretInputs("platform-billing-token-tenant-a-secret")).toEqual(["stringData"]);
    expect(secretInputs("platform-billing-admin-token")).toEqual(["stringData"]);
    expect(secretInputs("platform-gateway-billing-token")).toEqual(["stringData"]);
    // Not blind: a plain ConfigMap has no secret input.
    expect(secretInputs("platform-billing-collector-config")).toEqual([]);

    const pod = (findObject(openshift, "Deployment", "maas-billing-api").object as any).spec.template.spec;
    expect(pod.containers[0].env).toContainEqual({ name: "MAAS_BILLING_TOKENS_FILE", value: "/etc/maas-billing-tokens" });
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: "tokens", mountPath: "/etc/maas-billing-tokens", readOnly: true });
    const volume = pod.volumes.find((v: any) => v.name === "tokens");
    expect(volume.projected.defaultMode).toBe(0o440);
    expect(volume.projected.sources[0]).toEqual({ secret: { name: "maas-billing-api-tokens", items: [{ key: "tokens.yaml", path: "tokens.yaml" }] } });
  });

  it("rotates one tenant's token by its counter: new token, new hash, pods roll, the others unchanged", async () => {
    const rotated = await renderConfig("unit-openshift", {
      flavor: "openshift",
      platform: { ...platform, tenants: [{ ...platform.tenants[0], billingTokenRotation: 1 }, platform.tenants[1]] },
    });
    const token = (r: RenderResult, ns: string) => stringData(r, "Secret", "maas-billing-token", ns).token;
    expect(token(rotated, "tenant-a-monitoring")).not.toBe(token(openshift, "tenant-a-monitoring"));
    expect(token(rotated, "b-models")).toBe(token(openshift, "b-models"));
    const entries = (r: RenderResult) => tokenEntries(r);
    expect(entries(rotated).map((e) => e.sha256 === entries(openshift).find((x) => x.name === e.name)?.sha256)).toEqual([true, true, false, true]);
    const annotation = (r: RenderResult) => (findObject(r, "Deployment", "maas-billing-api").object as any).spec.template.metadata.annotations["maas.opendatahub.io/billing-tokens"];
    expect(annotation(rotated)).not.toBe(annotation(openshift));
  });

  it("gives each event sender a token bound to its sources: in the tokens file the service parses, nobody else may write them", async () => {
    const withSender = await renderConfig("unit-openshift", {
      flavor: "openshift",
      platform: { ...platform, billing: { ...platform.billing, senders: [{ name: "gateway", sources: ["//gateway/maas"], namespace: "openshift-ingress" }] } },
    });
    const sender = stringData(withSender, "Secret", "maas-billing-sender-gateway", "openshift-ingress").token;
    expect(withSender.secretValues).toContain(sender);
    for (const text of Object.values(mountedTokens(withSender))) expect(text).not.toContain(sender);
    expect(tokenEntries(withSender)).toContainEqual({ name: "sender-gateway", sources: ["//gateway/maas"], sha256: createHash("sha256").update(sender).digest("hex") });
    const auth = tokensAuth(withSender);
    expect([...auth.boundSources()]).toEqual(["//gateway/maas"]);
    const s = await auth.authenticate(sender);
    expect([s?.maySend?.("tenant-a", "//gateway/maas"), s?.maySend?.("tenant-a", "//other"), await s?.may("usage.read", "tenant-a"), await s?.may("invoices.update", "*")]).toEqual([true, false, false, false]);
    const tenantA = await auth.authenticate(stringData(withSender, "Secret", "maas-billing-token", "tenant-a-monitoring").token);
    expect(tenantA?.maySend?.("tenant-a", "//gateway/maas")).toBeUndefined();
    // Changing a sender's sources rolls the pods like a rotation.
    const annotation = (r: RenderResult) => (findObject(r, "Deployment", "maas-billing-api").object as any).spec.template.metadata.annotations["maas.opendatahub.io/billing-tokens"];
    expect(annotation(withSender)).not.toBe(annotation(openshift));
  });

  it("refuses one source bound to two senders", async () => {
    await expect(
      renderConfig("unit-bad-senders", {
        flavor: "kubernetes",
        platform: { billing: { image: testImage, senders: [{ name: "a", sources: ["//gateway/maas"] }, { name: "b", sources: ["//gateway/maas"] }] } },
      }),
    ).rejects.toThrow('maas-billing:platform.billing.senders[1].sources[0]: source "//gateway/maas" is already bound to sender "a": one source, one sender');
  });

  it("refuses a monitoringNamespace that is not one of the tenant's namespaces", async () => {
    await expect(
      renderConfig("unit-bad-ns", { flavor: "kubernetes", platform: { billing: { image: testImage }, tenants: [{ name: "t", monitoringNamespace: "elsewhere" }] } }),
    ).rejects.toThrow('maas-billing:platform.tenants[0].monitoringNamespace: "elsewhere" is not one of the tenant\'s namespaces (t-models, t-monitoring)');
  });
});

describe("platform Grafana with the billing dashboard", () => {
  const grafanaPod = (r: RenderResult) => (findObject(r, "Deployment", "maas-grafana").object as any).spec.template.spec;
  const grafanaPodAnnotations = (r: RenderResult) => (findObject(r, "Deployment", "maas-grafana").object as any).spec.template.metadata.annotations as Record<string, string>;
  const datasources = (r: RenderResult) => YAML.parse((findObject(r, "ConfigMap", "maas-grafana-provisioning").object.data as Record<string, string>)["datasources.yaml"]);

  it("provisions the billing dashboard over all tenants, on the datasource uid it expects", () => {
    for (const r of [openshift, kubernetes]) {
      const files = findObject(r, "ConfigMap", "maas-grafana-dashboards").object.data as Record<string, string>;
      expect(Object.keys(files)).toEqual(["billing.json"]);
      const dashboard = JSON.parse(files["billing.json"]);
      expect(dashboard).toEqual(platformDashboards({ datasourceUid: PLATFORM_PROMETHEUS_DS_UID })["billing.json"]);
      expect(datasources(r).datasources.map((d: { uid: string }) => d.uid)).toEqual([PLATFORM_PROMETHEUS_DS_UID]);
      const provider = YAML.parse((findObject(r, "ConfigMap", "maas-grafana-provisioning").object.data as Record<string, string>)["dashboards.yaml"]);
      expect(provider.providers[0]).toMatchObject({ type: "file", folder: "MaaS platform", options: { path: "/etc/grafana/dashboards" } });
      expect(findObject(r, "Deployment", "maas-grafana").object.metadata.namespace).toBe("maas-monitoring");
    }
  });

  it("has a generated admin password in a Secret and anonymous access off", () => {
    const secret = findObject(openshift, "Secret", "maas-grafana-admin").object.stringData as Record<string, string>;
    expect(openshift.secretValues).toContain(secret["admin-password"]);
    const env = grafanaPod(openshift).containers[0].env;
    expect(env).toContainEqual({ name: "GF_SECURITY_ADMIN_PASSWORD", valueFrom: { secretKeyRef: { name: "maas-grafana-admin", key: "admin-password" } } });
    expect(env).toContainEqual({ name: "GF_AUTH_ANONYMOUS_ENABLED", value: "false" });
  });

  it("on openshift, reads Thanos through the upstream-auth sidecar with a projected, expiring token; Grafana holds no credential", () => {
    const pod = grafanaPod(openshift);
    expect(pod.serviceAccountName).toBe("maas-grafana");
    expect(pod.automountServiceAccountToken).toBe(false);
    // The token: projected, expiring, for the API server's audience (what Thanos' kube-rbac-proxy reviews).
    const tokenVolume = pod.volumes.find((v: any) => v.name === "upstream-token");
    expect(tokenVolume.projected.sources).toEqual([
      { serviceAccountToken: { path: "token", expirationSeconds: 3600 } },
      { configMap: { name: "openshift-service-ca.crt", items: [{ key: "service-ca.crt", path: "service-ca.crt" }] } },
    ]);
    // Mounted by the sidecar only; Grafana gets neither the token nor an env var carrying one.
    const [grafana, sidecar] = pod.containers;
    expect(pod.containers.map((c: any) => c.name)).toEqual(["grafana", "upstream-auth"]);
    expect(grafana.volumeMounts.map((m: any) => m.name)).not.toContain("upstream-token");
    expect(JSON.stringify(grafana.env)).not.toMatch(/TOKEN|service-account/i);
    expect(sidecar.volumeMounts).toContainEqual({ name: "upstream-token", mountPath: "/var/run/secrets/maas-upstream", readOnly: true });
    expect(sidecar.image).toBe("docker.io/nginxinc/nginx-unprivileged@sha256:c97ff0bf7cbae369953c6da1232ec14ad9f971d66360c5698db0856a4cd657a0");
    expect(sidecar.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    // The sidecar's config forwards only the read API to Thanos, verified with the service CA, with the token file read per request.
    const files = findObject(openshift, "ConfigMap", "maas-grafana-upstream-auth").object.data as Record<string, string>;
    expect(files["nginx.conf"]).toContain("location /api/v1/ {\n      proxy_pass https://thanos-querier.openshift-monitoring.svc:9091;");
    expect(files["nginx.conf"]).toContain("proxy_ssl_trusted_certificate /var/run/secrets/maas-upstream/service-ca.crt;");
    expect(files["upstream-token.js"]).toContain("fs.readFileSync('/var/run/secrets/maas-upstream/token')");
    expect(pod.containers[0].volumeMounts.length).toBeGreaterThan(0);
    expect(grafanaPodAnnotations(openshift)["maas.opendatahub.io/upstream-auth-config"]).toMatch(/^[0-9a-f]{16,}$/);
    expect((findObject(openshift, "ClusterRoleBinding", "maas-grafana-monitoring-view").object as any).roleRef.name).toBe("cluster-monitoring-view");
    // The datasource points at the sidecar on loopback and carries no credential.
    expect(datasources(openshift).datasources[0].url).toBe("http://127.0.0.1:8081");
    expect(datasources(openshift).datasources[0].secureJsonData).toBeUndefined();
  });

  it("no stack renders a never-expiring service account token Secret", async () => {
    for (const r of [openshift, kubernetes, ...(await Promise.all(exampleStacks().map((s) => renderExample(s))))]) {
      expect(r.objects.filter((o) => o.object.kind === "Secret" && (o.object as any).type === "kubernetes.io/service-account-token")).toEqual([]);
    }
  }, 300_000);

  it("on kubernetes, reads the platform Prometheus over in-cluster HTTP with no token", () => {
    const pod = grafanaPod(kubernetes);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBeUndefined();
    expect(datasources(kubernetes).datasources[0].url).toBe("http://prometheus-operated.maas-monitoring.svc:9090");
    expect(datasources(kubernetes).datasources[0].secureJsonData).toBeUndefined();
    expect(kubernetes.objects.filter((o) => o.object.metadata.name?.startsWith("maas-grafana-token"))).toEqual([]);
  });

  it("can be turned off, and an HTTPRoute needs a host", async () => {
    const off = await renderConfig("unit-no-grafana", { flavor: "kubernetes", platform: { billing: { image: testImage }, grafana: { enabled: false } } });
    expect(off.objects.filter((o) => o.object.metadata.name?.startsWith("maas-grafana"))).toEqual([]);
    await expect(
      renderConfig("unit-grafana-host", { flavor: "kubernetes", platform: { billing: { image: testImage }, grafana: { expose: { enabled: true } } } }),
    ).rejects.toThrow("maas-billing:platform.grafana.expose.host: required when grafana.expose.enabled is true on flavor kubernetes");
  });
});

describe("Limitador and telemetry", () => {
  it("patches only spec.image and spec.verbosity of the existing Limitador CR", () => {
    const patch = findObject(openshift, "Limitador", "limitador", true).object;
    expect(patch.metadata).toEqual({ name: "limitador", namespace: "kuadrant-system" });
    expect(patch.spec).toEqual({ image: LIMITADOR_IMAGE, verbosity: 3 });
    expect(JSON.stringify(patch)).not.toContain("metricLabelsDefault");
    expect(ofKind(openshift, "Limitador").filter((o) => !o.patch)).toEqual([]);
  });

  it("declares no Limitador patch without an image override", async () => {
    const plain = await renderConfig("unit-no-limitador", { flavor: "openshift", platform: { billing: { image: testImage } } });
    expect(ofKind(plain, "Limitador")).toEqual([]);
  });

  it("copies the route namespace into route_namespace on Limitador series", () => {
    const sm = findObject(openshift, "ServiceMonitor", "maas-limitador").object as any;
    expect(sm.metadata.namespace).toBe("kuadrant-system");
    expect(sm.spec.endpoints[0].metricRelabelings).toEqual([
      { action: "replace", sourceLabels: ["limitador_namespace"], regex: "([^/]+)/.*", targetLabel: "route_namespace", replacement: "$1" },
    ]);
  });

  it("labels gateway metrics with user, tier and model through a TelemetryPolicy on the Gateway", () => {
    const tp = findObject(openshift, "TelemetryPolicy", "maas-usage-labels").object as any;
    expect(tp.metadata.namespace).toBe("openshift-ingress");
    expect(tp.spec.targetRef).toEqual({ group: "gateway.networking.k8s.io", kind: "Gateway", name: "maas-default-gateway" });
    expect(Object.keys(tp.spec.metrics.default.labels).sort()).toEqual(["model", "tier", "user"]);
  });
});

describe("tenants", () => {
  it("creates each tenant's namespaces with the tenant label", () => {
    const ns = ofKind(openshift, "Namespace").filter((o) => o.object.metadata.labels?.["maas.opendatahub.io/tenant"]);
    expect(ns.map((o) => o.object.metadata.name).sort()).toEqual(["b-models", "tenant-a-models", "tenant-a-monitoring"]);
  });

  it("binds the tenant admin group only inside the tenant's namespaces", () => {
    const all = ofKind(openshift, "RoleBinding");
    const bindings = all.filter((o) => (o.object as any).roleRef.name === "maas-tenant-admin");
    expect(new Set(bindings.map((o) => o.object.metadata.namespace))).toEqual(new Set(["tenant-a-models", "tenant-a-monitoring"]));
    for (const b of bindings) expect((b.object as any).subjects).toEqual([{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "tenant-a-admins" }]);
    // Every other RoleBinding is the platform's own monitoring access (gateway metrics in cluster monitoring), to no group.
    expect(all.filter((o) => !bindings.includes(o)).map((o) => `${o.object.metadata.namespace}/${o.object.metadata.name}`).sort()).toEqual([
      "kuadrant-system/maas-prometheus-k8s-discovery",
      "openshift-monitoring/maas-federation-metrics-api",
    ]);
    // tenant-b has no adminGroup: no Role, no RoleBinding.
    expect(ofKind(openshift, "Role").filter((o) => o.object.metadata.name === "maas-tenant-admin").map((o) => o.object.metadata.namespace).sort()).toEqual(["tenant-a-models", "tenant-a-monitoring"]);
  });

  it.each([
    ["openshift", () => openshift],
    ["kubernetes", () => kubernetes],
  ] as const)("%s: grants exactly the documented tenant-admin Role, and no built-in ClusterRole", (flavor, result) => {
    for (const ns of ["tenant-a-models", "tenant-a-monitoring"]) {
      const roles = ofKind(result(), "Role").filter((o) => o.object.metadata.namespace === ns);
      expect(roles.map((o) => o.object.metadata.name)).toEqual(["maas-tenant-admin"]);
      expect((roles[0].object as any).rules).toEqual(tenantAdminRoleRules(flavor));
      const bindings = ofKind(result(), "RoleBinding").filter((o) => o.object.metadata.namespace === ns);
      expect(bindings.map((o) => (o.object as any).roleRef)).toEqual([{ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "maas-tenant-admin" }]);
    }
    // No RoleBinding anywhere refers to a ClusterRole (the built-in `admin` included).
    expect(ofKind(result(), "RoleBinding").filter((o) => (o.object as any).roleRef.kind === "ClusterRole")).toEqual([]);
  });

  it("runs a third proxy per tenant enforcing tenant=<name> on the billing series, reachable only from that tenant's namespaces", () => {
    for (const result of [openshift, kubernetes]) {
      const dep = findObject(result, "Deployment", "maas-fed-tenant-b-billing").object as any;
      const args = dep.spec.template.spec.containers[0].args as string[];
      expect(args.filter((a) => a.startsWith("--label"))).toEqual(["--label=tenant", "--label-value=tenant-b"]);
      expect(findObject(result, "Service", "maas-fed-tenant-b-billing").object.metadata.namespace).toBe("maas-monitoring");
      const np = findObject(result, "NetworkPolicy", "maas-fed-tenant-b-billing").object as any;
      expect(np.spec.ingress[0].from).toEqual([{ namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: ["b-models"] }] } }]);
    }
    expect(ofKind(openshift, "Deployment").filter((d) => d.object.metadata.name?.startsWith("maas-fed-")).length).toBe(6);
  });

  it("runs two label-enforcing proxies per tenant, reachable only from that tenant's namespaces", () => {
    /** prom-label-proxy's arguments, written out: listen address, upstream, the enforced label and its values. */
    const proxyArgs = (listen: string, upstream: string, label: string, values: string[]) => [
      `--insecure-listen-address=${listen}`,
      `--upstream=${upstream}`,
      `--label=${label}`,
      ...values.map((v) => `--label-value=${v}`),
    ];
    const dep = findObject(openshift, "Deployment", "maas-fed-tenant-a-models").object as any;
    // On OpenShift the upstream is the pod-local upstream-auth sidecar.
    expect(dep.spec.template.spec.containers[0].args).toEqual(proxyArgs("0.0.0.0:8080", "http://127.0.0.1:8081", "namespace", ["tenant-a-models", "tenant-a-monitoring"]));
    const gw = findObject(kubernetes, "Deployment", "maas-fed-tenant-b-gateway").object as any;
    // Through the pod's namespace guard, which enforces namespace=<Limitador's namespace> (#14).
    expect(gw.spec.template.spec.containers[0].args).toEqual(proxyArgs("0.0.0.0:8080", "http://127.0.0.1:8082", "route_namespace", ["b-models"]));
    expect(gw.spec.template.spec.containers[1].args).toEqual(
      proxyArgs("127.0.0.1:8082", "http://prometheus-operated.maas-monitoring.svc:9090", "namespace", ["kuadrant-system"]),
    );
    const np = findObject(openshift, "NetworkPolicy", "maas-fed-tenant-b-models").object as any;
    expect(np.spec.ingress[0].from).toEqual([{ namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: ["b-models"] }] } }]);
  });

  it("on openshift, authenticates upstream with the proxy pod's own token, never the tenant's", () => {
    const pod = (findObject(openshift, "Deployment", "maas-fed-tenant-b-gateway").object as any).spec.template.spec;
    expect(pod.serviceAccountName).toBe("maas-federation");
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(pod.containers.map((c: { name: string }) => c.name)).toEqual(["prom-label-proxy", "namespace-guard", "upstream-auth"]);
    // The gateway role reads the platform Prometheus (MaaS default, see "gateway metrics placement") on its own sidecar port.
    expect(pod.containers[1].args[1]).toBe("--upstream=http://127.0.0.1:8083");
    const models = (findObject(openshift, "Deployment", "maas-fed-tenant-b-models").object as any).spec.template.spec;
    expect(models.containers[0].args[1]).toBe("--upstream=http://127.0.0.1:8081");
    expect(pod.containers[2].command).toEqual(["nginx", "-c", "/etc/maas-federation/nginx.conf", "-e", "/dev/stderr", "-g", "daemon off;"]);
    const conf = (findObject(openshift, "ConfigMap", "maas-federation-upstream-auth").object.data as Record<string, string>)["nginx.conf"];
    expect(conf).toContain("listen 127.0.0.1:8081;");
    expect(conf).toContain("proxy_pass https://prometheus-user-workload.openshift-user-workload-monitoring.svc:9092;");
    expect(conf).toContain("listen 127.0.0.1:8083;");
    expect(conf).toContain("proxy_pass https://prometheus-k8s.openshift-monitoring.svc:9091;");
    expect(conf).toContain("proxy_set_header Authorization $upstream_authorization;");
    expect(conf).toContain("proxy_ssl_trusted_certificate /var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt;");
    expect((findObject(openshift, "ClusterRoleBinding", "maas-federation-monitoring-view").object as any).subjects).toEqual([
      { kind: "ServiceAccount", name: "maas-federation", namespace: "maas-monitoring" },
    ]);
  });

  it("on kubernetes, proxies mount no token and run no sidecar", () => {
    const pod = (findObject(kubernetes, "Deployment", "maas-fed-tenant-a-models").object as any).spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.containers.map((c: { name: string }) => c.name)).toEqual(["prom-label-proxy"]);
    expect(ofKind(kubernetes, "ConfigMap").map((o) => o.object.metadata.name)).not.toContain("maas-federation-upstream-auth");
    expect(ofKind(openshift, "ConfigMap").map((o) => o.object.metadata.name)).toContain("maas-federation-upstream-auth");
  });

  it("honours an explicit upstreamAuth", async () => {
    const r = await renderConfig("unit-k8s-auth", {
      flavor: "kubernetes",
      platform: { billing: { image: testImage }, tenants: [{ name: "t" }], federation: { upstreamAuth: "serviceAccountToken" } },
    });
    const pod = (findObject(r, "Deployment", "maas-fed-t-models").object as any).spec.template.spec;
    expect(pod.containers.map((c: { name: string }) => c.name)).toEqual(["prom-label-proxy", "upstream-auth"]);
    // Plain http upstream: no TLS directives.
    expect((findObject(r, "ConfigMap", "maas-federation-upstream-auth").object.data as Record<string, string>)["nginx.conf"]).not.toContain("proxy_ssl");
  });

  it("exports the platform outputs of docs/contract.md", () => {
    expect(openshift.outputs).toEqual({
      // No price book and no allowedTiers: no tenant is pinned.
      tenantAllowedTiers: {},
      // Limitador's counters as Limitador names them (telemetry.counterSuffix default).
      gatewayCounterSuffix: "",
      billingNamespace: "maas-billing",
      billingApiUrl: "http://maas-billing-api.maas-billing.svc:8080",
      federation: {
        "tenant-a": {
          url: "http://maas-fed-tenant-a-models.maas-monitoring.svc:8080",
          gatewayUrl: "http://maas-fed-tenant-a-gateway.maas-monitoring.svc:8080",
          billingUrl: "http://maas-fed-tenant-a-billing.maas-monitoring.svc:8080",
        },
        "tenant-b": {
          url: "http://maas-fed-tenant-b-models.maas-monitoring.svc:8080",
          gatewayUrl: "http://maas-fed-tenant-b-gateway.maas-monitoring.svc:8080",
          billingUrl: "http://maas-fed-tenant-b-billing.maas-monitoring.svc:8080",
        },
      },
      gateway: { name: "maas-default-gateway", namespace: "openshift-ingress" },
      vllmMetricFamily: "kserve_vllm",
      tenantNamespaces: { "tenant-a": ["tenant-a-models", "tenant-a-monitoring"], "tenant-b": ["b-models"] },
      tierLabel: "tier",
    });
  });
});

describe("gateway metrics placement (platform.gatewayMetrics, #15)", () => {
  const gatewayGuard = (r: RenderResult, tenant: string) => (findObject(r, "Deployment", `maas-fed-${tenant}-gateway`).object as any).spec.template.spec.containers[1].args as string[];
  const confOf = (r: RenderResult) => (findObject(r, "ConfigMap", "maas-federation-upstream-auth").object.data as Record<string, string>)["nginx.conf"];
  const names = (r: RenderResult, kind: string) => ofKind(r, kind).map((o) => `${o.object.metadata.namespace}/${o.object.metadata.name}`);

  it("openshift default (as MaaS installs it): gateway series from the platform Prometheus, the rest from UWM, still namespace-guarded", () => {
    const guard = gatewayGuard(openshift, "tenant-a");
    expect(guard).toEqual(["--insecure-listen-address=127.0.0.1:8082", "--upstream=http://127.0.0.1:8083", "--label=namespace", "--label-value=kuadrant-system"]);
    const conf = confOf(openshift);
    // Two listeners, one per monitoring stack, each with the pod's token and verified TLS.
    expect(conf.match(/listen 127\.0\.0\.1:\d+;/g)).toEqual(["listen 127.0.0.1:8081;", "listen 127.0.0.1:8083;"]);
    expect(conf.match(/proxy_set_header Authorization \$upstream_authorization;/g)?.length).toBe(2);
    expect(conf.match(/proxy_ssl_verify on;/g)?.length).toBe(2);
    expect(conf).toContain("proxy_ssl_name prometheus-k8s.openshift-monitoring.svc;");
    // prometheus-k8s may discover Limitador's Service (read-only, in Limitador's namespace only).
    const role = findObject(openshift, "Role", "maas-prometheus-k8s-discovery").object as any;
    expect(role.metadata.namespace).toBe("kuadrant-system");
    expect(role.rules.flatMap((r: { verbs: string[] }) => r.verbs).every((v: string) => ["get", "list", "watch"].includes(v))).toBe(true);
    const discovery = findObject(openshift, "RoleBinding", "maas-prometheus-k8s-discovery").object as any;
    expect(discovery.subjects).toEqual([{ kind: "ServiceAccount", name: "prometheus-k8s", namespace: "openshift-monitoring" }]);
    const api = findObject(openshift, "RoleBinding", "maas-federation-metrics-api").object as any;
    expect(api.metadata.namespace).toBe("openshift-monitoring");
    expect(api.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "cluster-monitoring-metrics-api" });
    expect(api.subjects).toEqual([{ kind: "ServiceAccount", name: "maas-federation", namespace: "maas-monitoring" }]);
  });

  it("openshift userWorkload: one listener on UWM, no platform-Prometheus access rendered", async () => {
    const r = await renderConfig("unit-gwm-uwm", { flavor: "openshift", platform: { ...platform, gatewayMetrics: { source: "userWorkload" } } });
    expect(gatewayGuard(r, "tenant-a")[1]).toBe("--upstream=http://127.0.0.1:8081");
    expect(confOf(r).match(/listen 127\.0\.0\.1:\d+;/g)).toEqual(["listen 127.0.0.1:8081;"]);
    expect(confOf(r)).not.toContain("prometheus-k8s");
    expect(names(r, "Role").filter((n) => !n.endsWith("/maas-tenant-admin"))).toEqual([]);
    expect(names(r, "RoleBinding").filter((n) => !n.endsWith("/maas-tenant-admin"))).toEqual([]);
  });

  it("an explicit federateUrl is what the gateway proxies read, on either flavor", async () => {
    const o = await renderConfig("unit-gwm-url-os", {
      flavor: "openshift",
      platform: { ...platform, gatewayMetrics: { source: "clusterMonitoring", federateUrl: "https://federate.example.svc:9443" } },
    });
    expect(confOf(o)).toContain("proxy_pass https://federate.example.svc:9443;");
    expect(confOf(o)).not.toContain("prometheus-k8s");
    const k = await renderConfig("unit-gwm-url-k8s", { flavor: "kubernetes", platform: { ...platform, gatewayMetrics: { federateUrl: "http://limitador-prom.mon.svc:9090" } } });
    expect(gatewayGuard(k, "tenant-a")[1]).toBe("--upstream=http://limitador-prom.mon.svc:9090");
    // The other roles keep the central upstream.
    const models = (findObject(k, "Deployment", "maas-fed-tenant-a-models").object as any).spec.template.spec.containers[0].args as string[];
    expect(models[1]).toBe("--upstream=http://prometheus-operated.maas-monitoring.svc:9090");
  });

  it("kubernetes: one platform Prometheus, so no source setting and no extra access", () => {
    expect(gatewayGuard(kubernetes, "tenant-a")[1]).toBe("--upstream=http://prometheus-operated.maas-monitoring.svc:9090");
    expect(names(kubernetes, "RoleBinding").filter((n) => !n.endsWith("/maas-tenant-admin"))).toEqual([]);
    expect(() => parseStackConfig({ flavor: "kubernetes", platform: { ...platform, gatewayMetrics: { source: "userWorkload" } } })).toThrow(
      /maas-billing:platform\.gatewayMetrics\.source: only for flavor "openshift"/,
    );
    expect(() => parseStackConfig({ flavor: "openshift", platform: { ...platform, gatewayMetrics: { source: "uwm" } } })).toThrow(/platform\.gatewayMetrics\.source/);
  });
});

describe("webhook egress allow-list (platform.billing.webhookAllow, threat model Q7)", () => {
  it("renders MAAS_BILLING_WEBHOOK_ALLOW only when set, and refuses a bad entry naming the key", async () => {
    const env = (r: RenderResult) => ((findObject(r, "Deployment", "maas-billing-api").object as any).spec.template.spec.containers[0].env as { name: string; value?: string }[]);
    expect(env(kubernetes).find((e) => e.name === "MAAS_BILLING_WEBHOOK_ALLOW")).toBeUndefined();
    const r = await renderConfig("unit-webhook-allow", { flavor: "kubernetes", platform: { ...platform, billing: { image: testImage, webhookAllow: ["10.96.0.0/12", ".svc.cluster.local"] } } });
    expect(env(r).find((e) => e.name === "MAAS_BILLING_WEBHOOK_ALLOW")?.value).toBe("10.96.0.0/12,.svc.cluster.local");
    expect(() => parseStackConfig({ flavor: "kubernetes", platform: { ...platform, billing: { image: testImage, webhookAllow: ["10.0.0.0/99"] } } })).toThrow(
      /maas-billing:platform\.billing\.webhookAllow: "10\.0\.0\.0\/99" has a prefix longer than the address\. Example: 10\.96\.0\.0\/12/,
    );
  });
});

describe("every child is parented and named after the component", () => {
  it("names Kubernetes resources platform-<role>", () => {
    const names = openshift.resources.filter((r) => r.type.startsWith("kubernetes:")).map((r) => r.name);
    expect(names.length).toBeGreaterThan(20);
    for (const n of names) expect(n).toMatch(/^platform-/);
  });

  it("parents every resource to a maas:platform component, and the Platform to the stack", () => {
    // The program's one Kubernetes provider (components/provider.ts) belongs to the stack, not to a component.
    const ours = openshift.resources.filter((r) => r.type !== "pulumi:pulumi:Stack" && r.type !== "maas:platform:Platform" && r.type !== "pulumi:providers:kubernetes");
    expect(ours.length).toBeGreaterThan(20);
    for (const r of ours) expect(r.parent, `${r.type} ${r.name}`).toMatch(/::maas:platform:Platform(\$maas:platform:\w+)?::platform(-\w+)?$/);
    expect(openshift.resources.find((r) => r.type === "maas:platform:Platform")?.parent ?? "").not.toMatch(/maas:/);
  });
});

describe("a config error stops the program before any resource is declared", () => {
  it("throws ConfigError and registers nothing", async () => {
    await expect(renderConfig("unit-broken", { flavor: "aks", platform: { billing: { image: testImage } } })).rejects.toThrow(
      'maas-billing:flavor: expected one of "openshift" | "kubernetes", got "aks"',
    );
  });
});
