import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { Flavor } from "../config";
import { GRAFANA_PORT } from "../shared/grafana";
import { billingApiPort, billingApiSelector, billingMetricsPort } from "./billingService";
import { ACCESS_LOG_OTLP_GRPC_PORT, ACCESS_LOG_OTLP_HTTP_PORT, accessLogCollectorPodLabels } from "./accessLogCollectorSpecs";
import { centralPrometheusPodLabels, openshiftMonitoring } from "./monitoring";
import { appLabels } from "./security";
import { byTenantShard, shardSuffix } from "./tenantShards";

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
  /** Every tenant and its namespaces (they call the billing API). */
  readonly tenants: readonly { readonly name: string; readonly namespaces: readonly string[] }[];
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
/** One peer for a set of namespaces, by the name label the API server sets (nobody can set it to another name). */
const inNamespaces = (namespaces: readonly string[]): Peer => {
  // An empty `from` admits every source: never render a peer list that could become one.
  if (namespaces.length === 0) throw new Error("inNamespaces: no namespace (an empty peer list would admit every source)");
  return { namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: [...namespaces].sort() }] } };
};

/** The billing API's ingress policy (gateway, access-log Collector, scraper). */
export const billingApiIngressName = "maas-billing-api-ingress";
const TENANT_INGRESS_PREFIX = `${billingApiIngressName}-tenants-`;
/** Name of the billing API ingress policy of one tenant shard (tenantShards.ts). */
export const billingApiTenantIngressName = (shard: number): string => `${TENANT_INGRESS_PREFIX}${shardSuffix(shard)}`;

/**
 * Ingress of the platform's monitoring and billing namespaces (issue #14): default deny in both, then
 * exactly these peers (the database and federation proxies keep their own policies, database.ts and
 * federation.ts):
 *   central Prometheus (kubernetes) :9090  <- federation proxies, platform Grafana, the billing collector
 *   billing API :8080                      <- the gateway namespace and the tenants' namespaces (and the access-log Collector);
 *                                             the tenants' namespaces in one policy per non-empty tenant shard
 *                                             (maas-billing-api-ingress-tenants-NN), so that no policy lists every
 *                                             tenant (docs/scaling.md); NetworkPolicies selecting a pod add up
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
      name: billingApiIngressName,
      namespace: input.billingNamespace,
      spec: {
        podSelector: { matchLabels: billingApiSelector },
        policyTypes: ["Ingress"],
        ingress: [
          { from: [inNamespace(input.gatewayNamespace)], ports: tcp(billingApiPort) },
          ...(input.accessLogCollectorNamespace !== undefined ? [{ from: [inNamespace(input.accessLogCollectorNamespace, accessLogCollectorPodLabels)], ports: tcp(billingApiPort) }] : []),
          { from: [scraper], ports: tcp(billingMetricsPort) },
        ],
      },
    },
  ];
  byTenantShard(input.tenants, (t) => t.name).forEach((shard, i) => {
    const namespaces = shard.flatMap((t) => t.namespaces);
    if (namespaces.length === 0) return;
    policies.push({
      name: billingApiTenantIngressName(i),
      namespace: input.billingNamespace,
      spec: { podSelector: { matchLabels: billingApiSelector }, policyTypes: ["Ingress"], ingress: [{ from: [inNamespaces(namespaces)], ports: tcp(billingApiPort) }] },
    });
  });
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
  const policies = platformIngressPolicies(input);
  const create = (p: PlatformIngressPolicy, after: pulumi.Resource[]) =>
    new k8s.networking.v1.NetworkPolicy(
      `${name}-netpol-${p.namespace}-${p.name}`,
      { metadata: { name: p.name, namespace: p.namespace, labels: appLabels(p.name, "network-policy") }, spec: p.spec },
      { parent, dependsOn: after },
    );
  // The tenant shards first: on an upgrade from one all-tenant policy, its tenant peers are removed
  // only once the shard policies admitting them exist, so no tenant loses the billing API midway.
  const isShard = (p: PlatformIngressPolicy) => p.name.startsWith(TENANT_INGRESS_PREFIX);
  const shards = policies.filter(isShard).map((p) => create(p, dependsOn));
  for (const p of policies.filter((q) => !isShard(q))) create(p, p.name === billingApiIngressName ? [...dependsOn, ...shards] : dependsOn);
}
