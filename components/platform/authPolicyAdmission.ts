import type * as pulumi from "@pulumi/pulumi";
import { createDenyingAdmissionPolicy, tenantMatchConstraints } from "./routeAdmission";

export const authPolicyAdmissionPolicyName = "maas-tenant-authpolicy-identity";

/** The identity methods of an AuthPolicy authentication rule (the AuthPolicy CRD), API key excepted. */
const OTHER_IDENTITY_METHODS = ["anonymous", "jwt", "kubernetesTokenReview", "oauth2Introspection", "plain", "x509"] as const;

/**
 * CEL: every authentication rule of `rules` (an AuthPolicy rule set) is a plain API-key rule. Each
 * rule is bound to `a` by `[rule].all(a, ...)`, so `has()` selects a field of a variable (the form
 * every CEL implementation takes; `has(m[k].f)` is refused by some).
 */
const apiKeyOnly = (rules: string): string =>
  `!has(${rules}.authentication) || ${rules}.authentication.all(k, [${rules}.authentication[k]].all(a, has(a.apiKey) && ${[...OTHER_IDENTITY_METHODS, "overrides", "defaults"]
    .map((f) => `!has(a.${f})`)
    .join(" && ")}))`;

/**
 * A tenant's AuthPolicy may authenticate with API keys only, their identity untouched
 * (docs/threat-model.md B3I). The platform's gateway rules (the quota check's key namespace, the
 * allowed tiers, the identity filter the access logs are billed by) read `auth.identity` as the
 * API key's Secret, whose namespace the API server sets. The tenant admin writes its route's
 * AuthPolicy, and the platform's Gateway override is merged into it rule by rule, so the tenant's
 * own `authentication` rules stay: one that extends or overrides the identity
 * (`overrides`/`defaults`, "Overrides the resolved identity object by setting the additional
 * properties" in the AuthPolicy CRD) or takes it from elsewhere (`plain` from the request, a `jwt`
 * issuer or an `oauth2Introspection` endpoint the tenant runs, ...) could name a rival's namespace:
 * its quota, tiers and access-log usage would become the rival's. Checked in every rule set an
 * AuthPolicy can carry: `spec.rules`, `spec.defaults.rules`, `spec.overrides.rules`.
 */
export function authPolicyIdentityPolicySpec(): Record<string, unknown> {
  const message =
    "'a tenant AuthPolicy may authenticate with API keys only (apiKey), without overrides or defaults of the identity: the platform bills and limits by the key Secret\\'s namespace (docs/threat-model.md B3I)'";
  return {
    failurePolicy: "Fail",
    matchConstraints: tenantMatchConstraints([{ apiGroups: ["kuadrant.io"], apiVersions: ["*"], operations: ["CREATE", "UPDATE"], resources: ["authpolicies"] }]),
    validations: [
      { expression: `!has(object.spec.rules) || (${apiKeyOnly("object.spec.rules")})`, messageExpression: message, reason: "Forbidden" },
      { expression: `!has(object.spec.defaults) || !has(object.spec.defaults.rules) || (${apiKeyOnly("object.spec.defaults.rules")})`, messageExpression: message, reason: "Forbidden" },
      { expression: `!has(object.spec.overrides) || !has(object.spec.overrides.rules) || (${apiKeyOnly("object.spec.overrides.rules")})`, messageExpression: message, reason: "Forbidden" },
    ],
  };
}

/** The policy and its binding (Deny) for every tenant namespace. */
export function createAuthPolicyAdmission(name: string, parent: pulumi.Resource): void {
  createDenyingAdmissionPolicy(name, "authpolicy-admission", authPolicyAdmissionPolicyName, authPolicyIdentityPolicySpec(), parent);
}
