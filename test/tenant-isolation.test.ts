/*
 * Tenant isolation over the render (issue #4): two tenants rendered side by side share no object
 * names or secrets; every scrape of a tenant Prometheus goes through the platform's label-enforcing
 * proxies for that tenant; a tenant render holds no cluster-scoped object and nothing outside the
 * tenant's namespaces. Each check is also run on a deliberately broken render and must fail there.
 */
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as YAML from "yaml";
import { readStackConfigFile, render, type RenderResult } from "../scripts/render";
import { findObject, ofKind, renderConfig, renderExample, repoRoot, platformOutputsFixture } from "./support/stacks";
import { checkNothingShared, checkScrapePaths, checkTenantScope, prometheusConfigs, type IsolationViolation } from "./support/tenantIsolation";

type Federation = Record<string, { url: string; gatewayUrl: string; billingUrl: string }>;
// This platform always exports billingUrl (readers treat it as optional for older platforms).
const fixture = platformOutputsFixture() as ReturnType<typeof platformOutputsFixture> & { federation: Federation };
const proxies = (tenant: string) => [fixture.federation[tenant].url, fixture.federation[tenant].gatewayUrl, fixture.federation[tenant].billingUrl];
const rules = (v: IsolationViolation[]) => [...new Set(v.map((x) => x.rule))];

async function renderTenant(stack: string): Promise<RenderResult> {
  const { config, secretKeys } = readStackConfigFile(path.join(repoRoot, `Pulumi.${stack}.yaml`));
  return render({ stack, config, secretKeys, stackReferenceOutputs: { [config["maas-billing:platformStack"] as string]: fixture } });
}

let a: RenderResult;
let b: RenderResult;
beforeAll(async () => {
  a = await renderTenant("tenant-a");
  b = await renderTenant("tenant-b");
});

describe("two tenants side by side share nothing", () => {
  it("holds for the example tenants", () => {
    expect(checkNothingShared(a, b)).toEqual([]);
    expect(checkNothingShared(b, a)).toEqual([]);
  });

  it("fails when tenant-b reuses a name of tenant-a", () => {
    const broken = structuredClone(b);
    findObject(broken, "Secret", "tenant-b-apikey-carol").object.metadata.name = "tenant-a-apikey-alice";
    const v = checkNothingShared(a, broken);
    expect(rules(v)).toEqual(["shared-name"]);
    expect(v[0].message).toContain('"tenant-a-apikey-alice"');
  });

  it("fails when tenant-b holds tenant-a's key", () => {
    const broken = structuredClone(b);
    const alice = (findObject(a, "Secret", "tenant-a-apikey-alice").object as any).stringData.api_key;
    (findObject(broken, "Secret", "tenant-b-apikey-carol").object as any).stringData.api_key = alice;
    expect(checkNothingShared(a, broken)).toEqual([
      { rule: "shared-secret", where: "Secret/tenant-a-models/tenant-a-apikey-alice", message: "Secret payload also held by Secret/tenant-b-models/tenant-b-apikey-carol" },
    ]);
  });

  it("fails when both tenants would get the same generated secret", () => {
    const broken = structuredClone(b);
    broken.secretValues = [...broken.secretValues, a.secretValues[0]];
    expect(rules(checkNothingShared(a, broken))).toEqual(["shared-secret"]);
  });
});

