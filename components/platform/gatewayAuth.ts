import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig, PlatformTenant } from "../config/platform";
import { platformTenantNamespaces } from "../config/platform";
import { TIER_ANNOTATION, USER_ANNOTATION, annotationExpression, identityFilters } from "../shared/apiKeyIdentity";
import { appLabels } from "./security";

/*
 * The platform-owned Gateway-level AuthPolicy (kuadrant.io/v1, `overrides` with strategy `merge`):
 * rules the platform adds to every tenant route's AuthPolicy, which a tenant admin can neither
 * remove nor weaken (its own route policy is merged under them, and by Kuadrant's Defaults &
 * Overrides rules (architecture RFC 0009) merged overrides win rule by rule, by name).
 *
 * ONE object for every platform gateway rule: each concern contributes a rule set to
 * gatewayAuthPolicySpec() (issue #16: the quota check; issue #13: the tiers a tenant may use),
 * merged by rule name, rather than a second Gateway-level AuthPolicy (Kuadrant would let only one
 * of two overrides on the same Gateway win). Both read the same identity: the namespace of the API
 * key's Secret (which the billing service, or the platform's namespace→tenant map in the identity
 * filter, maps to the tenant), user and tier are the key's annotations (annotationExpression).
 *
 * Quota check (docs/platform.md "Gateway enforcement"; fields checked against
 * ../shared/crds/kuadrant.io_authpolicies.yaml and Authorino's docs/features.md, "HTTP
 * GET/GET-by-POST (metadata.http)", "Caching (cache)", "Custom denial status"):
 *  - metadata `quota`: Authorino POSTs {namespace, user, tier} as JSON (bodyParameters: Authorino
 *    serialises each value, so a crafted annotation cannot inject another field into the body)
 *    to the billing service's POST /v1/quota/authorize, with the gateway's billing token from a
 *    Secret in Authorino's namespace (sharedSecretRef, sent as `Authorization: Bearer`). The
 *    namespace is the API key's Secret's (`auth.identity.metadata.namespace`: a tenant can only
 *    store keys in its own namespaces); the billing service maps it to the tenant with the tenant
 *    registry it already reads (strictly: a namespace no tenant lists, or "", is answered
 *    allowed=false), so this rule
 *    lists no tenant and the policy does not grow with them (docs/scaling.md). User and tier are
 *    the key's annotations. Cached per (namespace, user, tier) for `cacheTtlSeconds`.
 *  - authorization `quota`: allowed unless the billing service said allowed=false (fail-open), or
 *    only when it said allowed=true (fail-closed: billing down or slow means refused).
 *  - response.unauthorized: 429 with the billing service's message naming the quota and its reset
 *    time (and header x-maas-quota-reset). Authorino has one denial status per AuthConfig, so
 *    other authorization denials on the gateway answer 429 too, with body "forbidden".
 *
 * Allowed tiers (docs/threat-model.md B3): the tier a key is billed and limited as is an
 * annotation the tenant writes on its own key Secret. The rule `maas-billing-allowed-tiers` denies a
 * key stored in a tenant's namespace whose tier is not one the platform allows that tenant
 * (`platform.tenants[].allowedTiers`), and the `identity` filter the platform puts in place of the
 * tenant's exposes exactly that checked annotation as `tier`/`subscription`/`groups` (the
 * TelemetryPolicy's tier label reads `groups`), so the tenant cannot bill under another value
 * either. Keys from namespaces of no registered tenant are not the rule's business.
 *
 * Access logs (docs/threat-model.md B5G): the gateway's access-log records take their `tenant`
 * from the same `identity` filter, so when access logs are billed the platform's filter is
 * rendered even if no tenant is pinned: otherwise the tenant's own filter, which the tenant
 * admin writes, would name the tenant its records are billed to.
 */

/** Secret in Authorino's namespace with the gateway's billing API token (key `token`). */
export const gatewayBillingTokenSecretName = "maas-billing-gateway-token";
export const gatewayAuthPolicyName = "maas-platform-gateway-auth";
export const ALLOWED_TIERS_RULE = "maas-billing-allowed-tiers";

