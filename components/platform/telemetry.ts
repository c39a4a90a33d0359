import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig } from "../config/platform";
import type { TierLabel } from "../contract";
import { appLabels } from "./security";

/**
 * Default metric labels: user, tier (or subscription) and model. Each identity label is guarded with
 * `has()` because one MaaS revision saw a missing key abort label evaluation (field notes §5.3).
 * `model` comes from the response body and therefore reaches only `authorized_hits`.
 */
export function defaultTelemetryLabels(tierLabel: TierLabel): Record<string, string> {
  return {
    user: 'has(auth.identity.userid) ? auth.identity.userid : ""',
    [tierLabel]: 'has(auth.identity.groups) ? auth.identity.groups : ""',
    model: 'responseBodyJSON("/model")',
  };
}

/** Kuadrant TelemetryPolicy on the Gateway: puts user / tier-or-subscription / model labels on Limitador metrics. */
export function createTelemetryPolicy(
  name: string,
  telemetry: PlatformConfig["telemetry"],
  gateway: PlatformConfig["gateway"],
  parent: pulumi.Resource,
): k8s.apiextensions.CustomResource | undefined {
  if (!telemetry.enabled) return undefined;
  return new k8s.apiextensions.CustomResource(
    `${name}-telemetry-policy`,
    {
      apiVersion: "extensions.kuadrant.io/v1alpha1",
      kind: "TelemetryPolicy",
      metadata: { name: "maas-usage-labels", namespace: gateway.namespace, labels: appLabels("maas-usage-labels", "telemetry") },
      spec: {
        targetRef: { group: "gateway.networking.k8s.io", kind: "Gateway", name: gateway.name },
        metrics: { default: { labels: telemetry.labels ?? defaultTelemetryLabels(telemetry.tierLabel) } },
      },
    },
    { parent },
  );
}
