import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { TenantSpec } from "../config/tenant";
import type { Flavor } from "../config";
import type { FederationEndpoint, GatewayCounterSuffix, TierLabel, VllmFamily } from "../contract";
import { sha256Hex } from "../shared/checksum";
import { containerSecurityContext, podSecurityContext } from "../shared/podSecurity";
import { stringify } from "yaml";
import { tenantPrometheusRules } from "../../dashboards";
import { renderPrometheusConfig } from "./prometheusConfig";
import { tierTokenLimits } from "./dashboards";

/** UID of the `nobody` user the upstream Prometheus image runs as. */
const PROMETHEUS_UID = 65534;
const PORT = 9090;
/** Recording rules and federation alerts from dashboards/ (the dashboards' queries lean on them). */
const RULES_FILE = "rules.yml";

export interface TenantPrometheusArgs {
  /** Validated tenant config. */
  readonly spec: TenantSpec;
  /** Cluster flavor (decides whether fixed UIDs are set). */
  readonly flavor: Flavor;
  /** Namespace Prometheus runs in (the tenant's monitoring namespace, created by the platform). */
  readonly namespace: string;
  /** This tenant's proxy endpoints from the platform's `federation` output (federated mode). */
  readonly federation: pulumi.Input<FederationEndpoint>;
  /** Namespaces of this tenant (used only for the voluntary selectors of direct mode). */
  readonly tenantNamespaces: pulumi.Input<string[]>;
  /** vLLM metric-name family from the platform. */
  readonly vllmMetricFamily: pulumi.Input<VllmFamily>;
  /** Label carrying the tier on Limitador series (platform output). */
  readonly tierLabel: pulumi.Input<TierLabel>;
  /** Suffix of Limitador's counter names (platform output `gatewayCounterSuffix`). */
  readonly gatewayCounterSuffix: pulumi.Input<GatewayCounterSuffix>;
  /** The tenant's Alertmanager (its `alerting:` block); none = alerts stay in this Prometheus. */
  readonly alertmanagerUrl?: string;
  /** Labels of the Grafana pods allowed to query this Prometheus. */
  readonly grafanaPodLabels: Record<string, string>;
}

export interface TenantPrometheus {
  /** In-cluster URL Grafana uses as its datasource. */
  url: string;
  /** Labels of the Prometheus pods. */
  podLabels: Record<string, string>;
}

/** Labels of the tenant Prometheus pods. */
export const tenantPrometheusLabels = (tenant: string): Record<string, string> => ({
  "app.kubernetes.io/name": "prometheus",
  "app.kubernetes.io/instance": tenant,
  "app.kubernetes.io/part-of": "maas-billing",
  "maas-billing.io/tenant": tenant,
});

/**
 * Creates the tenant Prometheus: config, ServiceAccount, StatefulSet with a data volume, Service and a
 * NetworkPolicy that lets only the tenant's Grafana query it.
 */