/** One concern's part of the override rules. */
export interface OverrideRules {
  readonly metadata?: Record<string, unknown>;
  readonly authorization?: Record<string, unknown>;
  readonly response?: { readonly success?: { readonly filters?: Record<string, unknown> } } & Record<string, unknown>;
}

/**
 * CEL string literal: single-quoted when the text needs no escape (namespace, tenant and tier
 * names), else JSON's double-quoted form (valid CEL too). A single-quoted literal needs no
 * backslash in the policy's stored JSON, where each `"` of a double-quoted one becomes `\"`: four
 * bytes less per map entry, in a policy that lists every tenant namespace.
 */
const celString = (s: string): string => (/^[A-Za-z0-9._:/@ -]*$/.test(s) ? `'${s}'` : JSON.stringify(s));
const celList = (items: readonly string[]): string => `[${items.map(celString).join(", ")}]`;

/** CEL map literal, keys sorted so the rendered policy is stable. */
const celMap = (m: Readonly<Record<string, string | number>>): string =>
  `{${Object.keys(m)
    .sort()
    .map((k) => `${celString(k)}: ${typeof m[k] === "number" ? m[k] : celString(m[k])}`)
    .join(", ")}}`;

export interface QuotaEnforcementSpec {
  /** Base URL of the billing API as Authorino reaches it (in-cluster Service URL). */
  readonly billingUrl: string;
  readonly cacheTtlSeconds: number;
  readonly failureMode: "open" | "closed";
  /** Secret (in Authorino's namespace) holding the gateway's billing token under `key`. */
  readonly tokenSecret: { readonly name: string; readonly key: string };
}

/** The namespace of the API key's Secret (Authorino's apiKey identity is the Secret itself). */
const KEY_NAMESPACE = "auth.identity.metadata.namespace";

/** CEL: whether the identity carries a key namespace (Authorino's anonymous identity does not). */
const HAS_KEY_NAMESPACE = `has(auth.identity.metadata) && has(${KEY_NAMESPACE})`;

/**
 * CEL: the key's namespace, "" for an identity without one (the billing service answers "", like
 * a namespace no tenant lists, allowed=false: refused in both failure modes).
 */
export const keyNamespaceExpression = `${HAS_KEY_NAMESPACE} ? ${KEY_NAMESPACE} : ""`;

/**
 * CEL: `body` with `m` bound to the map literal, written ONCE. Authorino's CEL environment is
 * cel-go's standard one (Kuadrant/authorino pkg/expressions/cel/expressions.go: cel.NewEnv with
 * the `auth`/`context` declarations, no `cel.bind` extension, no optional types), whose standard
 * macros include `all` and `map`: `[M].all(m, P)` is P with m = M and `[M].map(m, E)[0]` is E with
 * m = M. Each map literal lists every tenant namespace, so writing it once per expression instead
 * of twice (`ns in M ? M[ns] : ""`) halves what every tenant adds to the Gateway AuthPolicy
 * (docs/scaling.md "Platform objects that list every tenant").
 */
const withMap = (mapLiteral: string, macro: "all" | "map", body: string): string =>
  macro === "all" ? `[${mapLiteral}].all(m, ${body})` : `[${mapLiteral}].map(m, ${body})[0]`;

/** CEL: the tenant of the API key, from the namespace its Secret lives in ("" for an unknown namespace). */
export const tenantExpression = (tenantByNamespace: Readonly<Record<string, string>>): string =>
  withMap(celMap(tenantByNamespace), "map", `${KEY_NAMESPACE} in m ? m[${KEY_NAMESPACE}] : ""`);

/** CEL predicates of the authorization rule, per failure mode. */
export const quotaPredicate = (failureMode: "open" | "closed"): string =>
  failureMode === "closed"
    ? "has(auth.metadata.quota.allowed) && auth.metadata.quota.allowed == true"
    : "!has(auth.metadata.quota) || !has(auth.metadata.quota.allowed) || auth.metadata.quota.allowed != false";

