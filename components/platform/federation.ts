import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Flavor } from "../config";
import type { PlatformConfig, PlatformTenant } from "../config/platform";
import { platformTenantNamespaces } from "../config/platform";
import { appLabels, containerSecurityContext, podSecurityContext } from "./security";

export interface FederationArgs {
  /** Cluster flavor; on openshift the SCC picks the UID, so none is set. */
  readonly flavor: Flavor;
  /** The platform's tenant registry (`platform.tenants`). */
  readonly tenants: PlatformTenant[];
  /** Namespace the proxies run in (the platform monitoring namespace). */
  readonly namespace: pulumi.Input<string>;
  /** The validated `platform.federation` config. */
  readonly federation: PlatformConfig["federation"];
  /** Central `/federate` base URL, used when `federation.upstreamUrl` is not set. */
  readonly defaultUpstream: string;
}

/** The two label-enforcing proxies of a tenant (docs/contract.md, "Tenant isolation design"). */
export const federationProxyRoles = [
  { role: "models", label: "namespace" },
  { role: "gateway", label: "route_namespace" },
] as const;

export const federationProxyPort = 8080;

/** `maas-fed-<tenant>-<role>`: at most 63 characters because tenant names are at most 40. */
export const federationProxyName = (tenant: string, role: string) => `maas-fed-${tenant}-${role}`;

/** prom-label-proxy arguments enforcing `label` to be one of the tenant's namespaces. */
export function proxyArgs(upstream: string, label: string, namespaces: string[]): string[] {
  return [
    `--insecure-listen-address=0.0.0.0:${federationProxyPort}`,
    `--upstream=${upstream}`,
    `--label=${label}`,
    // Static values: the tenant cannot choose them through a URL parameter.
    ...namespaces.map((ns) => `--value=${ns}`),
  ];
}

/**
 * Per tenant, two prom-label-proxy Deployments with a Service each, in front of the central
 * Prometheus: one enforcing `namespace` (model-server series), one `route_namespace` (Limitador
 * series). A NetworkPolicy admits only pods of that tenant's namespaces. Returns the federation
 * output of docs/contract.md: tenant -> { url, gatewayUrl }.
 */
export function createFederationProxies(
  name: string,
  args: FederationArgs,
  parent: pulumi.Resource,
): pulumi.Output<Record<string, { url: string; gatewayUrl: string }>> {
  const upstream = args.federation.upstreamUrl ?? args.defaultUpstream;
  const endpoints: Record<string, pulumi.Output<{ url: string; gatewayUrl: string }>> = {};
  for (const tenant of args.tenants) {
    const namespaces = platformTenantNamespaces(tenant);
    const urls: Record<string, pulumi.Output<string>> = {};
    for (const { role, label } of federationProxyRoles) {
      const proxyName = federationProxyName(tenant.name, role);
      const labels = { ...appLabels(proxyName, "federation-proxy"), "maas.opendatahub.io/tenant": tenant.name };
      const selector = { "app.kubernetes.io/name": proxyName, "app.kubernetes.io/component": "federation-proxy" };
      const meta = { name: proxyName, namespace: args.namespace, labels };
      const childName = `${name}-fed-${tenant.name}-${role}`;
      new k8s.apps.v1.Deployment(
        `${childName}-deployment`,
        {
          metadata: meta,
          spec: {
            replicas: 1,
            selector: { matchLabels: selector },
            template: {
              metadata: { labels: { ...labels, ...selector } },
              spec: {
                automountServiceAccountToken: false,
                securityContext: podSecurityContext(args.flavor, 65534),
                containers: [
                  {
                    name: "prom-label-proxy",
                    image: args.federation.proxyImage,
                    args: proxyArgs(upstream, label, namespaces),
                    ports: [{ name: "http", containerPort: federationProxyPort }],
                    readinessProbe: { tcpSocket: { port: "http" }, periodSeconds: 10 },
                    resources: args.federation.resources,
                    securityContext: containerSecurityContext(),
                  },
                ],
              },
            },
          },
        },
        { parent },
      );
      const service = new k8s.core.v1.Service(
        `${childName}-service`,
        { metadata: meta, spec: { selector, ports: [{ name: "http", port: federationProxyPort, targetPort: "http" }] } },
        { parent },
      );
      new k8s.networking.v1.NetworkPolicy(
        `${childName}-network-policy`,
        {
          metadata: meta,
          spec: {
            podSelector: { matchLabels: selector },
            policyTypes: ["Ingress"],
            ingress: [
              {
                from: [
                  {
                    namespaceSelector: {
                      matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: namespaces }],
                    },
                  },
                ],
                ports: [{ protocol: "TCP", port: federationProxyPort }],
              },
            ],
          },
        },
        { parent },
      );
      urls[role] = pulumi.interpolate`http://${service.metadata.name}.${args.namespace}.svc:${federationProxyPort}`;
    }
    endpoints[tenant.name] = pulumi.all([urls.models, urls.gateway]).apply(([url, gatewayUrl]) => ({ url, gatewayUrl }));
  }
  return pulumi.output(endpoints);
}
