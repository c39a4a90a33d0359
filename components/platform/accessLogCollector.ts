import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Flavor } from "../config";
import type { AccessLogsConfig } from "../config/platform";
import { gatewayAccessLogEnvoyFilter } from "./gatewayAccessLog";
import { contentChecksum } from "../shared/checksum";
import {
  ACCESS_LOG_OTLP_GRPC_PORT,
  accessLogCollectorConfigYaml,
  accessLogCollectorDeploymentSpec,
  accessLogCollectorName,
  accessLogCollectorServiceSpec,
} from "./accessLogCollectorSpecs";
import { appLabels } from "./security";

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
  const configYaml = pulumi.output(args.logsEndpoint).apply((logsEndpoint) => accessLogCollectorConfigYaml(args.config, logsEndpoint));
  const configMap = new k8s.core.v1.ConfigMap(
    `${name}-access-log-collector-config`,
    { metadata: { name: accessLogCollectorName, namespace: args.namespace, labels }, data: { "config.yaml": configYaml } },
    { parent },
  );
  new k8s.apps.v1.Deployment(
    `${name}-access-log-collector`,
    {
      metadata: { name: accessLogCollectorName, namespace: args.namespace, labels },
      spec: accessLogCollectorDeploymentSpec({ flavor: args.flavor, config: args.config, labels, configChecksum: configYaml.apply(contentChecksum) }),
    },
    { parent, dependsOn: [configMap] },
  );
  new k8s.core.v1.Service(
    `${name}-access-log-collector-service`,
    { metadata: { name: accessLogCollectorName, namespace: args.namespace, labels }, spec: accessLogCollectorServiceSpec },
    { parent },
  );
}

/**
 * The gateway side (platform.accessLogs.gatewayEnvoyFilter): the Istio EnvoyFilter that makes the
 * Gateway's Envoy send its access log to this Collector's OTLP gRPC port (gatewayAccessLog.ts).
 */
export function createGatewayAccessLogFilter(
  name: string,
  args: { readonly gateway: { readonly name: string; readonly namespace: string }; readonly collectorNamespace: pulumi.Input<string> },
  parent: pulumi.Resource,
): void {
  const filter = pulumi
    .output(args.collectorNamespace)
    .apply((ns) => gatewayAccessLogEnvoyFilter({ gateway: args.gateway, collector: { host: `${accessLogCollectorName}.${ns}.svc.cluster.local`, port: ACCESS_LOG_OTLP_GRPC_PORT } }));
  new k8s.apiextensions.CustomResource(
    `${name}-gateway-access-logs`,
    { apiVersion: "networking.istio.io/v1alpha3", kind: "EnvoyFilter", metadata: filter.apply((f) => f.metadata as k8s.types.input.meta.v1.ObjectMeta), spec: filter.apply((f) => f.spec) },
    { parent },
  );
}