export function createTenantPrometheus(name: string, args: TenantPrometheusArgs, parent: pulumi.Resource): TenantPrometheus {
  const { spec, namespace } = args;
  const p = spec.prometheus;
  const objectName = `${spec.name}-prometheus`;
  const labels = tenantPrometheusLabels(spec.name);
  const opts = { parent };

  const configYaml = pulumi
    .all([args.federation, args.tenantNamespaces, args.vllmMetricFamily, args.gatewayCounterSuffix])
    .apply(([federation, namespaces, vllmMetricFamily, gatewayCounterSuffix]) =>
      renderPrometheusConfig({
        tenant: spec.name,
        scrapeInterval: p.scrapeInterval,
        vllmMetricFamily,
        gatewayCounterSuffix,
        ruleFiles: [`/etc/prometheus/${RULES_FILE}`],
        alertmanagerUrl: args.alertmanagerUrl,
        source:
          p.mode === "direct"
            ? { mode: "direct", url: p.directUrl!, namespaces }
            : { mode: "federated", modelsUrl: federation.url, gatewayUrl: federation.gatewayUrl, billingUrl: federation.billingUrl },
      }),
    );

  const rulesYaml = pulumi
    .all([args.vllmMetricFamily, args.tierLabel, args.gatewayCounterSuffix])
    .apply(([vllmFamily, tierLabel, counterSuffix]) =>
      stringify(tenantPrometheusRules({ vllmFamily, tierLabel, counterSuffix, tokenLimits: tierTokenLimits(spec.tiers) }), { lineWidth: 0 }),
    );
  // One hash over both files: a change of either rolls the pod.
  const configHash = pulumi.all([configYaml, rulesYaml]).apply(([c, r]) => sha256Hex(`${c}\n---\n${r}`));

  const config = new k8s.core.v1.ConfigMap(
    `${name}-prometheus-config`,
    { metadata: { name: `${objectName}-config`, namespace, labels }, data: { "prometheus.yml": configYaml, [RULES_FILE]: rulesYaml } },
    opts,
  );

  // Federated mode needs no Kubernetes credentials at all (the proxy holds the upstream token), so the
  // token is not even mounted. Direct mode needs it, and the platform must bind cluster-monitoring-view.
  const serviceAccount = new k8s.core.v1.ServiceAccount(
    `${name}-prometheus-sa`,
    { metadata: { name: objectName, namespace, labels }, automountServiceAccountToken: p.mode === "direct" },
    opts,
  );

  const volumeClaim: k8s.types.input.core.v1.PersistentVolumeClaim = {
    metadata: { name: "data", labels },
    spec: {
      accessModes: ["ReadWriteOnce"],
      resources: { requests: { storage: p.storageSize } },
      ...(p.storageClassName ? { storageClassName: p.storageClassName } : {}),
    },
  };

  new k8s.apps.v1.StatefulSet(
    `${name}-prometheus`,
    {
      metadata: { name: objectName, namespace, labels },
      spec: {
        replicas: 1,
        serviceName: objectName,
        selector: { matchLabels: labels },
        volumeClaimTemplates: [volumeClaim],
        template: {
          metadata: {
            labels,
            // A config change rolls the pod; Prometheus would otherwise keep the old file in memory.
            annotations: { "maas-billing.io/config-sha256": configHash },
          },
          spec: {
            serviceAccountName: serviceAccount.metadata.name,
            automountServiceAccountToken: p.mode === "direct",
            securityContext: podSecurityContext(args.flavor, PROMETHEUS_UID),
            containers: [
              {
                name: "prometheus",
                image: p.image,
                args: [
                  "--config.file=/etc/prometheus/prometheus.yml",
                  "--storage.tsdb.path=/prometheus",
                  `--storage.tsdb.retention.time=${p.retention}`,
                  `--web.listen-address=:${PORT}`,
                ],
                ports: [{ name: "http", containerPort: PORT }],
                readinessProbe: { httpGet: { path: "/-/ready", port: "http" }, periodSeconds: 10 },
                livenessProbe: { httpGet: { path: "/-/healthy", port: "http" }, periodSeconds: 30, failureThreshold: 6 },
                resources: p.resources,
                securityContext: containerSecurityContext(),
                volumeMounts: [
                  { name: "config", mountPath: "/etc/prometheus", readOnly: true },
                  { name: "data", mountPath: "/prometheus" },
                ],
              },
            ],
            volumes: [{ name: "config", configMap: { name: config.metadata.name } }],
          },
        },
      },
    },
    opts,
  );

  new k8s.core.v1.Service(
    `${name}-prometheus-svc`,
    {
      metadata: { name: objectName, namespace, labels },
      spec: { selector: labels, ports: [{ name: "http", port: PORT, targetPort: "http" }] },
    },
    opts,
  );

  new k8s.networking.v1.NetworkPolicy(
    `${name}-prometheus-netpol`,
    {
      metadata: { name: objectName, namespace, labels },
      spec: {
        podSelector: { matchLabels: labels },
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ podSelector: { matchLabels: args.grafanaPodLabels } }], ports: [{ port: PORT }] }],
      },
    },
    opts,
  );

  return { url: `http://${objectName}.${namespace}.svc:${PORT}`, podLabels: labels };
}
