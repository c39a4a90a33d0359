import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig, PlatformTenant } from "../config/platform";
import { platformTenantNamespaces } from "../config/platform";
import { TIER_ANNOTATION } from "../tenant/apiKeys";
import { appLabels } from "./security";

/*
 * The platform-owned Gateway-level AuthPolicy (kuadrant.io/v1, `overrides` with strategy `merge`):
 * rules the platform adds to every tenant route's AuthPolicy, which a tenant admin can neither
 * remove nor weaken (its own route policy is merged under them, and an override wins a conflict).
 *
 * ONE object for every platform gateway rule. Issue #16 puts the quota check here; issue #13's
 * tier rule (deny a key whose tier the tenant is not allowed) belongs in the same `overrides.rules`
 * — extend gatewayAuthPolicySpec() rather than adding a second Gateway-level AuthPolicy (Kuadrant
 * would let only one of two overrides on the same Gateway win).
 *
 * Quota check (docs/platform.md "Gateway enforcement"; fields checked against
 * ../shared/crds/kuadrant.io_authpolicies.yaml and Authorino's docs/features.md, "HTTP
 * GET/GET-by-POST (metadata.http)", "Caching (cache)", "Custom denial status"):
 *  - metadata `quota`: Authorino POSTs {tenant, user, tier} as JSON (bodyParameters: Authorino
 *    serialises each value, so a crafted annotation cannot inject another tenant into the body)
 *    to the billing service's POST /v1/quota/authorize, with the gateway's billing token from a
 *    Secret in Authorino's namespace (sharedSecretRef, sent as `Authorization: Bearer`). The
 *    tenant is the platform's namespace→tenant map applied to the namespace of the API key's
 *    Secret (a tenant can only store keys in its own namespaces); user and tier are the key's
 *    annotations. Cached per (tenant, user, tier) for `cacheTtlSeconds`.
 *  - authorization `quota`: allowed unless the billing service said allowed=false (fail-open), or
 *    only when it said allowed=true (fail-closed: billing down or slow means refused).
 *  - response.unauthorized: 429 with the billing service's message naming the quota and its reset
 *    time (and header x-maas-quota-reset). Authorino has one denial status per AuthConfig, so
 *    other authorization denials on the gateway answer 429 too, with body "forbidden".
 */

/** The user annotation of an API key Secret (components/tenant/apiKeys.ts writes it for Authorino). */
const USER_ANNOTATION = "kuadrant.io/user-id";

/** Secret in Authorino's namespace with the gateway's billing API token (key `token`). */
export const gatewayBillingTokenSecretName = "maas-billing-gateway-token";
export const gatewayAuthPolicyName = "maas-platform-gateway-auth";

export interface QuotaEnforcementSpec {
  /** Base URL of the billing API as Authorino reaches it (in-cluster Service URL). */
  readonly billingUrl: string;
  /** Namespace of each tenant's API keys → tenant name. */
  readonly tenantByNamespace: Readonly<Record<string, string>>;
  readonly cacheTtlSeconds: number;
  readonly failureMode: "open" | "closed";
  /** Secret (in Authorino's namespace) holding the gateway's billing token under `key`. */
  readonly tokenSecret: { readonly name: string; readonly key: string };
}

/** CEL: the tenant of the API key, from the namespace its Secret lives in ("" for an unknown namespace). */
export const tenantExpression = (tenantByNamespace: Readonly<Record<string, string>>): string => {
  const map = Object.entries(tenantByNamespace)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([ns, tenant]) => `${JSON.stringify(ns)}: ${JSON.stringify(tenant)}`)
    .join(", ");
  return `auth.identity.metadata.namespace in {${map}} ? {${map}}[auth.identity.metadata.namespace] : ""`;
};

const annotation = (key: string): string =>
  `has(auth.identity.metadata.annotations) && ${JSON.stringify(key)} in auth.identity.metadata.annotations ? auth.identity.metadata.annotations[${JSON.stringify(key)}] : ""`;