describe("every scrape goes through the tenant's enforced proxies", () => {
  it("holds for the example tenants, each against its own proxies", () => {
    expect(checkScrapePaths(a, proxies("tenant-a"))).toEqual([]);
    expect(checkScrapePaths(b, proxies("tenant-b"))).toEqual([]);
    // And the proxies are really scraped (not only the Prometheus itself).
    const jobs = prometheusConfigs(a)[0].config.scrape_configs!.map((j) => j.job_name);
    expect(jobs).toEqual(["federate-models", "federate-gateway", "federate-billing", "prometheus"]);
  });

  it("fails when a tenant scrapes another tenant's proxy", () => {
    const v = checkScrapePaths(a, proxies("tenant-b"));
    expect(v.map((x) => x.message)).toEqual([
      "http://maas-fed-tenant-a-models.maas-monitoring.svc:8080/federate is not one of the tenant's enforced endpoints",
      "http://maas-fed-tenant-a-gateway.maas-monitoring.svc:8080/federate is not one of the tenant's enforced endpoints",
      "http://maas-fed-tenant-a-billing.maas-monitoring.svc:8080/federate is not one of the tenant's enforced endpoints",
    ]);
  });

  it("fails when a tenant's billing job points at another tenant's billing proxy", () => {
    const broken = editConfig((c) => {
      const job = c.scrape_configs.find((j: { job_name: string }) => j.job_name === "federate-billing");
      job.static_configs = [{ targets: ["maas-fed-tenant-b-billing.maas-monitoring.svc:8080"] }];
    });
    expect(checkScrapePaths(broken, proxies("tenant-a")).map((x) => x.message)).toEqual([
      "http://maas-fed-tenant-b-billing.maas-monitoring.svc:8080/federate is not one of the tenant's enforced endpoints",
    ]);
  });

  /** tenant-a's render with its prometheus.yml edited by `edit`. */
  const editConfig = (edit: (config: any) => void): RenderResult => {
    const broken = structuredClone(a);
    const cm = findObject(broken, "ConfigMap", "tenant-a-prometheus-config").object as any;
    const config = YAML.parse(cm.data["prometheus.yml"]);
    edit(config);
    cm.data["prometheus.yml"] = YAML.stringify(config);
    return broken;
  };

  it.each([
    [
      "a job on the central federation endpoint",
      (c: any) => c.scrape_configs.push({ job_name: "sneaky", metrics_path: "/federate", scheme: "https", static_configs: [{ targets: ["prometheus-user-workload.openshift-user-workload-monitoring.svc:9092"] }] }),
      "https://prometheus-user-workload.openshift-user-workload-monitoring.svc:9092/federate is not one of the tenant's enforced endpoints",
    ],
    [
      "a different path on the proxy host",
      (c: any) => (c.scrape_configs[0].metrics_path = "/api/v1/query"),
      "http://maas-fed-tenant-a-models.maas-monitoring.svc:8080/api/v1/query is not one of the tenant's enforced endpoints",
    ],
    [
      "service discovery",
      (c: any) => c.scrape_configs.push({ job_name: "pods", kubernetes_sd_configs: [{ role: "pod" }] }),
      "kubernetes_sd_configs is not allowed: only static targets on the tenant's proxies",
    ],
    ["a credential of its own", (c: any) => (c.scrape_configs[0].authorization = { credentials_file: "/token" }), "authorization is not allowed: only static targets on the tenant's proxies"],
    ["remote read", (c: any) => (c.remote_read = [{ url: "http://thanos-querier.openshift-monitoring.svc:9091/api/v1/read" }]), "remote_read bypasses the proxies"],
  ])("fails on %s", (_name, edit, message) => {
    const v = checkScrapePaths(editConfig(edit), proxies("tenant-a"));
    expect(v.map((x) => x.message)).toEqual([message]);
    expect(v[0].rule).toBe("scrape-path");
  });

  it("flags direct mode: it scrapes the central endpoint, so it is not isolated (opt-in only)", async () => {
    const platformStack = "acme/maas-billing/platform-openshift";
    const direct = await renderConfig(
      "tenant-a-direct",
      {
        flavor: "openshift",
        platformStack,
        tenant: { name: "tenant-a", prometheus: { mode: "direct", directUrl: "https://prometheus-user-workload.openshift-user-workload-monitoring.svc:9092" } },
      },
      { [platformStack]: fixture },
    );
    expect(rules(checkScrapePaths(direct, proxies("tenant-a")))).toEqual(["scrape-path"]);
    // Direct mode needs the pod token (the platform must bind cluster-monitoring-view to it).
    expect((findObject(direct, "StatefulSet", "tenant-a-prometheus").object as any).spec.template.spec.automountServiceAccountToken).toBe(true);
  });

  it("the proxies those URLs name are the platform's, enforcing exactly the tenant's namespaces", async () => {
    const platform = await renderExample("platform-openshift");
    for (const tenant of ["tenant-a", "tenant-b"]) {
      for (const [url, label, allowed] of [
        [fixture.federation[tenant].url, "namespace", fixture.tenantNamespaces[tenant]],
        [fixture.federation[tenant].gatewayUrl, "route_namespace", fixture.tenantNamespaces[tenant]],
        // Billing-service series carry the tenant by name; the price gauges too (one series per tenant).
        [fixture.federation[tenant].billingUrl, "tenant", [tenant]],
      ] as const) {
        const [serviceName, namespace] = new URL(url).hostname.split(".");
        const service = findObject(platform, "Service", serviceName).object as any;
        expect(service.metadata.namespace).toBe(namespace);
        const deployment = ofKind(platform, "Deployment").find((d) => {
          const labels = (d.object as any).spec.template.metadata.labels as Record<string, string>;
          return d.object.metadata.namespace === namespace && Object.entries(service.spec.selector as Record<string, string>).every(([k, v]) => labels[k] === v);
        });
        const args = (deployment!.object as any).spec.template.spec.containers[0].args as string[];
        expect(args).toContain(`--label=${label}`);
        // prom-label-proxy's static values (`--label-value`, formerly `--value`): the tenant cannot choose them.
        const values = args.map((x) => /^--(?:label-)?value=(.*)$/.exec(x)?.[1]).filter((v) => v !== undefined);
        expect(values.sort()).toEqual([...allowed].sort());
        // Only the tenant's own namespaces may connect to any of its proxies.
        const policy = findObject(platform, "NetworkPolicy", serviceName).object as any;
        expect(policy.spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values).toEqual(fixture.tenantNamespaces[tenant]);
      }
    }
  });
});

describe("a tenant render holds no cluster-scoped object and stays in its namespaces", () => {
  it("holds for the example tenants", () => {
    expect(checkTenantScope(a, fixture.tenantNamespaces["tenant-a"])).toEqual([]);
    expect(checkTenantScope(b, fixture.tenantNamespaces["tenant-b"])).toEqual([]);
  });

  it("fails on the platform's render, which is cluster-scoped by design", async () => {
    const platform = await renderExample("platform-openshift");
    const v = checkTenantScope(platform, fixture.tenantNamespaces["tenant-a"]);
    expect(v.filter((x) => x.rule === "cluster-scoped").map((x) => x.where.split("/")[0])).toEqual(expect.arrayContaining(["ClusterRoleBinding", "Namespace"]));
  });

  it.each([
    ["a ClusterRoleBinding", { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: "tenant-a-monitoring-view" } }, "cluster-scoped"],
    ["a Namespace", { apiVersion: "v1", kind: "Namespace", metadata: { name: "tenant-a-extra" } }, "cluster-scoped"],
    ["a kind of unknown scope", { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w", namespace: "tenant-a-models" } }, "cluster-scoped"],
    ["an object in another tenant's namespace", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: "tenant-b-models" } }, "foreign-namespace"],
  ])("fails on %s", (_name, object, rule) => {
    const broken = structuredClone(a);
    broken.objects.push({ object: object as any, patch: false, source: { type: "test", name: "broken" }, protect: false });
    const v = checkTenantScope(broken, fixture.tenantNamespaces["tenant-a"]);
    expect(v).toHaveLength(1);
    expect(v[0].rule).toBe(rule);
  });
});
