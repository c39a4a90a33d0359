import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig } from "../config/platform";
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
): k8s.apiextensions.CustomResource | undefined {
  if (!limitador.serviceMonitor) return undefined;
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
