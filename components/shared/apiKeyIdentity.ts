/*
 * The identity an API key gives a request, for the tenant's route AuthPolicy (tenant/policies.ts)
 * and the platform's Gateway override (platform/gatewayAuth.ts): the annotations a key Secret
 * carries (tenant/apiKeys.ts writes them) and the Authorino `identity` response filter that
 * exposes them to Limitador and the TelemetryPolicy. The override's filter replaces the tenant's
 * (merged by name), so both are built here with the same properties.
 */

/** The user the key belongs to. */
export const USER_ANNOTATION = "kuadrant.io/user-id";
/** Kuadrant's groups of the key (its first entry is the tier). */
export const GROUPS_ANNOTATION = "kuadrant.io/groups";
/** The tier the key is billed and limited under. */
export const TIER_ANNOTATION = "maas-billing.io/tier";

/** Authorino selector of an annotation of the key Secret (dots inside the key escaped). */
export const annotationSelector = (key: string): string => `auth.identity.metadata.annotations.${key.replace(/\./g, "\\.")}`;

/** CEL expression of an annotation of the key Secret, "" when absent. */
export const annotationExpression = (key: string): string =>
  `has(auth.identity.metadata.annotations) && ${JSON.stringify(key)} in auth.identity.metadata.annotations ? auth.identity.metadata.annotations[${JSON.stringify(key)}] : ""`;

/** How Authorino computes one identity property: a selector, a CEL expression, or a constant. */
export type IdentityValue = { readonly selector: string } | { readonly expression: string } | { readonly value: string };

export interface IdentityValues {
  readonly userid: IdentityValue;
  readonly groups: IdentityValue;
  /** Exposed as `tier` and as `subscription` (the newer MaaS name for it). */
  readonly tier: IdentityValue;
  readonly tenant: IdentityValue;
}

/**
 * The key itself, for per-key usage in the gateway's access log (platform/gatewayAccessLog.ts): the
 * key Secret's uid and name (never its value).
 */
export const KEY_ID: IdentityValue = { selector: "auth.identity.metadata.uid" };
export const KEY_NAME: IdentityValue = { selector: "auth.identity.metadata.name" };

/** The `filters` of an AuthPolicy's success response: the `identity` object the rate limiter, telemetry and access log read. */
export function identityFilters(v: IdentityValues) {
  return { identity: { json: { properties: { userid: v.userid, groups: v.groups, tier: v.tier, subscription: v.tier, tenant: v.tenant, keyId: KEY_ID, keyName: KEY_NAME } } } };
}