/** CEL predicates of the authorization rule, per failure mode. */
export const quotaPredicate = (failureMode: "open" | "closed"): string =>
  failureMode === "closed"
    ? "has(auth.metadata.quota.allowed) && auth.metadata.quota.allowed == true"
    : "!has(auth.metadata.quota) || !has(auth.metadata.quota.allowed) || auth.metadata.quota.allowed != false";

/** The quota parts of the override rules (metadata, authorization, response). */
export function quotaOverrideRules(q: QuotaEnforcementSpec) {
  const tenant = tenantExpression(q.tenantByNamespace);
  const user = annotation(USER_ANNOTATION);
  const tier = annotation(TIER_ANNOTATION);
  const denied = "has(auth.metadata.quota.allowed) && auth.metadata.quota.allowed == false";
  return {
    metadata: {
      quota: {
        http: {
          url: `${q.billingUrl.replace(/\/+$/, "")}/v1/quota/authorize`,
          method: "POST" as const,
          contentType: "application/json" as const,
          bodyParameters: { tenant: { expression: tenant }, user: { expression: user }, tier: { expression: tier } },
          sharedSecretRef: { name: q.tokenSecret.name, key: q.tokenSecret.key },
          credentials: { authorizationHeader: { prefix: "Bearer" } },
        },
        cache: { key: { expression: `(${tenant}) + "/" + (${user}) + "/" + (${tier})` }, ttl: q.cacheTtlSeconds },
      },
    },
    authorization: {
      quota: { patternMatching: { patterns: [{ predicate: quotaPredicate(q.failureMode) }] } },
    },
    response: {
      unauthorized: {
        code: 429,
        headers: { "x-maas-quota-reset": { expression: `${denied} ? auth.metadata.quota.exceeded.resetsAt : ""` } },
        body: { expression: `${denied} ? auth.metadata.quota.message : "forbidden"` },
      },
    },
  };
}

/** The spec of the platform's Gateway-level AuthPolicy (pure: tested without Pulumi). */
export function gatewayAuthPolicySpec(gateway: { name: string }, quota: QuotaEnforcementSpec) {
  return {
    targetRef: { group: "gateway.networking.k8s.io", kind: "Gateway", name: gateway.name },
    overrides: { strategy: "merge" as const, rules: quotaOverrideRules(quota) },
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
  /** In-cluster billing API URL (BillingService.url). */
  readonly billingUrl: pulumi.Input<string>;
  /** The gateway's billing token (secret output of billingTokens.ts). */
  readonly gatewayToken: pulumi.Output<string>;
}

/** Renders the Secret with the gateway's token in Authorino's namespace and the AuthPolicy. */
export function createGatewayAuth(name: string, args: GatewayAuthArgs, parent: pulumi.Resource): k8s.apiextensions.CustomResource | undefined {
  if (!args.enforcement.enabled) return undefined;
  const secret = new k8s.core.v1.Secret(
    `${name}-gateway-billing-token`,
    {
      metadata: { name: gatewayBillingTokenSecretName, namespace: args.enforcement.authorinoNamespace, labels: appLabels(gatewayBillingTokenSecretName, "gateway-auth") },
      type: "Opaque",
      stringData: { token: pulumi.secret(args.gatewayToken) },
    },
    { parent },
  );
  return new k8s.apiextensions.CustomResource(
    `${name}-gateway-auth-policy`,
    {
      apiVersion: "kuadrant.io/v1",
      kind: "AuthPolicy",
      metadata: { name: gatewayAuthPolicyName, namespace: args.gateway.namespace, labels: appLabels(gatewayAuthPolicyName, "gateway-auth") },
      spec: pulumi.output(args.billingUrl).apply((billingUrl) =>
        gatewayAuthPolicySpec(args.gateway, {
          billingUrl,
          tenantByNamespace: tenantsByNamespace(args.tenants),
          cacheTtlSeconds: args.enforcement.cacheTtlSeconds,
          failureMode: args.enforcement.failureMode,
          tokenSecret: { name: gatewayBillingTokenSecretName, key: "token" },
        }),
      ),
    },
    { parent, dependsOn: [secret] },
  );
}
