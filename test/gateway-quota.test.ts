/**
 * Quota enforcement at the gateway (issue #16): the platform renders one Gateway-level AuthPolicy
 * (overrides, merge) whose Authorino metadata.http calls the billing service's request-path check
 * with the identity of the API key, caches the answer briefly, and answers 429 with the billing
 * service's message; the gateway's billing token sits in Authorino's namespace as a Secret. The
 * rendered objects must pass the upstream CRD schemas (test/support/conformance.ts).
 */
import { evaluate } from "@marcbachmann/cel-js";
import { beforeAll, describe, expect, it } from "vitest";
import { gatewayAuthPolicySpec, gatewayAuthPolicyName, keyNamespaceExpression, quotaOverrideRules, quotaPredicate, tenantExpression } from "../components/platform/gatewayAuth";
import type { K8sObject } from "../scripts/render";
import { createConformanceValidator, type ConformanceValidator } from "./support/conformance";
import { findObject, renderExample } from "./support/stacks";

let validator: ConformanceValidator;
beforeAll(() => {
  validator = createConformanceValidator();
});

const policy = (failureMode: "open" | "closed"): K8sObject => ({
  apiVersion: "kuadrant.io/v1",
  kind: "AuthPolicy",
  metadata: { name: gatewayAuthPolicyName, namespace: "api-gateway" },
  spec: gatewayAuthPolicySpec(
    { name: "external" },
    quotaOverrideRules({
      billingUrl: "http://maas-billing-api.maas-billing.svc:8080/",
      cacheTtlSeconds: 5,
      failureMode,
      tokenSecret: { name: "maas-billing-gateway-token", key: "token" },
    }),
  ),
});

describe("the gateway quota AuthPolicy", () => {
  it.each(["open", "closed"] as const)("passes the AuthPolicy CRD schema (fail-%s)", async (mode) => {
    expect(await validator.validate(policy(mode))).toEqual([]);
  });

  it("calls the billing check with the key's identity, caches briefly, answers 429 with the billing message", () => {
    const spec = policy("closed").spec as any;
    expect(spec.targetRef).toEqual({ group: "gateway.networking.k8s.io", kind: "Gateway", name: "external" });
    expect(spec.overrides.strategy).toBe("merge");
    const http = spec.overrides.rules.metadata.quota.http;
    expect(http).toMatchObject({
      url: "http://maas-billing-api.maas-billing.svc:8080/v1/quota/authorize",
      method: "POST",
      contentType: "application/json",
      sharedSecretRef: { name: "maas-billing-gateway-token", key: "token" },
      credentials: { authorizationHeader: { prefix: "Bearer" } },
    });
    // The body names the namespace of the key's Secret, never a tenant: the billing service maps it
    // with the tenant registry (test/attack-quota-namespace.test.ts), so the rule lists no tenant.
    expect(Object.keys(http.bodyParameters).sort()).toEqual(["namespace", "tier", "user"]);
    expect(http.bodyParameters.namespace.expression).toBe(keyNamespaceExpression);
    const key = (ns: string) => ({ auth: { identity: { metadata: { namespace: ns, annotations: { "kuadrant.io/user-id": "u", "maas-billing.io/tier": "free" } } } } });
    expect(evaluate(http.bodyParameters.namespace.expression, key("tenant-b-models"))).toBe("tenant-b-models");
    expect(evaluate(http.bodyParameters.namespace.expression, key("elsewhere"))).toBe("elsewhere");
    // An identity that is no Kubernetes object (no metadata): "", which the service answers allowed=false.
    expect(evaluate(http.bodyParameters.namespace.expression, { auth: { identity: { sub: "x" } } })).toBe("");
    // Cached per key namespace (one tenant each), user and tier: never shared across tenants.
    expect(evaluate(spec.overrides.rules.metadata.quota.cache.key.expression, key("tenant-a-models"))).toBe("tenant-a-models/u/free");
    expect(http.bodyParameters.tier.expression).toContain('"maas-billing.io/tier"');
    expect(http.bodyParameters.user.expression).toContain('"kuadrant.io/user-id"');
    expect(spec.overrides.rules.metadata.quota.cache.ttl).toBe(5);
    expect(spec.overrides.rules.response.unauthorized.code).toBe(429);
    expect(spec.overrides.rules.response.unauthorized.body.expression).toContain("auth.metadata.quota.message");
    expect(spec.overrides.rules.authorization.quota.patternMatching.patterns).toEqual([{ predicate: quotaPredicate("closed") }]);
  });

  it("fail-open and fail-closed differ only in the predicate: closed needs allowed == true, open refuses only allowed == false", () => {
    expect(quotaPredicate("closed")).toBe("has(auth.metadata.quota.allowed) && auth.metadata.quota.allowed == true");
    expect(quotaPredicate("open")).toBe("!has(auth.metadata.quota) || !has(auth.metadata.quota.allowed) || auth.metadata.quota.allowed != false");
    const { authorization: a, ...restOpen } = (policy("open").spec as any).overrides.rules;
    const { authorization: b, ...restClosed } = (policy("closed").spec as any).overrides.rules;
    expect(restOpen).toEqual(restClosed);
    expect(a).not.toEqual(b);
  });

  it("quotes namespace and tenant names as CEL string literals", () => {
    expect(tenantExpression({ 'we"ird': "t" })).toContain(`"we\\"ird": 't'`);
    expect(tenantExpression({ "it's": "t\\" })).toContain(`"it's": "t\\\\"`);
    const key = (ns: string) => ({ auth: { identity: { metadata: { namespace: ns } } } });
    expect(evaluate(tenantExpression({ 'we"ird': "t", "it's": "t\\" }), key("it's"))).toBe("t\\");
    expect(evaluate(tenantExpression({ 'we"ird': "t", "it's": "t\\" }), key('we"ird'))).toBe("t");
  });

  describe("the check can fail", () => {
    it("catches a misspelled Authorino field", async () => {
      const bad = policy("open");
      const http = (bad.spec as any).overrides.rules.metadata.quota.http;
      http.bodyParams = http.bodyParameters;
      delete http.bodyParameters;
      expect((await validator.validate(bad)).join("\n")).toContain('unknown field "bodyParams"');
    });
    it("catches a denial status the CRD does not allow", async () => {
      const bad = policy("open");
      (bad.spec as any).overrides.rules.response.unauthorized.code = 200;
      expect((await validator.validate(bad)).join("\n")).toContain("/spec/overrides/rules/response/unauthorized/code must be >= 300");
    });
  });
});

describe("the platform stack renders quota enforcement", () => {
  it("with the AuthPolicy on the configured Gateway and the gateway's token as a Secret in Authorino's namespace", async () => {
    const result = await renderExample("platform-kubernetes");
    const rendered = findObject(result, "AuthPolicy", gatewayAuthPolicyName).object as any;
    expect(rendered.metadata.namespace).toBe("api-gateway");
    expect(rendered.spec.targetRef).toMatchObject({ kind: "Gateway", name: "external" });
    expect(rendered.spec.overrides.rules.metadata.quota.http.url).toMatch(/^http:\/\/maas-billing-api\.[a-z-]+\.svc:\d+\/v1\/quota\/authorize$/);
    expect(rendered.spec.overrides.rules.metadata.quota.http.bodyParameters.namespace.expression).toBe(keyNamespaceExpression);
    const secret = findObject(result, "Secret", "maas-billing-gateway-token").object as any;
    expect(secret.metadata.namespace).toBe("kuadrant-system");
    // The token is generated and secret; the tokens file names the gateway with quotaGateway only.
    expect(await validator.validateAll(result.objects)).toEqual([]);
  });
});
