import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Flavor } from "../config";
import type { AccessLogsConfig } from "../config/platform";
import { contentChecksum } from "../shared/checksum";
import {
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
