// Attack B3D: a tenant admin deletes its route's AuthPolicy (the tenant-admin Role manages
// `authpolicies`, components/tenant/rbac.ts; admission checks creates and updates only). The
// route's AuthConfig is then built from the platform's Gateway overrides alone, which carry no
// authentication rule, and Authorino gives an AuthConfig without identity rules the anonymous
// identity (Kuadrant/authorino controllers/auth_config_controller.go `translateAuthConfig`:
// `if len(authConfigIdentityConfigs) == 0 { ... Name: "anonymous", Anonymous: ... }`; its
// evaluator, pkg/evaluators/identity/noop.go, resolves to `{"anonymous": true}`). Without a rule
// against it the route is open to anyone, the quota check cannot refuse it in `failureMode: open`
// (the user and tier expressions fail on an identity without metadata, so no check is sent, and
// `!has(auth.metadata.quota)` passes), and its access-log records name no tenant.
// Real parts: the platform rendered by the Pulumi program, its AuthPolicy checked against the
// AuthPolicy CRD, every rendered authorization rule evaluated with cel-js as Authorino would.
import { evaluate } from "@marcbachmann/cel-js";
import { beforeAll, describe, expect, it } from "vitest";
import { gatewayAuthPolicyName, KEY_IDENTITY_RULE } from "../components/platform/gatewayAuth";
import { TIER_ANNOTATION, USER_ANNOTATION } from "../components/shared/apiKeyIdentity";
import type { RenderResult } from "../scripts/render";
import { createConformanceValidator } from "./support/conformance";
import { ofKind, renderConfig, testImage } from "./support/stacks";

const tenants = [
  { name: "acme", namespaces: ["acme-models"], allowedTiers: ["free"] },
  { name: "globex", namespaces: ["globex-models"] },
];

let rendered: RenderResult;

beforeAll(async () => {
  // Default failure mode (open), a pinned tenant: every rule set (quota check, tier rule, identity filter).
  rendered = await renderConfig("unit-gateway-anonymous", { flavor: "kubernetes", platform: { billing: { image: testImage }, tenants } });
}, 300_000);

const gatewayPolicy = (): any => ofKind(rendered, "AuthPolicy").find((o) => o.object.metadata.name === gatewayAuthPolicyName)!.object;

type Rule = { when?: { predicate: string }[]; patternMatching: { patterns: { predicate: string }[] } };

/**
 * Authorino's decision on the overrides' authorization rules alone (the route's own AuthPolicy is
 * gone): a rule whose `when` holds must have every pattern true; an evaluation error denies.
 * `except` leaves rules out (to show which rule is the defence).
 */
const allowed = (json: object, except: readonly string[] = []): boolean => {
  const rules = gatewayPolicy().spec.overrides.rules.authorization as Record<string, Rule>;
  const holds = (p: string): boolean => {
    try {
      return evaluate(p, json) === true;
    } catch {
      return false;
    }
  };
  return Object.entries(rules)
    .filter(([name]) => !except.includes(name))
    .every(([, rule]) => !(rule.when ?? []).every((w) => holds(w.predicate)) || rule.patternMatching.patterns.every((p) => holds(p.predicate)));
};

// No metadata reached the request: the quota check's body expressions fail on an identity without metadata.
const anonymous = { context: { request: { http: { method: "POST", path: "/v1/chat/completions", headers: {} } } }, auth: { identity: { anonymous: true }, metadata: {} } };
const honestKey = (tier: string) => ({
  context: anonymous.context,
  auth: {
    identity: { apiVersion: "v1", kind: "Secret", metadata: { name: "k", namespace: "acme-models", annotations: { [USER_ANNOTATION]: "alice", [TIER_ANNOTATION]: tier } } },
    metadata: { quota: { allowed: true, stateAgeMs: 0 } },
  },
});

describe("B3D: a tenant that deletes its route AuthPolicy does not get anonymous access through the gateway", () => {
  it("renders the key-identity rule in the Gateway overrides, within the AuthPolicy CRD", async () => {
    const policy = gatewayPolicy();
    expect(await createConformanceValidator().validate(policy)).toEqual([]);
    expect(policy.spec.overrides.rules.authorization[KEY_IDENTITY_RULE]).toEqual({
      patternMatching: { patterns: [{ predicate: "has(auth.identity.metadata) && has(auth.identity.metadata.namespace)" }] },
    });
    // Unconditional: no `when` that an anonymous identity could fall outside of.
    expect(policy.spec.overrides.rules.authorization[KEY_IDENTITY_RULE].when).toBeUndefined();
  });

  it("the rendered overrides deny Authorino's anonymous identity (fail-open), and the key-identity rule is what denies it", () => {
    expect(evaluate(gatewayPolicy().spec.overrides.rules.authorization[KEY_IDENTITY_RULE].patternMatching.patterns[0].predicate, anonymous)).toBe(false);
    expect(allowed(anonymous)).toBe(false);
    // The checker can fail: without that rule every other override lets the anonymous request through.
    expect(allowed(anonymous, [KEY_IDENTITY_RULE])).toBe(true);
    // An identity with metadata but no namespace (a cluster-scoped object) is denied too.
    expect(allowed({ ...anonymous, auth: { identity: { metadata: { name: "x" } }, metadata: {} } })).toBe(false);
  });

  it("an honest API key in its tenant's namespace still passes, and a forbidden tier is still refused", () => {
    expect(allowed(honestKey("free"))).toBe(true);
    expect(allowed(honestKey("premium"))).toBe(false);
  });
});
