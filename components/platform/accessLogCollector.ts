import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import type { Flavor } from "../config";
import type { AccessLogsConfig } from "../config/platform";
import { accessLogCollectorConfig } from "./accessLogPipeline";
import { senderTokenSecretName } from "./billingTokens";
import { contentChecksum } from "../shared/checksum";
import { containerSecurityContext, podSecurityContext } from "../shared/podSecurity";
import { appLabels } from "./security";

/** Name of the access-log Collector's objects (ConfigMap, Deployment, Service). */
export const accessLogCollectorName = "maas-access-log-collector";
export const accessLogCollectorPodLabels = { "app.kubernetes.io/name": accessLogCollectorName };
export const ACCESS_LOG_OTLP_GRPC_PORT = 4317;
export const ACCESS_LOG_OTLP_HTTP_PORT = 4318;
const TOKEN_ENV = "MAAS_BILLING_SENDER_TOKEN";
const CA_DIR = "/etc/maas-billing-ca";

export interface AccessLogCollectorArgs {
  readonly flavor: Flavor;
  /** Where the Collector runs: the namespace of its sender's token Secret. */
  readonly namespace: pulumi.Input<string>;
  readonly config: AccessLogsConfig;
  /** The billing service's logs endpoint (https through the billing host, or the in-cluster URL). */
  readonly logsEndpoint: pulumi.Input<string>;
}

/**
 * The platform's OpenTelemetry Collector for the gateway's access logs (docs/usage-sources.md):
 * the gateway's Envoy access log service sends OTLP to it (gRPC 4317, or HTTP 4318), and it exports
 * to the billing service's POST /v1/logs as the sender `platform.accessLogs.sender`, whose token
 * comes from that sender's Secret into the environment (never into the config). TLS verifies the
 * billing host with the system roots, or with the CA bundle of `platform.accessLogs.caConfigMap`.
 */
export function createAccessLogCollector(name: string, args: AccessLogCollectorArgs, parent: pulumi.Resource): void {
  const labels = appLabels(accessLogCollectorName, "access-log-collector");
  const ca = args.config.caConfigMap;
  const configYaml = pulumi.output(args.logsEndpoint).apply((logsEndpoint) =>
    YAML.stringify(accessLogCollectorConfig({ logsEndpoint, tokenEnv: TOKEN_ENV, ...(ca ? { caFile: `${CA_DIR}/${ca.key}` } : {}) }), { sortMapEntries: true }),
  );
  const configMap = new k8s.core.v1.ConfigMap(
    `${name}-access-log-collector-config`,
    { metadata: { name: accessLogCollectorName, namespace: args.namespace, labels }, data: { "config.yaml": configYaml } },
    { parent },
  );
  new k8s.apps.v1.Deployment(
    `${name}-access-log-collector`,
    {
      metadata: { name: accessLogCollectorName, namespace: args.namespace, labels },
      spec: {
        replicas: args.config.replicas,
        selector: { matchLabels: accessLogCollectorPodLabels },
        template: {
          metadata: {
            labels: { ...labels, ...accessLogCollectorPodLabels },
            // A changed pipeline rolls the pods (the Collector reads its config at start).
            annotations: { "maas.opendatahub.io/collector-config": configYaml.apply(contentChecksum) },
          },
          spec: {
            automountServiceAccountToken: false,
            securityContext: podSecurityContext(args.flavor),
            containers: [
              {
                name: "otelcol",
                image: args.config.collectorImage,
                args: [`--config=file:/etc/otelcol/config.yaml`],
                env: [{ name: TOKEN_ENV, valueFrom: { secretKeyRef: { name: senderTokenSecretName(args.config.sender), key: "token" } } }],
                ports: [
                  { name: "otlp-grpc", containerPort: ACCESS_LOG_OTLP_GRPC_PORT },
                  { name: "otlp-http", containerPort: ACCESS_LOG_OTLP_HTTP_PORT },
                ],
                securityContext: containerSecurityContext(),
                resources: args.config.resources,
                volumeMounts: [{ name: "config", mountPath: "/etc/otelcol", readOnly: true }, ...(ca ? [{ name: "billing-ca", mountPath: CA_DIR, readOnly: true }] : [])],
              },
            ],
            volumes: [{ name: "config", configMap: { name: accessLogCollectorName } }, ...(ca ? [{ name: "billing-ca", configMap: { name: ca.name } }] : [])],
          },
        },
      },
    },
    { parent, dependsOn: [configMap] },
  );
  new k8s.core.v1.Service(
    `${name}-access-log-collector-service`,
    {
      metadata: { name: accessLogCollectorName, namespace: args.namespace, labels },
      spec: {
        selector: accessLogCollectorPodLabels,
        ports: [
          { name: "otlp-grpc", port: ACCESS_LOG_OTLP_GRPC_PORT, targetPort: ACCESS_LOG_OTLP_GRPC_PORT, appProtocol: "grpc" },
          { name: "otlp-http", port: ACCESS_LOG_OTLP_HTTP_PORT, targetPort: ACCESS_LOG_OTLP_HTTP_PORT },
        ],
      },
    },
    { parent },
  );
}
