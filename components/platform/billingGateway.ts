import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";

/*
 * The billing API's own Gateway (kubernetes flavor, when `platform.billing.host` is set). Tenants
 * manage HTTPRoutes on the shared Gateway (`platform.gateway`); there a tenant route with the billing
 * hostname and a more specific path would win by precedence and receive the callers' bearer tokens.
 * The billing API gets a Gateway the platform owns outright, with one listener: hostname = the billing
 * host, and `allowedRoutes` admitting HTTPRoutes from the billing namespace only, selected by
 * `kubernetes.io/metadata.name`, the label the API server sets to the namespace's name and nobody can
 * change. No ListenerSet can join it either (`spec.allowedListeners` left at its Gateway API default,
 * `from: None`).
 *
 * Why not a listener patched into the shared Gateway: that Gateway is the installer's, and a
 * server-side-apply patch of one list item in it cannot be refreshed (pulumi-kubernetes prunes the live
 * object to the patch's shape matching list items by index, so the installer's first listener stands in
 * for ours and every refresh reports drift). A whole object of its own refreshes cleanly and is deleted
 * with the stack without touching the installer's Gateway.
 *
 * The exposed platform Grafana gets a Gateway of its own the same way (grafana.ts, review R12): the
 * platform's Gateway AuthPolicy (gatewayAuth.ts) targets the shared Gateway and refuses every
 * request without an API key, which a browser never sends. Kuadrant enforces a Gateway-targeted
 * policy on the routes attached to that Gateway only ("Targeting a Gateway networking resource",
 * Kuadrant/kuadrant-operator doc/overviews/auth.md: a route on another Gateway gets no policy), so
 * these Gateways carry none, and a tenant route can join neither (allowedRoutes below; the route
 * admission policy, routeAdmission.ts, also refuses a tenant route whose parent is any Gateway but
 * the shared one).
 *
 * It lives in the shared Gateway's namespace: the Gateway controller (Istio, Envoy Gateway, ...) already
 * serves Gateways there, the TLS Secret sits next to the installer's, and the billing API's ingress
 * policy already admits that namespace (networkPolicies.ts), so the billing Gateway's pods need no new
 * peer.
 */

/** Label the API server sets on every namespace to its name (immutable; Kubernetes >= 1.22). */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/** Name of the billing Gateway's one listener (the billing HTTPRoute's `sectionName`). */
export const BILLING_LISTENER_NAME = "maas-billing";

export interface BillingGatewaySettings {
  /** Gateway name, in the shared Gateway's namespace. */
  readonly name: string;
  readonly gatewayClassName: string;
  readonly port: number;
  readonly protocol: "HTTPS" | "HTTP";
  /** TLS Secret in the Gateway's namespace (HTTPS). */
  readonly certificateSecret: string;
}

/** One Gateway API listener, as in `Gateway.spec.listeners[]`. */
export interface GatewayListener {
  readonly name: string;
  readonly hostname?: string;
  readonly port: number;
  readonly protocol: string;
  readonly tls?: unknown;
  readonly allowedRoutes?: {
    readonly namespaces?: { readonly from?: "All" | "Same" | "Selector"; readonly selector?: { matchLabels?: Record<string, string> } };
    readonly kinds?: ReadonlyArray<{ group?: string; kind: string }>;
  };
}

/**
 * A listener of a Gateway the platform owns for one non-model app (the billing API, the platform
 * Grafana): that app's host only, HTTPRoutes from that app's namespace only (selected by the name
 * label the API server sets, which nobody can change).
 */
export function appListener(name: string, host: string, appNamespace: string, s: Pick<BillingGatewaySettings, "port" | "protocol" | "certificateSecret">): GatewayListener {
  return {
    name,
    hostname: host,
    port: s.port,
    protocol: s.protocol,
    ...(s.protocol === "HTTPS" ? { tls: { mode: "Terminate", certificateRefs: [{ group: "", kind: "Secret", name: s.certificateSecret }] } } : {}),
    allowedRoutes: {
      namespaces: { from: "Selector", selector: { matchLabels: { [NAMESPACE_NAME_LABEL]: appNamespace } } },
      kinds: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute" }],
    },
  };
}

/** The billing listener: the billing host only, HTTPRoutes from the billing namespace only. */
export const billingListener = (host: string, billingNamespace: string, s: Pick<BillingGatewaySettings, "port" | "protocol" | "certificateSecret">): GatewayListener =>
  appListener(BILLING_LISTENER_NAME, host, billingNamespace, s);

/** A whole Gateway object with one app's listener as its only listener. */
export function appGatewaySpec(namespace: string, listener: GatewayListener, s: Pick<BillingGatewaySettings, "name" | "gatewayClassName">, labels: Record<string, string>) {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name: s.name, namespace, labels },
    spec: { gatewayClassName: s.gatewayClassName, listeners: [listener] },
  };
}

/** The billing Gateway: a whole Gateway object with the billing listener as its only listener. */
export const billingGatewaySpec = (namespace: string, host: string, billingNamespace: string, s: BillingGatewaySettings, labels: Record<string, string>) =>
  appGatewaySpec(namespace, billingListener(host, billingNamespace, s), s, labels);

export function createBillingGateway(name: string, spec: ReturnType<typeof appGatewaySpec>, opts: pulumi.CustomResourceOptions): k8s.apiextensions.CustomResource {
  return new k8s.apiextensions.CustomResource(`${name}-gateway`, spec, opts);
}
