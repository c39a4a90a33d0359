import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import type { Flavor } from "../config";
import type { AccessLogsConfig } from "../config/platform";
import { containerSecurityContext } from "../shared/podSecurity";
import { workloadDeploymentSpec } from "../shared/workload";
import { accessLogCollectorConfig } from "./accessLogPipeline";
import { senderTokenSecretName } from "./billingTokens";

/*
 * The access-log Collector's Kubernetes objects as plain specs (createAccessLogCollector in
 * accessLogCollector.ts declares them; tests call these without Pulumi mocks).
 */

/** Name of the access-log Collector's objects (ConfigMap, Deployment, Service). */
export const accessLogCollectorName = "maas-access-log-collector";
export const accessLogCollectorPodLabels = { "app.kubernetes.io/name": accessLogCollectorName };
export const ACCESS_LOG_OTLP_GRPC_PORT = 4317;
export const ACCESS_LOG_OTLP_HTTP_PORT = 4318;
/** The env var holding the sender token: the config names it, the pod fills it from the sender's Secret. */
const TOKEN_ENV = "MAAS_BILLING_SENDER_TOKEN";
/** Where the CA bundle of `platform.accessLogs.caConfigMap` is mounted. */
const CA_DIR = "/etc/maas-billing-ca";

/** The Collector's config.yaml: export to `logsEndpoint` as the sender, TLS with the mounted CA bundle when there is one. */
export const accessLogCollectorConfigYaml = (config: AccessLogsConfig, logsEndpoint: string): string => {
  const ca = config.caConfigMap;
  return YAML.stringify(accessLogCollectorConfig({ logsEndpoint, tokenEnv: TOKEN_ENV, ...(ca ? { caFile: `${CA_DIR}/${ca.key}` } : {}) }), { sortMapEntries: true });
};

export interface AccessLogCollectorPodArgs {
  readonly flavor: Flavor;
  readonly config: AccessLogsConfig;
  readonly labels: Record<string, string>;
  /** Checksum of config.yaml: the Collector reads its config at start, so a change rolls the pods. */
  readonly configChecksum: pulumi.Input<string>;
}

/** The Deployment's spec: `replicas` Collectors with the config mounted and the sender token in the environment. */
export function accessLogCollectorDeploymentSpec(args: AccessLogCollectorPodArgs): k8s.types.input.apps.v1.DeploymentSpec {
  const ca = args.config.caConfigMap;
  return workloadDeploymentSpec({
    flavor: args.flavor,
    replicas: args.config.replicas,
    selector: accessLogCollectorPodLabels,
    podLabels: { ...args.labels, ...accessLogCollectorPodLabels },
    // A changed pipeline rolls the pods (the Collector reads its config at start).
    rollOn: { "maas.opendatahub.io/collector-config": args.configChecksum },
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
  });
}

/** The Service the gateway's access log service sends OTLP to (gRPC and HTTP). */
export const accessLogCollectorServiceSpec: k8s.types.input.core.v1.ServiceSpec = {
  selector: accessLogCollectorPodLabels,
  ports: [
    { name: "otlp-grpc", port: ACCESS_LOG_OTLP_GRPC_PORT, targetPort: ACCESS_LOG_OTLP_GRPC_PORT, appProtocol: "grpc" },
    { name: "otlp-http", port: ACCESS_LOG_OTLP_HTTP_PORT, targetPort: ACCESS_LOG_OTLP_HTTP_PORT },
  ],
};