/** The quota parts of the override rules (metadata, authorization, response). */
export function quotaOverrideRules(q: QuotaEnforcementSpec): OverrideRules {
  const user = annotationExpression(USER_ANNOTATION);
  const tier = annotationExpression(TIER_ANNOTATION);
  const denied = "has(auth.metadata.quota.allowed) && auth.metadata.quota.allowed == false";
  return {
    metadata: {
      quota: {
        http: {
          url: `${q.billingUrl.replace(/\/+$/, "")}/v1/quota/authorize`,
          method: "POST" as const,
          contentType: "application/json" as const,
          // The key's namespace, not its tenant: the billing service maps it (routes/quotas.ts).
          bodyParameters: { namespace: { expression: keyNamespaceExpression }, user: { expression: user }, tier: { expression: tier } },
          sharedSecretRef: { name: q.tokenSecret.name, key: q.tokenSecret.key },
          credentials: { authorizationHeader: { prefix: "Bearer" } },
        },
        // Keyed by the key's namespace, which the body names: each namespace belongs to one tenant, so
        // the entries are never shared across tenants.
        cache: { key: { expression: `${KEY_NAMESPACE} + "/" + (${user}) + "/" + (${tier})` }, ttl: q.cacheTtlSeconds },
      },
    },
    authorization: {
      quota: { patternMatching: { patterns: [{ predicate: quotaPredicate(q.failureMode) }] } },
    },
    response: {
      unauthorized: {
        code: 429,
        // An unknown key namespace is refused without `exceeded` (routes/quotas.ts unknownNamespaceAnswer).
        headers: { "x-maas-quota-reset": { expression: `${denied} && has(auth.metadata.quota.exceeded) ? auth.metadata.quota.exceeded.resetsAt : ""` } },
        body: { expression: `${denied} ? auth.metadata.quota.message : "forbidden"` },
      },
    },
  };
}


export const KEY_IDENTITY_RULE = "maas-billing-api-key-identity";

/**
 * The rule that denies any identity without an API key's namespace. Authorino gives an AuthConfig
 * without authentication rules the anonymous identity (`{"anonymous": true}`: Kuadrant/authorino
 * controllers/auth_config_controller.go `translateAuthConfig`, pkg/evaluators/identity/noop.go),
 * and the tenant-admin Role may delete its route's AuthPolicy, leaving these overrides alone on
 * the route: without this rule that route would be open to anyone, unquota'd and (access logs
 * billed) billed to nobody (docs/threat-model.md B3D). With it, every request on the Gateway
 * needs an identity that is a namespaced object (the tenant AuthPolicy's API-key Secret).
 */
export function keyIdentityRule(): OverrideRules {
  return { authorization: { [KEY_IDENTITY_RULE]: { patternMatching: { patterns: [{ predicate: HAS_KEY_NAMESPACE }] } } } };
}

/** Namespace of each tenant's keys -> the tiers that tenant may use (tenants without a pin left out). */
export const allowedTiersByNamespace = (tenants: readonly PlatformTenant[], allowed: Readonly<Record<string, readonly string[]>>): Record<string, string[]> =>
  Object.fromEntries(tenants.filter((t) => allowed[t.name] !== undefined).flatMap((t) => platformTenantNamespaces(t).map((ns) => [ns, [...allowed[t.name]]])));

/**
 * CEL predicate: true unless the key is stored in a pinned tenant namespace and its tier is not
 * allowed there. Tenants share few tier sets, so each set is written once and each namespace maps
 * to its set's index (`[S1, S2][m[ns]]`) instead of carrying its own copy of the tiers.
 */
export const allowedTierPredicate = (byNamespace: Readonly<Record<string, readonly string[]>>): string => {
  const key = (tiers: readonly string[]) => JSON.stringify([...new Set(tiers)].sort());
  const sets = [...new Set(Object.values(byNamespace).map(key))].sort();
  const indexOf = new Map(sets.map((s, i) => [s, i]));
  const index = Object.fromEntries(Object.entries(byNamespace).map(([ns, tiers]) => [ns, indexOf.get(key(tiers))!]));
  const setsLiteral = `[${sets.map((s) => celList(JSON.parse(s) as string[])).join(", ")}]`;
  return withMap(celMap(index), "all", `!(${KEY_NAMESPACE} in m) || (${annotationExpression(TIER_ANNOTATION)}) in ${setsLiteral}[m[${KEY_NAMESPACE}]]`);
};

