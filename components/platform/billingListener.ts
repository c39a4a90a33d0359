import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { GatewayRef } from "../contract";

/*
 * The billing API's own listener on the shared Gateway (kubernetes flavor, when `platform.billing.host`
 * is set). Tenants manage HTTPRoutes on the same Gateway; on a shared listener a tenant route with the
 * billing hostname and a more specific path would win by precedence and receive the callers' bearer
 * tokens. A listener whose hostname is the billing host takes every request for that host (a request
 * is matched to the listener with the most specific matching hostname), and its `allowedRoutes` admit
 * HTTPRoutes from the billing namespace only, selected by `kubernetes.io/metadata.name`, the label the
 * API server sets to the namespace's name and nobody can change. The Gateway is not the platform's (the
 * installer's or the MaaS operator's): the listener is added by a server-side-apply patch, and
 * `spec.listeners` is a map keyed by name in the Gateway API CRD, so the Gateway's other listeners stay
 * as they are; deleting the patch removes only this listener.
 */

/** Label the API server sets on every namespace to its name (immutable; Kubernetes >= 1.22). */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

export interface BillingListenerSettings {
  /** Listener name, the billing HTTPRoute's `sectionName`. */
  readonly name: string;
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

/** The billing listener: the billing host only, HTTPRoutes from the billing namespace only. */
export function billingListener(host: string, billingNamespace: string, s: BillingListenerSettings): GatewayListener {
  return {
    name: s.name,
    hostname: host,
    port: s.port,
    protocol: s.protocol,
    ...(s.protocol === "HTTPS" ? { tls: { mode: "Terminate", certificateRefs: [{ group: "", kind: "Secret", name: s.certificateSecret }] } } : {}),
    allowedRoutes: {
      namespaces: { from: "Selector", selector: { matchLabels: { [NAMESPACE_NAME_LABEL]: billingNamespace } } },
      kinds: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute" }],
    },
  };
}

/** The server-side-apply patch of the shared Gateway that adds the listener. */
export function billingListenerPatchSpec(gateway: GatewayRef, listener: GatewayListener) {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name: gateway.name, namespace: gateway.namespace },
    spec: { listeners: [listener] },
  };
}

export function createBillingListener(
  name: string,
  gateway: GatewayRef,
  listener: GatewayListener,
  opts: pulumi.CustomResourceOptions,
): k8s.apiextensions.CustomResourcePatch {
  return new k8s.apiextensions.CustomResourcePatch(`${name}-billing-listener`, billingListenerPatchSpec(gateway, listener), opts);
}
