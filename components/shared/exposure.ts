import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Flavor } from "../config";
import type { GatewayRef } from "../contract";

/*
 * External access to an in-cluster Service, the same way for every exposed workload (the billing
 * API, the platform and tenant Grafanas): an OpenShift Route with edge TLS on `openshift`, a Gateway
 * API HTTPRoute on the platform Gateway on `kubernetes`. Spec builders are pure; exposeService
 * declares the one object the flavor needs.
 */

export interface ServiceExposure {
  /** Name of the Route/HTTPRoute (the Service's name). */
  readonly name: string;
  /** Namespace of the Service, and of the Route/HTTPRoute. */
  readonly namespace: pulumi.Input<string>;
  /** Labels of the Route/HTTPRoute. */
  readonly labels: Record<string, string>;
  /** The Service the Route points to (an Output makes the Route wait for it). */
  readonly serviceName: pulumi.Input<string>;
  /** Port of the Service an HTTPRoute sends to (a Route targets the port named `http`). */
  readonly port: number;
  /** External host; optional on a Route (the router assigns one), and an HTTPRoute without it matches any host. */
  readonly host?: string;
  /** Gateway the HTTPRoute attaches to. */
  readonly gateway: pulumi.Input<GatewayRef>;
  /** The Gateway listener the HTTPRoute attaches to (`parentRefs[].sectionName`); every listener that admits it when omitted. */
  readonly sectionName?: string;
  /** Only requests under these path prefixes are routed (HTTPRoute); everything when omitted. */
  readonly pathPrefixes?: readonly string[];
}

/** Where one OpenShift Route goes: a Route serves one path, so a Service exposed under several prefixes gets one Route per prefix. */
export interface RoutePlacement {
  /** The path prefix this Route serves; the whole Service when omitted. */
  readonly path?: string;
  /** Host of this Route; `e.host` when omitted. An Output for the host OpenShift generated for a sibling Route. */
  readonly host?: pulumi.Input<string | undefined>;
}

/** The OpenShift Route: edge TLS, plain HTTP redirected. */
export function routeSpec(e: ServiceExposure, placement: RoutePlacement = {}) {
  const host = placement.host ?? e.host;
  return {
    apiVersion: "route.openshift.io/v1",
    kind: "Route",
    metadata: { name: e.name, namespace: e.namespace, labels: e.labels },
    spec: {
      ...(host !== undefined ? { host } : {}),
      ...(placement.path ? { path: placement.path } : {}),
      to: { kind: "Service", name: e.serviceName, weight: 100 },
      port: { targetPort: "http" },
      tls: { termination: "edge", insecureEdgeTerminationPolicy: "Redirect" },
    },
  };
}

/** The Gateway API HTTPRoute on the platform Gateway. */
export function httpRouteSpec(e: ServiceExposure, gateway: GatewayRef) {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: e.name, namespace: e.namespace, labels: e.labels },
    spec: {
      parentRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: gateway.name, namespace: gateway.namespace, ...(e.sectionName ? { sectionName: e.sectionName } : {}) }],
      ...(e.host ? { hostnames: [e.host] } : {}),
      rules: [
        {
          ...(e.pathPrefixes?.length ? { matches: e.pathPrefixes.map((value) => ({ path: { type: "PathPrefix", value } })) } : {}),
          backendRefs: [{ name: e.name, port: e.port }],
        },
      ],
    },
  };
}

/** What exposeService declared. */
export interface ExposedService {
  /** The external host: the configured one, the one OpenShift generated for the Route, or undefined (an HTTPRoute without a host). */
  readonly host: pulumi.Output<string | undefined>;
}

/** `/portal/` → `portal`: the role of a Route for a further path prefix in its names. */
const pathRole = (path: string): string =>
  path
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");

/**
 * Declares `${name}-httproute` (kubernetes) or `${name}-route` (openshift) for the Service. On
 * openshift, each further path prefix gets its own Route `${name}-<path>-route` (object
 * `${e.name}-<path>`) on the same host, the generated one when none is configured, so every prefix
 * stays on one origin.
 */
export function exposeService(name: string, flavor: Flavor, e: ServiceExposure, opts: pulumi.CustomResourceOptions): ExposedService {
  if (flavor === "openshift") {
    const [first, ...rest] = e.pathPrefixes ?? [];
    const route = new k8s.apiextensions.CustomResource(`${name}-route`, routeSpec(e, { path: first }), opts);
    // Without a configured host OpenShift generates one into spec.host on creation: read it back.
    const host: pulumi.Output<string | undefined> = e.host
      ? pulumi.output(e.host)
      : (route as unknown as { spec: pulumi.Output<{ host?: string } | undefined> }).spec.apply((spec) => spec?.host);
    for (const path of rest) {
      const role = pathRole(path);
      new k8s.apiextensions.CustomResource(`${name}-${role}-route`, routeSpec({ ...e, name: `${e.name}-${role}` }, { path, host }), opts);
    }
    return { host };
  }
  // The Gateway may be an output (a tenant stack reads it from the platform): build the spec once it is known.
  const { apiVersion, kind, metadata } = httpRouteSpec(e, { name: "", namespace: "" });
  const spec = pulumi.output(e.gateway).apply((gateway) => httpRouteSpec(e, gateway).spec);
  new k8s.apiextensions.CustomResource(`${name}-httproute`, { apiVersion, kind, metadata, spec }, opts);
  return { host: pulumi.output(e.host) };
}