/** The allowed-tiers rule. */
export function allowedTierRule(byNamespace: Readonly<Record<string, readonly string[]>>): OverrideRules {
  return {
    authorization: {
      [ALLOWED_TIERS_RULE]: {
        // Only identities that are Kubernetes objects (API key Secrets) carry a namespace.
        when: [{ predicate: "has(auth.identity.metadata) && has(auth.identity.metadata.namespace)" }],
        patternMatching: { patterns: [{ predicate: allowedTierPredicate(byNamespace) }] },
      },
    },
  };
}

/**
 * The `identity` filter in place of the tenant's own: the checked tier annotation as
 * `tier`/`subscription`/`groups`, and the tenant from the key's namespace, never a value the
 * tenant's own AuthPolicy writes (the gateway's access-log records take their `tenant` from it).
 */
export function identityFilterRules(tenantByNamespace: Readonly<Record<string, string>>): OverrideRules {
  const tier = { expression: annotationExpression(TIER_ANNOTATION) };
  return {
    response: {
      success: {
        filters: identityFilters({
          userid: { expression: annotationExpression(USER_ANNOTATION) },
          groups: tier,
          tier,
          tenant: { expression: tenantExpression(tenantByNamespace) },
        }),
      },
    },
  };
}

/** Merges rule sets by rule name (a name used twice is a bug: it throws). */
export function mergeOverrideRules(sets: readonly OverrideRules[]): Record<string, unknown> {
  const merged: Record<string, Record<string, unknown>> = {};
  const put = (section: string, rules: Record<string, unknown> | undefined) => {
    for (const [k, v] of Object.entries(rules ?? {})) {
      merged[section] ??= {};
      if (k in merged[section]) throw new Error(`gateway AuthPolicy: rule ${section}.${k} defined twice`);
      merged[section][k] = v;
    }
  };
  const filters: Record<string, unknown> = {};
  for (const s of sets) {
    put("metadata", s.metadata);
    put("authorization", s.authorization);
    const { success, ...responseRest } = s.response ?? {};
    for (const [k, v] of Object.entries(success?.filters ?? {})) {
      if (k in filters) throw new Error(`gateway AuthPolicy: filter response.success.filters.${k} defined twice`);
      filters[k] = v;
    }
    if (Object.keys(responseRest).length > 0) Object.assign((merged.response ??= {}), responseRest);
  }
  if (Object.keys(filters).length > 0) (merged.response ??= {}).success = { filters };
  return merged;
}

/** The spec of the platform's Gateway-level AuthPolicy (pure: tested without Pulumi). */
export function gatewayAuthPolicySpec(gateway: { name: string }, ...ruleSets: OverrideRules[]) {
  return {
    targetRef: { group: "gateway.networking.k8s.io", kind: "Gateway", name: gateway.name },
    overrides: { strategy: "merge" as const, rules: mergeOverrideRules(ruleSets) },
  };
}

/** Namespace → tenant for every registered tenant. */
export const tenantsByNamespace = (tenants: readonly PlatformTenant[]): Record<string, string> =>
  Object.fromEntries(tenants.flatMap((t) => platformTenantNamespaces(t).map((ns) => [ns, t.name])));

