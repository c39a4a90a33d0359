/*
 * The tenant-admin Role documented in docs/tenants.md (components/tenant/rbac.ts) covers every object a
 * tenant stack declares, with the verbs Pulumi uses, and grants nothing cluster-scoped or wildcard.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as YAML from "yaml";
import { tenantAdminRoleRules, MANAGE_VERBS } from "../components/tenant/rbac";
import { readStackConfigFile, render, type RenderResult } from "../scripts/render";
import { crdsDir } from "./support/conformance";
import { renderConfig, repoRoot, platformOutputsFixture } from "./support/stacks";

type Rule = { apiGroups?: string[]; resources?: string[]; verbs: string[] };
const fixture = platformOutputsFixture();

/** Plural resource names: built-in kinds of a tenant render, and every CRD's `names.plural`. */
function pluralOf(): Map<string, string> {
  const plurals = new Map<string, string>([
    ["v1/ConfigMap", "configmaps"], ["v1/Secret", "secrets"], ["v1/Service", "services"], ["v1/ServiceAccount", "serviceaccounts"],
    ["apps/v1/Deployment", "deployments"], ["apps/v1/StatefulSet", "statefulsets"], ["networking.k8s.io/v1/NetworkPolicy", "networkpolicies"],
  ]);
  for (const file of fs.readdirSync(crdsDir()).filter((f) => f.endsWith(".yaml"))) {
    const crd = YAML.parse(fs.readFileSync(path.join(crdsDir(), file), "utf8"));
    for (const v of crd.spec.versions) plurals.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, crd.spec.names.plural);
  }
  return plurals;
}

/** What each object of a render requires: `group|resource` with the verbs Pulumi uses. */
function requiredAccess(r: RenderResult): { group: string; resource: string }[] {
  const plurals = pluralOf();
  const need = new Map<string, { group: string; resource: string }>();
  for (const { object: o } of r.objects) {
    const resource = plurals.get(`${o.apiVersion}/${o.kind}`);
    if (!resource) throw new Error(`no plural known for ${o.apiVersion}/${o.kind}`);
    const group = o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : "";
    need.set(`${group}|${resource}`, { group, resource });
    // A Route with spec.host also needs create on routes/custom-host.
    if (o.kind === "Route" && (o.spec as { host?: string }).host) need.set(`${group}|routes/custom-host`, { group, resource: "routes/custom-host" });
  }
  return [...need.values()];
}

/** Needs the rules do not grant with every verb Pulumi uses. */
function uncovered(rules: Rule[], needs: { group: string; resource: string }[]): string[] {
  return needs
    .filter(({ group, resource }) => !MANAGE_VERBS.every((verb) => rules.some((r) => r.apiGroups?.includes(group) && r.resources?.includes(resource) && r.verbs.includes(verb))))
    .map(({ group, resource }) => `${group || "core"}/${resource}`);
}

let openshift: RenderResult;
let kubernetes: RenderResult;
beforeAll(async () => {
  const { config, secretKeys } = readStackConfigFile(path.join(repoRoot, "Pulumi.tenant-a.yaml"));
  openshift = await render({ stack: "tenant-a", config, secretKeys, stackReferenceOutputs: { [config["maas-billing:platformStack"] as string]: fixture } });
  const platformStack = "acme/maas-billing/platform";
  kubernetes = await renderConfig(
    "tenant-a-k8s",
    { flavor: "kubernetes", platformStack, tenant: { ...(config["maas-billing:tenant"] as object), grafana: { expose: { enabled: true, host: "grafana.a.example.com" } } } },
    { [platformStack]: fixture },
  );
});

describe("the tenant-admin Role", () => {
  it("covers every object of the openshift tenant render", () => {
    const needs = requiredAccess(openshift);
    expect(needs.map((n) => n.resource)).toContain("routes/custom-host");
    expect(uncovered(tenantAdminRoleRules("openshift") as Rule[], needs)).toEqual([]);
  });

  it("covers every object of the kubernetes tenant render", () => {
    const needs = requiredAccess(kubernetes);
    expect(needs.map((n) => n.resource)).toContain("httproutes");
    expect(uncovered(tenantAdminRoleRules("kubernetes") as Rule[], needs)).toEqual([]);
  });

  it("the check can fail: a Role without the Kuadrant policies does not cover the render", () => {
    const rules = (tenantAdminRoleRules("openshift") as Rule[]).filter((r) => !r.apiGroups?.includes("kuadrant.io"));
    expect(uncovered(rules, requiredAccess(openshift))).toEqual(["kuadrant.io/authpolicies", "kuadrant.io/ratelimitpolicies", "kuadrant.io/tokenratelimitpolicies"]);
  });

  it.each(["openshift", "kubernetes"] as const)("%s: no wildcard, nothing cluster-scoped, no RBAC or namespace rights", (flavor) => {
    const rules = tenantAdminRoleRules(flavor) as Rule[];
    const all = rules.flatMap((r) => [...(r.apiGroups ?? []), ...(r.resources ?? []), ...r.verbs]);
    expect(all).not.toContain("*");
    const resources = rules.flatMap((r) => r.resources ?? []);
    for (const forbidden of ["namespaces", "clusterroles", "clusterrolebindings", "roles", "rolebindings", "customresourcedefinitions", "nodes", "persistentvolumes"]) {
      expect(resources).not.toContain(forbidden);
    }
    // Escalation verbs never appear.
    expect(rules.flatMap((r) => r.verbs).filter((v) => ["escalate", "bind", "impersonate"].includes(v))).toEqual([]);
  });
});

describe("docs/tenants.md", () => {
  it("shows exactly the Role rules the code defines, for both flavors", () => {
    const doc = fs.readFileSync(path.join(repoRoot, "docs/tenants.md"), "utf8");
    const roles = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => YAML.parse(m[1])).filter((y) => y?.kind === "Role");
    expect(roles).toHaveLength(2);
    expect(roles[0].rules).toEqual(tenantAdminRoleRules("openshift"));
    expect(roles[1].rules).toEqual(tenantAdminRoleRules("kubernetes"));
  });
});
