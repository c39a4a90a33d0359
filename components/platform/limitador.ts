import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig } from "../config/platform";
import { openshiftMonitoring } from "./monitoring";
import { appLabels } from "./security";

/**
 * The Limitador image override as a server-side-apply patch of the operator's Limitador CR. It sets
 * only `spec.image` (and `spec.verbosity`); `metricLabelsDefault` is owned and force-applied by
 * kuadrant-operator and is never touched (field notes §5.4). Deleting the patch drops our field
 * ownership, so the operator's default image returns; no "clean-up" patch writes `image: ""`.
 * Returns undefined when no override is configured.
 */
export function createLimitadorImagePatch(
  name: string,
  limitador: PlatformConfig["limitador"],
  parent: pulumi.Resource,
): k8s.apiextensions.CustomResourcePatch | undefined {
  if (limitador.image === undefined) return undefined;
  return new k8s.apiextensions.CustomResourcePatch(
    `${name}-limitador-image`,
    {
      apiVersion: "limitador.kuadrant.io/v1alpha1",
      kind: "Limitador",
      metadata: { name: limitador.name, namespace: limitador.namespace },
      spec: {
        image: limitador.image,
        ...(limitador.verbosity !== undefined ? { verbosity: limitador.verbosity } : {}),
      },
    },
    { parent },
  );
}

/**
 * ServiceMonitor for Limitador that copies the HTTPRoute namespace out of `limitador_namespace`
 * ("<route ns>/<route name>") into `route_namespace`, the label the tenant federation proxies enforce.
 */
export function createLimitadorServiceMonitor(
  name: string,
  limitador: PlatformConfig["limitador"],
  parent: pulumi.Resource,
  clusterMonitoring = false,
): k8s.apiextensions.CustomResource | undefined {
  if (!limitador.serviceMonitor) return undefined;
  if (clusterMonitoring) createClusterPrometheusDiscovery(name, limitador.namespace, parent);
  return new k8s.apiextensions.CustomResource(
    `${name}-limitador-monitor`,
    {
      apiVersion: "monitoring.coreos.com/v1",
      kind: "ServiceMonitor",
      metadata: { name: "maas-limitador", namespace: limitador.namespace, labels: appLabels("maas-limitador", "monitoring") },
      spec: {
        // Label the limitador-operator puts on the Service of each Limitador CR.
        selector: { matchLabels: { "limitador-resource": limitador.name } },
        endpoints: [
          {
            port: "http",
            path: "/metrics",
            interval: "30s",
            metricRelabelings: [
              {
                action: "replace",
                sourceLabels: ["limitador_namespace"],
                regex: "([^/]+)/.*",
                targetLabel: "route_namespace",
                replacement: "$1",
              },
            ],
          },
        ],
      },
    },
    { parent },
  );
}

/**
 * On OpenShift with `gatewayMetrics.source: clusterMonitoring`, the platform Prometheus
 * (`openshift-monitoring/prometheus-k8s`) scrapes monitors in namespaces labelled
 * `openshift.io/cluster-monitoring=true`, but it may discover targets only where a Role lets its
 * ServiceAccount read Services, Endpoints and Pods (the pattern OpenShift's own operators follow).
 * Read-only, in Limitador's namespace only.
 */
export function createClusterPrometheusDiscovery(name: string, namespace: string, parent: pulumi.Resource): void {
  const meta = { name: "maas-prometheus-k8s-discovery", namespace, labels: appLabels("maas-limitador", "monitoring") };
  new k8s.rbac.v1.Role(
    `${name}-limitador-discovery-role`,
    {
      metadata: meta,
      rules: [
        { apiGroups: [""], resources: ["services", "endpoints", "pods"], verbs: ["get", "list", "watch"] },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
      ],
    },
    { parent },
  );
  new k8s.rbac.v1.RoleBinding(
    `${name}-limitador-discovery-binding`,
    {
      metadata: meta,
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: meta.name },
      subjects: [{ kind: "ServiceAccount", name: openshiftMonitoring.clusterPrometheusServiceAccount, namespace: openshiftMonitoring.clusterNamespace }],
    },
    { parent },
  );
}