export interface GatewayAuthArgs {
  /** `platform.gateway`: the Gateway the policy targets (and its namespace). */
  readonly gateway: PlatformConfig["gateway"];
  /** `platform.quotaEnforcement`. */
  readonly enforcement: PlatformConfig["quotaEnforcement"];
  readonly tenants: readonly PlatformTenant[];
  /** Tiers each tenant may use (platformAllowedTiers); tenants left out are not restricted. */
  readonly allowedTiers: Readonly<Record<string, readonly string[]>>;
  /**
   * Whether the platform bills from the gateway's access logs (`platform.accessLogs` or
   * `platform.lokiPull`): their records take the tenant from the identity filter, so the
   * platform's filter replaces the tenant's even when no tenant is pinned to tiers.
   */
  readonly accessLogs: boolean;
  /** In-cluster billing API URL (BillingService.url). */
  readonly billingUrl: pulumi.Input<string>;
  /** The gateway's billing token (secret output of billingTokens.ts), issued when quota enforcement is on. */
  readonly gatewayToken?: pulumi.Output<string>;
  /**
   * The billing API's Deployment: the policy is applied after its rollout, because the quota body
   * names the key's namespace, which billing pods older than that form refuse (400: a fail-closed
   * gateway would refuse every request while they still answer).
   */
  readonly billingDeployment?: pulumi.Resource;
}

/**
 * Renders the platform's Gateway AuthPolicy with every rule set that applies (quota check when
 * enforcement is on, allowed tiers when a tenant is pinned) and, for the quota check, the Secret
 * with the gateway's token in Authorino's namespace; nothing when no rule applies.
 */
/**
 * The rule sets of the platform's Gateway AuthPolicy (pure): the quota check when `quota`, the
 * allowed tiers when a tenant is pinned, the identity filter when a tenant is pinned or access
 * logs are billed; empty when no rule applies.
 */
export function gatewayAuthRuleSets(args: Pick<GatewayAuthArgs, "enforcement" | "tenants" | "allowedTiers" | "accessLogs">, quota: boolean, billingUrl: string): OverrideRules[] {
  const tenantByNamespace = tenantsByNamespace(args.tenants);
  const byNamespace = allowedTiersByNamespace(args.tenants, args.allowedTiers);
  // Pinned tenants get the tier rule; the identity filter replaces the tenants' own when anyone is
  // pinned or the access logs (which take their tenant from it) are billed.
  const pinned = Object.keys(byNamespace).length > 0;
  const sets = [
    ...(quota
      ? [
          quotaOverrideRules({
            billingUrl,
            cacheTtlSeconds: args.enforcement.cacheTtlSeconds,
            failureMode: args.enforcement.failureMode,
            tokenSecret: { name: gatewayBillingTokenSecretName, key: "token" },
          }),
        ]
      : []),
    ...(pinned ? [allowedTierRule(byNamespace)] : []),
    ...(pinned || args.accessLogs ? [identityFilterRules(tenantByNamespace)] : []),
  ];
  // Whenever the policy is rendered: no identity without a key namespace passes it.
  return sets.length === 0 ? [] : [...sets, keyIdentityRule()];
}

export function createGatewayAuth(name: string, args: GatewayAuthArgs, parent: pulumi.Resource): k8s.apiextensions.CustomResource | undefined {
  const quota = args.enforcement.enabled && args.gatewayToken !== undefined;
  if (gatewayAuthRuleSets(args, quota, "").length === 0) return undefined;
  const secret = quota
    ? new k8s.core.v1.Secret(
        `${name}-gateway-billing-token`,
        {
          metadata: { name: gatewayBillingTokenSecretName, namespace: args.enforcement.authorinoNamespace, labels: appLabels(gatewayBillingTokenSecretName, "gateway-auth") },
          type: "Opaque",
          stringData: { token: pulumi.secret(args.gatewayToken!) },
        },
        { parent },
      )
    : undefined;
  return new k8s.apiextensions.CustomResource(
    `${name}-gateway-auth-policy`,
    {
      apiVersion: "kuadrant.io/v1",
      kind: "AuthPolicy",
      metadata: { name: gatewayAuthPolicyName, namespace: args.gateway.namespace, labels: appLabels(gatewayAuthPolicyName, "gateway-auth") },
      spec: pulumi.output(args.billingUrl).apply((billingUrl) => gatewayAuthPolicySpec(args.gateway, ...gatewayAuthRuleSets(args, quota, billingUrl))),
    },
    { parent, dependsOn: [...(secret ? [secret] : []), ...(args.billingDeployment ? [args.billingDeployment] : [])] },
  );
}
