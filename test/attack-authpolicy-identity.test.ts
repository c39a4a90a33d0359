// Attack B3I: a tenant admin forges the API-key identity through its own route AuthPolicy, so that
// the platform's gateway rules (quota check by key namespace, allowed tiers, the identity filter the
// access logs are billed by) see a rival's namespace. Kuadrant merges the platform's Gateway
// override into the route's policy rule by rule, so the tenant's own `authentication` rules stay:
// `overrides`/`defaults` rewrite the resolved identity (the AuthPolicy CRD), `plain` takes it from
// the request, a `jwt` issuer or an `oauth2Introspection` endpoint the tenant runs makes it up.
// Defence: the platform's ValidatingAdmissionPolicy `maas-tenant-authpolicy-identity` admits, in
// tenant namespaces, AuthPolicies whose authentication rules are plain API-key rules only.
// Here: the rendered policy (checked against the admission API's schema with the rest of the stack
// by the e2e render stage, where a real kube-apiserver runs it on the tenant admin's requests:
// scripts/e2e/authpolicy-admission.ts) evaluated with cel-js on the tenant stack's own AuthPolicy
// (admitted) and on each forgery (refused), and what a forgery would do: the quota body Authorino
// builds from the rendered Gateway policy names the rival's namespace.
import { evaluate } from "@marcbachmann/cel-js";
import { beforeAll, describe, expect, it } from "vitest";
import { authPolicyAdmissionPolicyName } from "../components/platform/authPolicyAdmission";
import { gatewayAuthPolicyName } from "../components/platform/gatewayAuth";
import { tenantNamespaceLabel } from "../components/platform/routeAdmission";
import { authPolicySpec } from "../components/tenant/policies";
import type { K8sObject, RenderResult } from "../scripts/render";
import { findObject, ofKind, renderConfig, testImage } from "./support/stacks";

let rendered: RenderResult;
beforeAll(async () => {
  rendered = await renderConfig("unit-authpolicy-identity", {
    flavor: "kubernetes",
    platform: { billing: { image: testImage }, tenants: [{ name: "acme", namespaces: ["acme-models"] }, { name: "globex", namespaces: ["globex-models"] }] },
  });
}, 300_000);

const policySpec = () => findObject(rendered, "ValidatingAdmissionPolicy", authPolicyAdmissionPolicyName).object.spec as any;

/** The tenant's AuthPolicy object as the API server would pass it to admission. */
const authPolicy = (spec: Record<string, unknown>): K8sObject => ({ apiVersion: "kuadrant.io/v1", kind: "AuthPolicy", metadata: { name: "granite", namespace: "acme-models" }, spec });

/** Whether the rendered policy admits the object: every validation's CEL true (cel-js). */
const admitted = (object: K8sObject): boolean => policySpec().validations.every((v: { expression: string }) => evaluate(v.expression, { object }) === true);

/** The tenant stack's own AuthPolicy for acme's route, with its API-key rule changed by `change`. */
const honest = () => authPolicySpec("acme", "granite", "acme-models") as any;
const withKeyRule = (change: (rule: Record<string, unknown>) => void) => {
  const spec = structuredClone(honest());
  change(spec.rules.authentication["api-key"]);
  return spec;
};
const FORGED_METADATA = { value: { namespace: "globex-models", annotations: { "kuadrant.io/user-id": "mallory", "maas-billing.io/tier": "premium" } } };

describe("B3I: a tenant AuthPolicy cannot forge the API-key identity the platform's gateway rules read", () => {
  it("renders the policy and its Deny binding, bound to tenant namespaces, for kuadrant.io AuthPolicies", () => {
    const spec = policySpec();
    expect(spec.failurePolicy).toBe("Fail");
    expect(spec.matchConstraints.resourceRules).toEqual([{ apiGroups: ["kuadrant.io"], apiVersions: ["*"], operations: ["CREATE", "UPDATE"], resources: ["authpolicies"] }]);
    expect(spec.matchConstraints.namespaceSelector).toEqual({ matchExpressions: [{ key: tenantNamespaceLabel, operator: "Exists" }] });
    const binding = findObject(rendered, "ValidatingAdmissionPolicyBinding", authPolicyAdmissionPolicyName).object.spec as any;
    expect(binding).toEqual({ policyName: authPolicyAdmissionPolicyName, validationActions: ["Deny"] });
    // The namespaces it binds to carry the label (the platform sets it; a tenant admin cannot edit Namespaces).
    const ns = findObject(rendered, "Namespace", "acme-models").object;
    expect((ns.metadata.labels as Record<string, string>)[tenantNamespaceLabel]).toBe("acme");
  });

  it("admits the tenant stack's own AuthPolicy (API keys, identity untouched) and a policy without authentication rules", () => {
    expect(admitted(authPolicy(honest()))).toBe(true);
    const { authentication: _none, ...rulesWithout } = honest().rules;
    expect(admitted(authPolicy({ ...honest(), rules: rulesWithout }))).toBe(true);
  });

  it("refuses every way of changing or replacing the identity, in each rule set an AuthPolicy can carry", () => {
    const forgeries: Record<string, Record<string, unknown>> = {
      "overrides of metadata": withKeyRule((r) => (r.overrides = { metadata: FORGED_METADATA })),
      "defaults of metadata": withKeyRule((r) => (r.defaults = { metadata: FORGED_METADATA })),
      "plain identity from a request header": withKeyRule((r) => {
        delete r.apiKey;
        r.plain = { selector: "context.request.http.headers.x-identity|@fromstr" };
      }),
      "a second rule, plain, next to the key rule": (() => {
        const spec = structuredClone(honest());
        spec.rules.authentication.backdoor = { plain: { expression: "{'metadata': {'namespace': 'globex-models'}}" }, priority: 0 };
        return spec;
      })(),
      "a jwt issuer the tenant runs": withKeyRule((r) => {
        delete r.apiKey;
        r.jwt = { issuerUrl: "https://issuer.acme.example.com" };
      }),
      "oauth2 introspection it answers": withKeyRule((r) => {
        delete r.apiKey;
        r.oauth2Introspection = { endpoint: "https://introspect.acme.example.com", credentialsRef: { name: "x" } };
      }),
      anonymous: withKeyRule((r) => {
        delete r.apiKey;
        r.anonymous = {};
      }),
      "explicit defaults rule set with overrides": (() => {
        const { targetRef, rules } = withKeyRule((r) => (r.overrides = { metadata: FORGED_METADATA }));
        return { targetRef, defaults: { rules } };
      })(),
      "explicit overrides rule set with a plain identity": (() => {
        const { targetRef, rules } = withKeyRule((r) => {
          delete r.apiKey;
          r.plain = { selector: "context.request.http.headers.x-identity|@fromstr" };
        });
        return { targetRef, overrides: { rules } };
      })(),
    };
    const admittedForgeries = Object.entries(forgeries).filter(([, spec]) => admitted(authPolicy(spec))).map(([name]) => name);
    expect(admittedForgeries).toEqual([]);
  });

  it("the check can fail: what the forged identity would do at the gateway (the quota check names the rival's namespace)", () => {
    // Authorino applies `overrides` to the resolved identity before the Gateway rules read it.
    const forgedIdentity = { metadata: { name: "k", ...FORGED_METADATA.value } };
    const gateway = ofKind(rendered, "AuthPolicy").find((o) => o.object.metadata.name === gatewayAuthPolicyName)!.object.spec as any;
    const body = gateway.overrides.rules.metadata.quota.http.bodyParameters;
    expect(evaluate(body.namespace.expression, { auth: { identity: forgedIdentity } })).toBe("globex-models");
  });
});
