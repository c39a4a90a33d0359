import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import type { Flavor } from "../config";
import type { GatewayMetricsSource, PlatformConfig } from "../config/platform";
import { createRestrictedNamespace } from "./namespaces";
import { podSecurityContext } from "../shared/podSecurity";
import { appLabels } from "./security";

export interface MonitoringArgs {
  /** Cluster flavor: `openshift` uses user-workload monitoring, `kubernetes` a platform Prometheus. */
  readonly flavor: Flavor;
  /** The validated `platform.monitoring` config. */
  readonly monitoring: PlatformConfig["monitoring"];
  /** Platform alert receivers configured (`platform.alerting`): point Prometheus at the Alertmanager / turn on UWM's. */
  readonly alerting?: boolean;
}

export interface Monitoring {
  /** Namespace of the platform monitoring pieces (federation proxies; the Prometheus on kubernetes). */
  readonly namespace: k8s.core.v1.Namespace;
  /** Base URL of the central Prometheus `/federate` endpoint the tenant proxies forward to. */
  readonly federationUpstream: string;
  /** Base URL of the central query API the billing collector reads. */
  readonly queryUrl: string;
}

/** Pod labels the platform puts on the central Prometheus pods (kubernetes flavor, via `podMetadata`); its NetworkPolicy selects them. */
export const centralPrometheusPodLabels = { "maas-billing.io/role": "central-prometheus" };

/** Namespace and well-known names of OpenShift's monitoring stacks (field notes §4). */
export const openshiftMonitoring = {
  clusterNamespace: "openshift-monitoring",
  clusterConfigMap: "cluster-monitoring-config",
  userWorkloadNamespace: "openshift-user-workload-monitoring",
  userWorkloadConfigMap: "user-workload-monitoring-config",
  federateUrl: "https://prometheus-user-workload.openshift-user-workload-monitoring.svc:9092",
  /** The platform Prometheus (cluster monitoring): its web port, behind kube-rbac-proxy, serves /federate. */
  clusterFederateUrl: "https://prometheus-k8s.openshift-monitoring.svc:9091",
  /** The platform Prometheus' ServiceAccount, which discovers targets in namespaces labelled openshift.io/cluster-monitoring=true. */
  clusterPrometheusServiceAccount: "prometheus-k8s",
  queryUrl: "https://thanos-querier.openshift-monitoring.svc:9091",
} as const;

/** Where Limitador's series are scraped and the `/federate` base URL the tenants' gateway proxies read them from. */
export interface GatewayMetricsPlacement {
  /** `platformPrometheus` on kubernetes (the one central Prometheus); on openshift the configured stack. */
  readonly source: GatewayMetricsSource | "platformPrometheus";
  readonly federateUrl: string;
}

/**
 * The gateway metrics placement, defaults applied in one place: on openshift `clusterMonitoring`
 * (MaaS labels kuadrant-system `openshift.io/cluster-monitoring=true`, so the platform Prometheus
 * scrapes it and UWM does not), read from prometheus-k8s; `userWorkload` and kubernetes read the
 * central upstream (`centralUpstream`: `federation.upstreamUrl` or the flavor's). An explicit
 * `gatewayMetrics.federateUrl` wins.
 */
export function gatewayMetricsPlacement(flavor: Flavor, config: Pick<PlatformConfig, "gatewayMetrics">, centralUpstream: string): GatewayMetricsPlacement {
  const source = flavor === "openshift" ? (config.gatewayMetrics.source ?? "clusterMonitoring") : "platformPrometheus";
  const federateUrl = config.gatewayMetrics.federateUrl ?? (source === "clusterMonitoring" ? openshiftMonitoring.clusterFederateUrl : centralUpstream);
  return { source, federateUrl };
}

/** The `config.yaml` of cluster-monitoring-config: the operator's own settings plus UWM on. */
export function clusterMonitoringConfigYaml(existing: Record<string, unknown>): string {
  return YAML.stringify({ ...existing, enableUserWorkload: true }, { sortMapEntries: true });
}

/**
 * The `config.yaml` of user-workload-monitoring-config: retention and storage of the UWM Prometheus,
 * and the platform monitoring namespace exempt from namespace-label enforcement, so the platform
 * PrometheusRule there (rules.ts) may read series of every namespace.
 */
export function userWorkloadConfigYaml(m: PlatformConfig["monitoring"], alerting = false): string {
  const prometheus: Record<string, unknown> = {
    retention: m.retention,
    resources: m.resources,
    volumeClaimTemplate: {
      spec: {
        ...(m.storageClassName ? { storageClassName: m.storageClassName } : {}),
        resources: { requests: { storage: m.storageSize } },
      },
    },
  };
  if (m.retentionSize) prometheus.retentionSize = m.retentionSize;
  // With receivers configured: UWM's own Alertmanager, which reads AlertmanagerConfig objects (alerting.ts).
  const alertmanager = alerting ? { alertmanager: { enabled: true, enableAlertmanagerConfig: true } } : {};
  return YAML.stringify({ prometheus, namespacesWithoutLabelEnforcement: [m.namespace], ...alertmanager }, { sortMapEntries: true });
}

/**
 * Central monitoring. OpenShift: patches (never creates) the cluster's monitoring ConfigMaps so
 * user-workload monitoring is on, with our retention. Kubernetes: a prometheus-operator `Prometheus`
 * that selects every ServiceMonitor/PodMonitor, with the RBAC it needs to discover targets.
 */
