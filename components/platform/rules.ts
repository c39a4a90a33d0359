import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { platformPrometheusRules } from "../../dashboards";
import type { PlatformConfig } from "../config/platform";
import { appLabels } from "./security";

/** Name of the platform PrometheusRule (alerts and recording rules of dashboards/rules.ts). */
export const platformRuleName = "maas-billing-platform";

export interface PlatformRulesArgs {
  /** Namespace of the rule: the platform monitoring namespace (exempt from UWM's namespace enforcement on openshift). */
  readonly namespace: pulumi.Input<string>;
  /** vLLM metric-name family the recording rules read. */
  readonly vllmFamily: PlatformConfig["vllmMetricFamily"];
  /** Label carrying the tier on Limitador series (the TelemetryPolicy's choice). */
  readonly tierLabel: PlatformConfig["telemetry"]["tierLabel"];
  /** Suffix of Limitador's counter names (`telemetry.counterSuffix`). */
  readonly counterSuffix?: PlatformConfig["telemetry"]["counterSuffix"];
}

/**
 * The platform's PrometheusRule: quota, Limitador reset, scrape and collector alerts plus the
 * token-rate recording rules (dashboards/rules.ts, one source for rules and their tests). The
 * kubernetes platform Prometheus selects every PrometheusRule; on openshift the rule lives in the
 * monitoring namespace, which userWorkloadConfigYaml lists under namespacesWithoutLabelEnforcement,
 * because the rules read series of every namespace (billing, kuadrant-system, the tenants').
 */
export function createPlatformRules(name: string, args: PlatformRulesArgs, parent: pulumi.Resource): k8s.apiextensions.CustomResource {
  return new k8s.apiextensions.CustomResource(
    `${name}-prometheus-rules`,
    {
      apiVersion: "monitoring.coreos.com/v1",
      kind: "PrometheusRule",
      metadata: { name: platformRuleName, namespace: args.namespace, labels: appLabels(platformRuleName, "monitoring") },
      spec: platformPrometheusRules({ vllmFamily: args.vllmFamily, tierLabel: args.tierLabel, counterSuffix: args.counterSuffix }),
    },
    { parent },
  );
}
