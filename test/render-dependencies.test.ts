/*
 * Dependencies between the resources of one stack holding the platform and its tenants (the dev
 * layout). A tenant's resources must wait for that tenant's namespaces and proxies, and for no other
 * tenant's: with every tenant's resources depending on every tenant's, n tenants recorded O(n^2)
 * dependencies (in the engine's state and in the registration requests), which made the 1,000-tenant
 * render 36x slower per tenant than the 100-tenant one (docs/scaling.md, "Render").
 */
import { beforeAll, describe, expect, it } from "vitest";
import { render, type RecordedResource, type RenderResult } from "../scripts/render";
import { platformWithTenants } from "../scripts/bench/render";

const TENANTS = ["bench-t000", "bench-t001", "bench-t002"];

/** The tenant a resource or URN belongs to, by the tenant name in its Pulumi name; undefined for the platform's shared parts. */
const tenantOf = (nameOrUrn: string): string | undefined => TENANTS.find((t) => new RegExp(`(^|[-:])${t}(-|$)`).test(nameOrUrn.split("::").pop()!));

/** `resource -> dependency` lines where a resource of one tenant depends on a resource of another. */
function crossTenantDependencies(resources: RecordedResource[]): string[] {
  return resources.flatMap((r) => {
    const own = tenantOf(r.name);
    if (own === undefined) return [];
    return (r.dependencies ?? []).filter((urn) => (tenantOf(urn) ?? own) !== own).map((urn) => `${r.name} -> ${urn.split("::").pop()}`);
  });
}

const dependencyNames = (result: RenderResult, name: string): string[] =>
  (result.resources.find((r) => r.name === name)?.dependencies ?? []).map((urn) => urn.split("::").pop()!);

let result: RenderResult;
beforeAll(async () => {
  result = await render({ stack: "deps", config: platformWithTenants(TENANTS.length) });
}, 120_000);

describe("dependencies in a stack with the platform and several tenants", () => {
  it("no tenant's resource depends on another tenant's", () => {
    expect(result.resources.filter((r) => tenantOf(r.name) !== undefined).length).toBeGreaterThan(TENANTS.length * 20);
    expect(crossTenantDependencies(result.resources)).toEqual([]);
  });

  it("a tenant's resources still wait for its own namespaces and proxies (creation order kept)", () => {
    const prometheus = dependencyNames(result, "tenant-bench-t001-prometheus");
    expect(prometheus).toEqual(
      expect.arrayContaining([
        "platform-tenant-bench-t001-bench-t001-models-namespace",
        "platform-tenant-bench-t001-bench-t001-monitoring-namespace",
        "platform-fed-bench-t001-models-service",
        "platform-fed-bench-t001-gateway-service",
        "platform-fed-bench-t001-billing-service",
      ]),
    );
    expect(dependencyNames(result, "platform-billing-token-bench-t001-secret")).toEqual(
      expect.arrayContaining(["platform-tenant-bench-t001-bench-t001-monitoring-namespace"]),
    );
  });

  // Review finding (session 5): the Deployment named its tokens Secrets by plain strings, so Pulumi
  // could roll the billing pods before the Secrets held a new token (the pods read them only at start).
  it("the billing Deployment waits for every tokens Secret it mounts", () => {
    const secrets = result.resources.filter((r) => r.type === "kubernetes:core/v1:Secret" && /^platform-billing-tokens(-tenants-\d+)?$/.test(r.name)).map((r) => r.name);
    expect(secrets).toContain("platform-billing-tokens");
    expect(secrets.filter((n) => n.includes("-tenants-")).length).toBeGreaterThan(1);
    expect(dependencyNames(result, "platform-billing-deployment")).toEqual(expect.arrayContaining(secrets));
  });

  it("dependencies per resource do not grow with the number of tenants", async () => {
    const six = await render({ stack: "deps-6", config: platformWithTenants(6) });
    const perTenantResource = (r: RenderResult) => {
      const tenantResources = r.resources.filter((x) => /bench-t\d{3}/.test(x.name));
      return tenantResources.reduce((sum, x) => sum + (x.dependencies?.length ?? 0), 0) / tenantResources.length;
    };
    expect(perTenantResource(six)).toBeCloseTo(perTenantResource(result), 5);
  }, 120_000);

  it("the check can fail: a tenant's StatefulSet depending on another tenant's namespace", () => {
    const planted: RecordedResource = {
      type: "kubernetes:apps/v1:StatefulSet",
      name: "tenant-bench-t000-prometheus",
      inputs: {},
      protect: false,
      custom: true,
      dependencies: ["urn:pulumi:deps::maas-billing::maas:platform:Platform$kubernetes:core/v1:Namespace::platform-tenant-bench-t002-bench-t002-models-namespace"],
    };
    expect(crossTenantDependencies([planted])).toEqual(["tenant-bench-t000-prometheus -> platform-tenant-bench-t002-bench-t002-models-namespace"]);
  });
});
