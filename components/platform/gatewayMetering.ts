import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig } from "../config/platform";
import { appLabels } from "./security";

/*
 * Metering the tenant cannot switch off (docs/threat-model.md B2). The billed counter is
 * Limitador's `authorized_hits`, which exists only where a TokenRateLimitPolicy limit applies. A
 * tenant's own TRLP is the tenant's to edit or delete, so the platform puts its own limit on the
 * Gateway as an OVERRIDE with the `merge` strategy (Kuadrant RFC 0009 "Defaults & Overrides":
 * merged overrides are compared rule by rule by name and the less specific, i.e. the Gateway's,
 * wins; "gateway-override-policy-rule": rules that "cannot be individually replaced by more specific
 * ones, but only expanded"). So on every HTTPRoute attached to the Gateway:
 * - the limit `maas-billing-metering` applies whatever the route's own TRLP says, or if it has none;
 * - a tenant TRLP limit of the same name is replaced by the platform's, its other limits stay (the
 *   tenant keeps shaping its own per-tier limits);
 * - the limit has no `when`, so no predicate of the tenant's can make it not match.
 * Limitador labels the counters `limitador_namespace="<HTTPRoute ns>/<HTTPRoute name>"` even for
 * Gateway-targeted policies (../shared/docs/field-notes.md §2.1), so the collector attributes them to
 * the tenant owning the route's namespace, as before. The rate is far above any real traffic: the
 * limit meters, it does not throttle (the tenant's own limits do that).
 */

/** Name of the platform's metering limit (and of the TokenRateLimitPolicy holding it). */
export const METERING_LIMIT = "maas-billing-metering";

/** Tokens per hour of the metering limit: 10^15, far above any gateway's traffic, so it never limits. */
export const METERING_RATE = { limit: 1_000_000_000_000_000, window: "1h" } as const;

/** The platform TokenRateLimitPolicy spec: an override on the Gateway, merged rule by rule. */
export function meteringPolicySpec(gateway: PlatformConfig["gateway"]) {
  return {
    targetRef: { group: "gateway.networking.k8s.io", kind: "Gateway", name: gateway.name },
    overrides: {
      strategy: "merge",
      limits: { [METERING_LIMIT]: { rates: [{ ...METERING_RATE }] } },
    },
  };
}

/** The platform-owned metering TokenRateLimitPolicy in the Gateway's namespace (tenants have no rights there). */
export function createMeteringPolicy(name: string, gateway: PlatformConfig["gateway"], parent: pulumi.Resource): k8s.apiextensions.CustomResource {
  return new k8s.apiextensions.CustomResource(
    `${name}-metering-policy`,
    {
      apiVersion: "kuadrant.io/v1alpha1",
      kind: "TokenRateLimitPolicy",
      metadata: { name: METERING_LIMIT, namespace: gateway.namespace, labels: appLabels(METERING_LIMIT, "metering") },
      spec: meteringPolicySpec(gateway),
    },
    { parent },
  );
}
