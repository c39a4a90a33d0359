/**
 * (Used by test/platform-billing-listener.test.ts on the render and by the e2e render stage on the live objects.)
 * The parts of Gateway API semantics the isolation tests evaluate, written from the API's own
 * definitions (the `Gateway` CRD's field descriptions, gateway.networking.k8s.io v1, in
 * MAAS_CRDS_DIR), not from the code under test:
 * - `listeners[].allowedRoutes.namespaces.from`: `Same` (the default) admits routes in the Gateway's
 *   namespace, `All` any namespace, `Selector` namespaces whose labels match `selector`;
 *   `allowedRoutes.kinds`, when set, limits the route kinds;
 * - a route's `parentRefs[].sectionName` names the one listener it attaches to; without it the route
 *   attaches to every listener that admits it;
 * - a request is handled by the listener whose hostname matches the request host most specifically
 *   (an exact hostname before a wildcard, a wildcard before none).
 */

export interface Listener {
  readonly name: string;
  readonly hostname?: string;
  readonly allowedRoutes?: {
    readonly namespaces?: { readonly from?: string; readonly selector?: LabelSelector };
    readonly kinds?: ReadonlyArray<{ readonly group?: string; readonly kind: string }>;
  };
}

export interface LabelSelector {
  readonly matchLabels?: Record<string, string>;
  readonly matchExpressions?: ReadonlyArray<{ key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }>;
}

/** metav1.LabelSelector semantics: every matchLabels pair and every expression must hold. */
export function selectorMatches(selector: LabelSelector, labels: Record<string, string>): boolean {
  const pairs = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const expressions = (selector.matchExpressions ?? []).every((e) => {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    switch (e.operator) {
      case "In":
        return has && (e.values ?? []).includes(labels[e.key]);
      case "NotIn":
        return !has || !(e.values ?? []).includes(labels[e.key]);
      case "Exists":
        return has;
      case "DoesNotExist":
        return !has;
    }
  });
  return pairs && expressions;
}

/** Whether `listener` of a Gateway in `gatewayNamespace` admits an HTTPRoute in a namespace with these labels. */
export function listenerAdmits(listener: Listener, gatewayNamespace: string, route: { namespace: string; namespaceLabels: Record<string, string>; kind?: string }): boolean {
  const kind = route.kind ?? "HTTPRoute";
  const kinds = listener.allowedRoutes?.kinds;
  if (kinds && kinds.length > 0 && !kinds.some((k) => k.kind === kind && (k.group ?? "gateway.networking.k8s.io") === "gateway.networking.k8s.io")) return false;
  const from = listener.allowedRoutes?.namespaces?.from ?? "Same";
  if (from === "All") return true;
  if (from === "Same") return route.namespace === gatewayNamespace;
  if (from === "Selector") return selectorMatches(listener.allowedRoutes?.namespaces?.selector ?? {}, route.namespaceLabels);
  return false;
}

/** The listeners a route's parentRef attaches to (sectionName names one; none means every admitting listener). */
export function attachedListeners(
  listeners: readonly Listener[],
  gatewayNamespace: string,
  parentRef: { sectionName?: string },
  route: { namespace: string; namespaceLabels: Record<string, string> },
): Listener[] {
  return listeners.filter((l) => (parentRef.sectionName === undefined || l.name === parentRef.sectionName) && listenerAdmits(l, gatewayNamespace, route));
}

const hostMatches = (pattern: string | undefined, host: string): boolean =>
  pattern === undefined || pattern === host || (pattern.startsWith("*.") && host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1);

/** The listener a request for `host` is handled by: the most specific matching hostname. */
export function listenerForHost(listeners: readonly Listener[], host: string): Listener | undefined {
  const rank = (l: Listener) => (l.hostname === undefined ? 0 : l.hostname.startsWith("*.") ? l.hostname.length : 1000 + l.hostname.length);
  return listeners.filter((l) => hostMatches(l.hostname, host)).sort((a, b) => rank(b) - rank(a))[0];
}
