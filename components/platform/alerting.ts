import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { receiverSecrets, renderAlertmanagerConfig } from "../alerting/alertmanagerConfig";
import type { Flavor } from "../config";
import type { AlertmanagerSettings, Receiver } from "../config/alerting";
import { podSecurityContext } from "../shared/podSecurity";
import { appLabels } from "./security";

/** Name of the platform Alertmanager (kubernetes) and of its AlertmanagerConfig (openshift). */
export const platformAlertmanagerName = "maas-alertmanager";

export interface PlatformAlertingArgs {
  readonly flavor: Flavor;
  /** The platform monitoring namespace (where the platform PrometheusRule lives). */
  readonly namespace: pulumi.Input<string>;
  /** The validated `platform.alerting` config. */
  readonly settings: AlertmanagerSettings;
}

/** Receivers in the AlertmanagerConfig CRD's shape (credentials as Secret key references). */
export function alertmanagerConfigReceivers(receivers: readonly Receiver[]): Record<string, unknown>[] {
  return receivers.map((r) => ({
    name: r.name,
    ...(r.webhook
      ? {
          webhookConfigs: [
            {
              url: r.webhook.url,
              sendResolved: r.webhook.sendResolved,
              ...(r.webhook.bearerTokenSecret ? { httpConfig: { authorization: { type: "Bearer", credentials: r.webhook.bearerTokenSecret } } } : {}),
            },
          ],
        }
      : {}),
    ...(r.email
      ? {
          emailConfigs: [
            {
              to: r.email.to,
              from: r.email.from,
              smarthost: r.email.smarthost,
              requireTLS: r.email.requireTls,
              ...(r.email.authUsername ? { authUsername: r.email.authUsername } : {}),
              ...(r.email.authPasswordSecret ? { authPassword: r.email.authPasswordSecret } : {}),
            },
          ],
        }
      : {}),
  }));
}

/**
 * Delivery of the platform alerts (dashboards/rules.ts platformPrometheusRules) to the configured
 * receivers. kubernetes: a prometheus-operator `Alertmanager` whose configuration Secret is rendered
 * by renderAlertmanagerConfig (the platform Prometheus points at it, monitoring.ts). openshift: an
 * `AlertmanagerConfig` in the monitoring namespace, read by the user-workload Alertmanager that
 * userWorkloadConfigYaml turns on (`alertmanager.enabled`, `enableAlertmanagerConfig`).
 */
export function createPlatformAlerting(name: string, args: PlatformAlertingArgs, parent: pulumi.Resource): void {
  const labels = appLabels(platformAlertmanagerName, "monitoring");
  const { settings } = args;
  if (args.flavor === "openshift") {
    new k8s.apiextensions.CustomResource(
      `${name}-alertmanager-config`,
      {
        apiVersion: "monitoring.coreos.com/v1beta1",
        kind: "AlertmanagerConfig",
        metadata: { name: platformAlertmanagerName, namespace: args.namespace, labels },
        spec: {
          route: {
            receiver: settings.receivers[0].name,
            groupBy: ["alertname", "tenant"],
            routes: settings.receivers.slice(1).map((r) => ({ receiver: r.name, continue: true })),
          },
          receivers: alertmanagerConfigReceivers(settings.receivers),
        },
      },
      { parent },
    );
    return;
  }
  const configSecret = new k8s.core.v1.Secret(
    `${name}-alertmanager-config`,
    {
      metadata: { name: `${platformAlertmanagerName}-config`, namespace: args.namespace, labels },
      stringData: { "alertmanager.yaml": renderAlertmanagerConfig({ receivers: settings.receivers }) },
    },
    { parent },
  );
  new k8s.apiextensions.CustomResource(
    `${name}-alertmanager`,
    {
      apiVersion: "monitoring.coreos.com/v1",
      kind: "Alertmanager",
      metadata: { name: platformAlertmanagerName, namespace: args.namespace, labels },
      spec: {
        image: settings.image,
        replicas: 1,
        resources: settings.resources,
        securityContext: podSecurityContext("kubernetes", 65534),
        configSecret: configSecret.metadata.name,
        // Mounted at /etc/alertmanager/secrets/<name>/<key>, where the rendered config reads them.
        secrets: [...receiverSecrets(settings.receivers).keys()],
      },
    },
    { parent },
  );
}
