/**
 * The effective TokenRateLimitPolicy limits of one HTTPRoute, computed from rendered objects with
 * Kuadrant's Defaults & Overrides rules (Kuadrant architecture RFC 0009, "Matrix of D/O strategies
 * and Effective Policy"):
 * - a policy's bare `limits` are implicit atomic defaults;
 * - defaults: the more specific (route) policy beats the less specific (gateway) one, as a whole set
 *   (`atomic`) or limit by limit (`merge`);
 * - overrides: the less specific (gateway) policy beats the more specific one, as a whole set
 *   (`atomic`) or limit by limit (`merge`, the route's other limits stay).
 * A model for render-level checks (what the platform and a tenant put in the cluster), not a
 * re-implementation of kuadrant-operator; policy ordering among several policies on one target is
 * not modelled (the renders here hold at most one per target).
 */
import type { K8sObject } from "../../scripts/render";

export interface EffectiveLimit {
  /** `<namespace>/<name>` of the policy the limit comes from. */
  readonly from: string;
  readonly limit: { rates?: unknown[]; when?: Array<{ predicate: string }>; counters?: unknown[] };
}

interface Target {
  readonly kind: "Gateway" | "HTTPRoute";
  readonly namespace: string;
  readonly name: string;
}

type Block = { strategy?: "atomic" | "merge"; limits?: Record<string, EffectiveLimit["limit"]> };

const targets = (o: K8sObject, t: Target): boolean => {
  const ref = (o.spec as { targetRef?: { kind?: string; name?: string } } | undefined)?.targetRef;
  return o.kind === "TokenRateLimitPolicy" && ref?.kind === t.kind && ref.name === t.name && o.metadata.namespace === t.namespace;
};

const blocks = (o: K8sObject): { defaults?: Block; overrides?: Block } => {
  const spec = o.spec as { limits?: Block["limits"]; defaults?: Block; overrides?: Block };
  return { defaults: spec.defaults ?? (spec.limits ? { strategy: "atomic", limits: spec.limits } : undefined), overrides: spec.overrides };
};

const tagged = (o: K8sObject, b: Block): Map<string, EffectiveLimit> =>
  new Map(Object.entries(b.limits ?? {}).map(([name, limit]) => [name, { from: `${o.metadata.namespace}/${o.metadata.name}`, limit }]));

/** The effective limits of `route` attached to `gateway`, by limit name. */
export function effectiveTokenLimits(objects: readonly K8sObject[], gateway: Omit<Target, "kind">, route: Omit<Target, "kind">): Map<string, EffectiveLimit> {
  const gatewayPolicies = objects.filter((o) => targets(o, { kind: "Gateway", ...gateway }));
  const routePolicies = objects.filter((o) => targets(o, { kind: "HTTPRoute", ...route }));
  let effective = new Map<string, EffectiveLimit>();
  // Defaults: gateway first, then the route's replace them (atomic) or win name by name (merge).
  for (const p of gatewayPolicies) {
    const d = blocks(p).defaults;
    if (d) effective = tagged(p, d);
  }
  for (const p of routePolicies) {
    const d = blocks(p).defaults;
    if (!d) continue;
    effective = d.strategy === "merge" ? new Map([...effective, ...tagged(p, d)]) : tagged(p, d);
  }
  // Overrides: the route's own first, then the gateway's, which win.
  for (const p of [...routePolicies, ...gatewayPolicies]) {
    const o = blocks(p).overrides;
    if (!o) continue;
    effective = o.strategy === "merge" ? new Map([...effective, ...tagged(p, o)]) : tagged(p, o);
  }
  return effective;
}
