// Attack B3S: a tenant admin exposes its model servers outside every Gateway. The tenant-admin Role
// manages `services` (components/tenant/rbac.ts), so it can give its model pods a Service of type
// LoadBalancer (on a cluster that provisions them), NodePort (a port on every node) or with
// `externalIPs` (kube-proxy answers on them): callers reach the models with no API key, no quota,
// no tier rule and no gateway metering. Defence: the platform's ValidatingAdmissionPolicy
// `maas-tenant-service-exposure` admits, in tenant namespaces, ClusterIP Services without
// externalIPs only (ExternalName refused too: components/platform/serviceAdmission.ts says why).
// Here: the dev render's policy evaluated with cel-js on those Services of the tenant admin
// (refused) and on every Service the render puts in a tenant namespace (admitted); on a real
// kube-apiserver the e2e render stage makes the same requests as each tenant admin
// (scripts/e2e/service-admission.ts).
import { evaluate } from "@marcbachmann/cel-js";
import { beforeAll, describe, expect, it } from "vitest";
import { tenantNamespaceLabel } from "../components/platform/routeAdmission";
import { serviceAdmissionPolicyName } from "../components/platform/serviceAdmission";
import type { K8sObject, RenderResult } from "../scripts/render";
import { findObject, ofKind, renderExample } from "./support/stacks";

let rendered: RenderResult;
beforeAll(async () => {
  rendered = await renderExample("dev");
}, 300_000);

const policySpec = () => findObject(rendered, "ValidatingAdmissionPolicy", serviceAdmissionPolicyName).object.spec as any;

/** The validations that refuse the object (cel-js; an evaluation error counts as a refusal, as failurePolicy Fail does). */
const refusals = (object: K8sObject): string[] =>
  policySpec()
    .validations.filter((v: { expression: string }) => {
      try {
        return evaluate(v.expression, { object }) !== true;
      } catch {
        return true;
      }
    })
    .map((v: { messageExpression: string }) => String(evaluate(v.messageExpression, { object })));

/** A Service of the tenant admin in front of its model pods, with `spec` merged in. */
const modelService = (spec: Record<string, unknown>): K8sObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "granite-direct", namespace: "tenant-a-models" },
  spec: { selector: { app: "granite" }, ports: [{ name: "http", port: 8000, targetPort: 8000 }], ...spec },
});

describe("B3S: a tenant admin cannot expose its models outside the Gateway with a Service", () => {
  it("renders the policy and its Deny binding, bound to tenant namespaces, for core Services", () => {
    const spec = policySpec();
    expect(spec.failurePolicy).toBe("Fail");
    expect(spec.matchConstraints.resourceRules).toEqual([{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["services"] }]);
    expect(spec.matchConstraints.namespaceSelector).toEqual({ matchExpressions: [{ key: tenantNamespaceLabel, operator: "Exists" }] });
    const binding = findObject(rendered, "ValidatingAdmissionPolicyBinding", serviceAdmissionPolicyName).object.spec as any;
    expect(binding).toEqual({ policyName: serviceAdmissionPolicyName, validationActions: ["Deny"] });
    const ns = findObject(rendered, "Namespace", "tenant-a-models").object;
    expect((ns.metadata.labels as Record<string, string>)[tenantNamespaceLabel]).toBe("tenant-a");
  });

  it("admits every Service the render puts in a tenant namespace, and a plain or headless ClusterIP model Service", () => {
    const tenantNamespaces = new Set(
      ofKind(rendered, "Namespace")
        .filter((o) => (o.object.metadata.labels as Record<string, string> | undefined)?.[tenantNamespaceLabel] !== undefined)
        .map((o) => o.object.metadata.name),
    );
    const tenantServices = ofKind(rendered, "Service").filter((o) => tenantNamespaces.has(o.object.metadata.namespace as string));
    expect(tenantServices.length).toBeGreaterThanOrEqual(4); // each tenant's Prometheus and Grafana
    for (const s of tenantServices) expect([s.object.metadata.name, refusals(s.object)]).toEqual([s.object.metadata.name, []]);
    expect(refusals(modelService({}))).toEqual([]);
    expect(refusals(modelService({ type: "ClusterIP" }))).toEqual([]);
    expect(refusals(modelService({ type: "ClusterIP", clusterIP: "None", externalIPs: [] }))).toEqual([]);
  });

  it("refuses LoadBalancer, NodePort, externalIPs and ExternalName, each with a message naming what to drop", () => {
    const attacks: Record<string, { spec: Record<string, unknown>; says: string }> = {
      LoadBalancer: { spec: { type: "LoadBalancer" }, says: "not LoadBalancer" },
      "LoadBalancer with an address asked for": { spec: { type: "LoadBalancer", loadBalancerIP: "203.0.113.7" }, says: "not LoadBalancer" },
      NodePort: { spec: { type: "NodePort", ports: [{ name: "http", port: 8000, targetPort: 8000, nodePort: 30080 }] }, says: "not NodePort" },
      "ClusterIP with externalIPs": { spec: { type: "ClusterIP", externalIPs: ["203.0.113.8"] }, says: "externalIPs (203.0.113.8)" },
      "no type with externalIPs": { spec: { externalIPs: ["203.0.113.9"] }, says: "externalIPs (203.0.113.9)" },
      ExternalName: { spec: { type: "ExternalName", externalName: "maas-billing-api.maas-billing.svc.cluster.local" }, says: "not ExternalName" },
    };
    const outcome = Object.fromEntries(Object.entries(attacks).map(([name, a]) => [name, refusals(modelService(a.spec)).join(" | ")]));
    for (const [name, a] of Object.entries(attacks)) {
      expect(outcome[name], name).toContain(a.says);
      expect(outcome[name], name).toContain("B3S");
    }
  });
});