export function createMonitoring(name: string, args: MonitoringArgs, parent: pulumi.Resource): Monitoring {
  const m = args.monitoring;
  const namespace = createRestrictedNamespace(`${name}-monitoring-namespace`, m.namespace, "monitoring", parent);

  if (args.flavor === "openshift") {
    // A server-side-apply patch: it owns only data["config.yaml"] and never deletes the operator's object.
    new k8s.core.v1.ConfigMapPatch(
      `${name}-cluster-monitoring-config`,
      {
        metadata: {
          name: openshiftMonitoring.clusterConfigMap,
          namespace: openshiftMonitoring.clusterNamespace,
          ...(m.forceClusterMonitoringConfig ? { annotations: { "pulumi.com/patchForce": "true" } } : {}),
        },
        data: { "config.yaml": clusterMonitoringConfigYaml(m.clusterMonitoringConfig) },
      },
      { parent },
    );
    // Also a patch: the ConfigMap may already exist (admins often create it by hand); apply upserts it.
    new k8s.core.v1.ConfigMapPatch(
      `${name}-user-workload-monitoring-config`,
      {
        metadata: { name: openshiftMonitoring.userWorkloadConfigMap, namespace: openshiftMonitoring.userWorkloadNamespace },
        data: { "config.yaml": userWorkloadConfigYaml(m, args.alerting) },
      },
      { parent },
    );
    return { namespace, federationUpstream: openshiftMonitoring.federateUrl, queryUrl: openshiftMonitoring.queryUrl };
  }

  const prometheusName = "maas-prometheus";
  const labels = appLabels(prometheusName, "monitoring");
  const serviceAccount = new k8s.core.v1.ServiceAccount(
    `${name}-prometheus-sa`,
    { metadata: { name: prometheusName, namespace: namespace.metadata.name, labels } },
    { parent },
  );
  const clusterRole = new k8s.rbac.v1.ClusterRole(
    `${name}-prometheus-role`,
    {
      metadata: { name: prometheusName, labels },
      rules: [
        { apiGroups: [""], resources: ["services", "endpoints", "pods", "nodes"], verbs: ["get", "list", "watch"] },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
        { apiGroups: [""], resources: ["configmaps"], verbs: ["get"] },
        { nonResourceURLs: ["/metrics"], verbs: ["get"] },
      ],
    },
    { parent },
  );
  new k8s.rbac.v1.ClusterRoleBinding(
    `${name}-prometheus-binding`,
    {
      metadata: { name: prometheusName, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole.metadata.name },
      subjects: [{ kind: "ServiceAccount", name: serviceAccount.metadata.name, namespace: m.namespace }],
    },
    { parent },
  );
  new k8s.apiextensions.CustomResource(
    `${name}-prometheus`,
    {
      apiVersion: "monitoring.coreos.com/v1",
      kind: "Prometheus",
      metadata: { name: prometheusName, namespace: namespace.metadata.name, labels },
      spec: {
        image: m.prometheusImage,
        replicas: 1,
        serviceAccountName: prometheusName,
        retention: m.retention,
        ...(m.retentionSize ? { retentionSize: m.retentionSize } : {}),
        resources: m.resources,
        securityContext: podSecurityContext("kubernetes", 65534),
        // The NetworkPolicy of networkPolicies.ts admits its clients to pods with these labels.
        podMetadata: { labels: centralPrometheusPodLabels },
        // Every series scraped through a ServiceMonitor/PodMonitor carries namespace=<the monitor's
        // namespace>, whatever the target exposes, and a monitor only finds targets in its own namespace:
        // a tenant's monitor cannot forge another namespace (issue #14, like UWM on OpenShift).
        enforcedNamespaceLabel: "namespace",
        ignoreNamespaceSelectors: true,
        // The platform's own rules (rules.ts) read every namespace: exempt, as namespacesWithoutLabelEnforcement on OpenShift.
        excludedFromEnforcement: [{ group: "monitoring.coreos.com", resource: "prometheusrules", namespace: m.namespace }],
        // Empty selectors: every ServiceMonitor/PodMonitor in every namespace, like UWM on OpenShift.
        serviceMonitorSelector: {},
        serviceMonitorNamespaceSelector: {},
        podMonitorSelector: {},
        podMonitorNamespaceSelector: {},
        ruleSelector: {},
        ruleNamespaceSelector: {},
        // The platform Alertmanager (alerting.ts); prometheus-operator's governing Service for it.
        ...(args.alerting
          ? { alerting: { alertmanagers: [{ namespace: m.namespace, name: "alertmanager-operated", port: "web", apiVersion: "v2" }] } }
          : {}),
        storage: {
          volumeClaimTemplate: {
            spec: {
              ...(m.storageClassName ? { storageClassName: m.storageClassName } : {}),
              accessModes: ["ReadWriteOnce"],
              resources: { requests: { storage: m.storageSize } },
            },
          },
        },
      },
    },
    { parent },
  );
  // prometheus-operator creates the governing Service `prometheus-operated` for every Prometheus.
  const url = `http://prometheus-operated.${m.namespace}.svc:9090`;
  return { namespace, federationUpstream: url, queryUrl: url };
}
