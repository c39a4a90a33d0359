import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { Flavor } from "../config";
import { GRAFANA_PORT } from "../shared/grafana";
import { billingApiPort, billingApiSelector, billingMetricsPort } from "./billingService";
import { ACCESS_LOG_OTLP_GRPC_PORT, ACCESS_LOG_OTLP_HTTP_PORT, accessLogCollectorPodLabels } from "./accessLogCollectorSpecs";
import { centralPrometheusPodLabels, openshiftMonitoring } from "./monitoring";
import { appLabels } from "./security";

type NetworkPolicySpec = k8s.types.input.networking.v1.NetworkPolicySpec;
type Peer = k8s.types.input.networking.v1.NetworkPolicyPeer;

export const centralPrometheusPort = 9090;
/** Pod labels of every federation proxy (federation.ts). */
export const federationProxyPodLabels = { "app.kubernetes.io/component": "federation-proxy" };
/** Pod labels of the platform Grafana (platform/grafana.ts). */
export const platformGrafanaPodLabels = { "app.kubernetes.io/name": "maas-grafana" };

export interface PlatformIngressInput {
  readonly flavor: Flavor;
  readonly monitoringNamespace: string;
  readonly billingNamespace: string;
  /** Namespace of the shared Gateway (and on OpenShift of the router serving Routes). */
  readonly gatewayNamespace: string;
  /** Every namespace of every tenant (they call the billing API). */
  readonly tenantNamespaces: readonly string[];
  /** Platform Grafana: deployed, and reachable through the gateway when exposed. */
  readonly grafana: { enabled: boolean; exposed: boolean };
  /** Namespace of the access-log Collector (platform.accessLogs), when deployed: it posts to the billing API. */
  readonly accessLogCollectorNamespace?: string;
}

export interface PlatformIngressPolicy {
  readonly name: string;
  readonly namespace: string;
  readonly spec: NetworkPolicySpec;
}

const inNamespace = (namespace: string, podLabels?: Record<string, string>): Peer => ({
  namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
  ...(podLabels ? { podSelector: { matchLabels: podLabels } } : {}),
});
const tcp = (port: number) => [{ protocol: "TCP", port }];

/**
 * Ingress of the platform's monitoring and billing namespaces (issue #14): default deny in both, then
 * exactly these peers (the database and federation proxies keep their own policies, database.ts and
 * federation.ts):
 *   central Prometheus (kubernetes) :9090  <- federation proxies, platform Grafana, the billing collector
 *   billing API :8080                      <- the gateway namespace and the tenants' namespaces (and the access-log Collector)
 *   access-log Collector :4317/:4318       <- the gateway namespace (platform.accessLogs, in the billing namespace)
 *   billing metrics :8081                  <- the monitoring scraper only (central Prometheus, or the
 *                                             OpenShift user-workload Prometheus)
 *   platform Grafana :3000                 <- the gateway namespace, when exposed
 * A pure function: the render test checks every platform pod against it.
 */
export function platformIngressPolicies(input: PlatformIngressInput): PlatformIngressPolicy[] {
  const defaultDeny = (namespace: string): PlatformIngressPolicy => ({
    name: "maas-default-deny-ingress",
    namespace,
    spec: { podSelector: {}, policyTypes: ["Ingress"] },
  });
  const scraper: Peer =
    input.flavor === "kubernetes"
      ? inNamespace(input.monitoringNamespace, centralPrometheusPodLabels)
      : inNamespace(openshiftMonitoring.userWorkloadNamespace, { "app.kubernetes.io/name": "prometheus" });
  const policies: PlatformIngressPolicy[] = [
    defaultDeny(input.monitoringNamespace),
    defaultDeny(input.billingNamespace),
    {
      name: "maas-billing-api-ingress",
      namespace: input.billingNamespace,
      spec: {
        podSelector: { matchLabels: billingApiSelector },
        policyTypes: ["Ingress"],
        ingress: [
          { from: [input.gatewayNamespace, ...input.tenantNamespaces].map((ns) => inNamespace(ns)), ports: tcp(billingApiPort) },
          ...(input.accessLogCollectorNamespace !== undefined ? [{ from: [inNamespace(input.accessLogCollectorNamespace, accessLogCollectorPodLabels)], ports: tcp(billingApiPort) }] : []),
          { from: [scraper], ports: tcp(billingMetricsPort) },
        ],
      },
    },
  ];
  if (input.accessLogCollectorNamespace === input.billingNamespace) {
    // The gateway's Envoy access log service sends OTLP to the Collector.
    policies.push({
      name: "maas-access-log-collector-ingress",
      namespace: input.billingNamespace,
      spec: {
        podSelector: { matchLabels: accessLogCollectorPodLabels },
        policyTypes: ["Ingress"],
        ingress: [{ from: [inNamespace(input.gatewayNamespace)], ports: [...tcp(ACCESS_LOG_OTLP_GRPC_PORT), ...tcp(ACCESS_LOG_OTLP_HTTP_PORT)] }],
      },
    });
  }
  if (input.flavor === "kubernetes") {
    policies.push({
      name: "maas-prometheus-ingress",
      namespace: input.monitoringNamespace,
      spec: {
        podSelector: { matchLabels: centralPrometheusPodLabels },
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: [
              inNamespace(input.monitoringNamespace, federationProxyPodLabels),
              ...(input.grafana.enabled ? [inNamespace(input.monitoringNamespace, platformGrafanaPodLabels)] : []),
              inNamespace(input.billingNamespace, billingApiSelector),
            ],
            ports: tcp(centralPrometheusPort),
          },
        ],
      },
    });
  }
  if (input.grafana.enabled) {
    policies.push({
      name: "maas-grafana-ingress",
      namespace: input.monitoringNamespace,
      spec: {
        podSelector: { matchLabels: platformGrafanaPodLabels },
        policyTypes: ["Ingress"],
        ...(input.grafana.exposed ? { ingress: [{ from: [inNamespace(input.gatewayNamespace)], ports: tcp(GRAFANA_PORT) }] } : {}),
      },
    });
  }
  return policies;
}

/** The policies of platformIngressPolicies as NetworkPolicy objects. */
export function createPlatformIngressPolicies(name: string, input: PlatformIngressInput, parent: pulumi.Resource, dependsOn: pulumi.Resource[]): void {
  for (const p of platformIngressPolicies(input)) {
    new k8s.networking.v1.NetworkPolicy(
      `${name}-netpol-${p.namespace}-${p.name}`,
      { metadata: { name: p.name, namespace: p.namespace, labels: appLabels(p.name, "network-policy") }, spec: p.spec },
      { parent, dependsOn },
    );
  }
}
