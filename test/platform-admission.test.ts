/**
 * Issue #14 holes 4 and 7 in the config and the render: a tenant may own no system or platform
 * namespace (its namespaces get the tenant-admin Role), tenant route domains may not cover the billing
 * host or another tenant's domains, and the platform renders a ValidatingAdmissionPolicy (+ Deny
 * binding) that refuses tenant HTTPRoutes whose hostnames are outside the tenant's domains, reading the
 * domains from an annotation on the tenant's namespaces. The policy's CEL runs against a real
 * kube-apiserver in `npm run e2e` (scripts/e2e/route-admission.ts).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { parseStackConfig } from "../components/config";
import { routeDomainsAnnotation, routeHostnamePolicySpec } from "../components/platform/routeAdmission";
import type { RenderResult } from "../scripts/render";
import { errorsOf } from "./support/configErrors";
import { findObject, renderConfig, testImage, UNDIGESTED_DEFAULTS_OPT_IN } from "./support/stacks";

const platform = (tenants: unknown[], extra: Record<string, unknown> = {}) => ({ flavor: "kubernetes", allowImageTags: UNDIGESTED_DEFAULTS_OPT_IN, platform: { billing: { image: testImage, host: "billing.example.com", gateway: { gatewayClassName: "istio" } }, tenants, ...extra } });

describe("tenant namespaces: deny-list", () => {
  it.each([
    ["kube-system", "a Kubernetes system namespace"],
    ["default", "a Kubernetes system namespace"],
    ["openshift-monitoring", "an OpenShift system namespace"],
    ["maas-billing", "the billing namespace"],
    ["maas-monitoring", "the platform monitoring namespace"],
    ["openshift-ingress", "the Gateway's namespace"],
    ["kuadrant-system", "Limitador's namespace"],
  ])("refuses %s (%s)", (ns, why) => {
    const issues = errorsOf(platform([{ name: "tenant-a", namespaces: ["tenant-a-models", ns] }]));
    expect(issues.join("\n")).toContain(`"${ns}" is ${why}`);
    expect(issues.join("\n")).toContain("maas-billing:platform.tenants[0].namespaces");
  });

  it("accepts the tenant's own namespaces", () => {
    expect(() => parseStackConfig(platform([{ name: "tenant-a", namespaces: ["tenant-a-models", "tenant-a-monitoring"] }]))).not.toThrow();
  });
});

describe("tenant route domains", () => {
  it("may not cover the billing host or another tenant's domains", () => {
    const issues = errorsOf(
      platform([
        { name: "tenant-a", domains: ["example.com"] },
        { name: "tenant-b", domains: ["b.example.com"] },
      ]),
    ).join("\n");
    expect(issues).toContain('"example.com" covers the billing host "billing.example.com"');
    expect(issues).toContain('"example.com" covers "b.example.com" of tenant "tenant-b"');
  });
});

describe("route admission policy (render)", () => {
  let r: RenderResult;
  beforeAll(async () => {
    r = await renderConfig("unit-route-admission", {
      flavor: "kubernetes",
      platform: {
        billing: { image: testImage, host: "billing.example.com", gateway: { gatewayClassName: "istio" } },
        tenants: [
          { name: "tenant-a", domains: ["a.example.com", "models-a.example.org"] },
          { name: "tenant-b", domains: ["b.example.com"] },
        ],
      },
    });
  }, 120_000);

  it("binds a Deny policy for HTTPRoutes created or updated in tenant namespaces", () => {
    const policy = findObject(r, "ValidatingAdmissionPolicy", "maas-tenant-route-hostnames").object as any;
    expect(policy.apiVersion).toBe("admissionregistration.k8s.io/v1");
    expect(policy.spec).toEqual(routeHostnamePolicySpec({ name: "maas-default-gateway", namespace: "openshift-ingress" }));
    expect(policy.spec.failurePolicy).toBe("Fail");
    expect(policy.spec.matchConstraints.resourceRules[0]).toMatchObject({ apiGroups: ["gateway.networking.k8s.io"], operations: ["CREATE", "UPDATE"], resources: expect.arrayContaining(["httproutes"]) });
    expect(policy.spec.matchConstraints.namespaceSelector).toEqual({ matchExpressions: [{ key: "maas.opendatahub.io/tenant", operator: "Exists" }] });
    const binding = findObject(r, "ValidatingAdmissionPolicyBinding", "maas-tenant-route-hostnames").object as any;
    expect(binding.spec).toEqual({ policyName: "maas-tenant-route-hostnames", validationActions: ["Deny"] });
  });

  it("writes each tenant's domains on its namespaces (which only the platform can edit)", () => {
    for (const [ns, domains] of [
      ["tenant-a-models", "a.example.com,models-a.example.org"],
      ["tenant-a-monitoring", "a.example.com,models-a.example.org"],
      ["tenant-b-models", "b.example.com"],
    ]) {
      const namespace = findObject(r, "Namespace", ns).object as any;
      expect(namespace.metadata.annotations[routeDomainsAnnotation]).toBe(domains);
      expect(namespace.metadata.labels["maas.opendatahub.io/tenant"]).toBe(ns.startsWith("tenant-a") ? "tenant-a" : "tenant-b");
    }
  });

  it("the CEL compares every hostname with the domains by equality or a dot-separated suffix", () => {
    const validations = (routeHostnamePolicySpec({ name: "maas-default-gateway", namespace: "openshift-ingress" }) as any).validations as Array<{ expression: string }>;
    expect(validations.map((v) => v.expression).slice(0, 2)).toEqual([
      "size(variables.hostnames) > 0",
      "variables.hostnames.all(h, variables.domains.exists(d, h == d || h.endsWith('.' + d)))",
    ]);
    // The third, parentRefs on the shared Gateway only: test/platform-nonmodel-gateways.test.ts.
    expect(validations[2].expression).toContain("p.name == 'maas-default-gateway'");
  });
});
