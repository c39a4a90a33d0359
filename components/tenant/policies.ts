import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { TenantSpec, TenantTier } from "../config/tenant";
import { GROUPS_ANNOTATION, TIER_ANNOTATION, USER_ANNOTATION, annotationSelector, identityFilters } from "../shared/apiKeyIdentity";
import { AUTHORINO_MANAGED_BY, apiKeySelectorValue } from "./apiKeys";

/*
 * Kuadrant policies for one tenant route (field notes §5.1, §5.2; shapes checked against
 * ../shared/crds in test/tenant*.test.ts):
 * - AuthPolicy (kuadrant.io/v1): API-key authentication, then an authorization rule that accepts only
 *   keys stored in this tenant's own namespace, then an `identity` filter exposing userid, groups, tier
 *   (and subscription, the newer MaaS name for it) and tenant to the rate limiter and TelemetryPolicy.
 * - TokenRateLimitPolicy (kuadrant.io/v1alpha1): token limits per tier, counted per user.
 * - RateLimitPolicy (kuadrant.io/v1): request limits per tier, counted per user.
 */

const HTTPROUTE_REF = { group: "gateway.networking.k8s.io", kind: "HTTPRoute" } as const;

/** CEL predicate selecting one tier, on the identity the AuthPolicy exposes. */
export const tierPredicate = (tier: string) => `auth.identity.tier == ${JSON.stringify(tier)}`;

/** The AuthPolicy spec for one route. */
export function authPolicySpec(tenant: string, routeName: string, keyNamespace: string) {
  return {
    targetRef: { ...HTTPROUTE_REF, name: routeName },
    rules: {
      authentication: {
        "api-key": {
          // Authorino reads credentials from the namespace it runs in unless told otherwise; the
          // authorization rule below is what keeps other tenants' Secrets out.
          apiKey: { allNamespaces: true, selector: { matchLabels: { ...AUTHORINO_MANAGED_BY, app: apiKeySelectorValue(tenant) } } },
          credentials: { authorizationHeader: { prefix: "APIKEY" } },
        },
      },
      authorization: {
        // Labels are not a boundary: any tenant can label a Secret `app: maas-<other>-api-key` in its
        // own namespace. Only keys stored in this tenant's namespace are accepted.
        "own-namespace-keys-only": {
          patternMatching: {
            patterns: [{ selector: "auth.identity.metadata.namespace", operator: "eq", value: keyNamespace }],
          },
        },
      },
      response: {
        success: {
          filters: identityFilters({
            userid: { selector: annotationSelector(USER_ANNOTATION) },
            groups: { selector: annotationSelector(GROUPS_ANNOTATION) },
            tier: { selector: annotationSelector(TIER_ANNOTATION) },
            // A constant of the policy, not read from the key: a key cannot claim another tenant.
            tenant: { value: tenant },
          }),
        },
      },
    },
  };
}

/** Limits per tier for one kind of rate (tokens or requests), counted per user; tiers without rates are left out. */
export function perTierLimits(tiers: TenantTier[], pick: (t: TenantTier) => TenantTier["tokenRates"]) {
  const limits: Record<string, unknown> = {};
  for (const tier of tiers) {
    const rates = pick(tier);
    if (rates.length === 0) continue;
    limits[tier.name] = {
      rates: rates.map((r) => ({ limit: r.limit, window: r.window })),
      when: [{ predicate: tierPredicate(tier.name) }],
      counters: [{ expression: "auth.identity.userid" }],
    };
  }
  return limits;
}

export interface TenantPoliciesArgs {
  /** Validated tenant config. */
  readonly spec: TenantSpec;
  /** Namespace holding the tenant's API key Secrets. */
  readonly keyNamespace: string;
  /** Namespace used for routes that name none (the config schema keeps the others within the tenant's namespaces). */
  readonly defaultRouteNamespace: string;
}

/** Creates the AuthPolicy, TokenRateLimitPolicy and RateLimitPolicy for each configured route. */
export function createTenantPolicies(name: string, args: TenantPoliciesArgs, parent: pulumi.Resource): void {
  const { spec } = args;
  const opts = { parent };
  const tokenLimits = perTierLimits(spec.tiers, (t) => t.tokenRates);
  const requestLimits = perTierLimits(spec.tiers, (t) => t.requestRates);
  for (const route of spec.routes) {
    const namespace = route.namespace ?? args.defaultRouteNamespace;
    const metadata = (suffix: string) => ({
      name: `${spec.name}-${route.name}-${suffix}`,
      namespace,
      labels: { "app.kubernetes.io/part-of": "maas-billing", "maas-billing.io/tenant": spec.name },
    });
    const child = `${name}-${route.name}`;
    new k8s.apiextensions.CustomResource(
      `${child}-auth`,
      { apiVersion: "kuadrant.io/v1", kind: "AuthPolicy", metadata: metadata("auth"), spec: authPolicySpec(spec.name, route.name, args.keyNamespace) },
      opts,
    );
    // The CRDs require at least one limit, so a policy with no tier limits is not created at all.
    if (Object.keys(tokenLimits).length > 0) {
      new k8s.apiextensions.CustomResource(
        `${child}-tokens`,
        {
          apiVersion: "kuadrant.io/v1alpha1",
          kind: "TokenRateLimitPolicy",
          metadata: metadata("tokens"),
          spec: { targetRef: { ...HTTPROUTE_REF, name: route.name }, limits: tokenLimits },
        },
        opts,
      );
    }
    if (Object.keys(requestLimits).length > 0) {
      new k8s.apiextensions.CustomResource(
        `${child}-requests`,
        {
          apiVersion: "kuadrant.io/v1",
          kind: "RateLimitPolicy",
          metadata: metadata("requests"),
          spec: { targetRef: { ...HTTPROUTE_REF, name: route.name }, limits: requestLimits },
        },
        opts,
      );
    }
  }
}
