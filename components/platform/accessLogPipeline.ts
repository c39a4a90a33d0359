/**
 * The OpenTelemetry Collector configuration of the access-log pipeline, as a pure function (the
 * platform renders it into a ConfigMap; `npm run e2e -- --stage otelcol` runs a real Collector on
 * it). The shape is upstream MaaS's usage-logs pipeline (deployment/components/observability/
 * usage-logs): the gateway's Envoy OpenTelemetry access log service sends to an `otlp` receiver,
 * then `batch`, `transform` and `groupbyattrs` (subscription, model, response_type), then an
 * `otlp_http` exporter, here to the billing service's `POST /v1/logs` with the sender token of a
 * `platform.billing.senders` entry (read from the environment, which a Secret fills: never in the
 * config itself) and TLS when the endpoint is https.
 */

export interface AccessLogPipelineArgs {
  /** Full URL of the billing service's logs endpoint, e.g. https://billing.example.com/v1/logs. */
  readonly logsEndpoint: string;
  /** Environment variable holding the sender token (filled from the sender's Secret). */
  readonly tokenEnv: string;
  /** PEM CA bundle to verify an https endpoint with; the system roots when omitted. */
  readonly caFile?: string;
  /** Where the otlp receiver listens (gRPC for Envoy's access log service, HTTP for other senders). */
  readonly grpcEndpoint?: string;
  readonly httpEndpoint?: string;
  /** Batch size and timeout of the batch processor (MaaS: 1,000 records or 5 s). */
  readonly batchSize?: number;
  readonly batchTimeout?: string;
  /** Exporter retry settings (OTLP/HTTP retries 429/502/503/504 honouring Retry-After). */
  readonly retryInitialInterval?: string;
  /** The Collector's own metrics listener (`service.telemetry`); "none" turns it off. */
  readonly telemetryMetrics?: "none" | "basic";
}

/** Attributes groupbyattrs groups by (MaaS: one resource per subscription, model and response type). */
export const ACCESS_LOG_GROUP_KEYS = ["subscription", "model", "response_type"] as const;

/**
 * Requests the exporter keeps in flight to the billing service (`sending_queue.num_consumers`).
 * 10 is the Collector's own default (exporterhelper README, "Sending Queue"; NewDefaultQueueConfig
 * in go.opentelemetry.io/collector/exporter/exporterhelper v0.161.0), rendered explicitly so a
 * Collector release that changes its default does not change what the billing service is sized
 * and benchmarked for: `npm run bench`'s OTLP row sends with this many in flight, and serve's
 * database pool (SERVE_POOL_MAX in billing-service/src/contract/deployment.ts, 16) holds them with room to spare.
 */
export const ACCESS_LOG_EXPORTER_CONSUMERS = 10;

/** Token attributes the transform defaults to "0", so a record without usage is never "unknown". */
const TOKEN_ATTRIBUTES = ["tokens_prompt", "tokens_completion", "tokens_total"];

export const accessLogCollectorConfig = (args: AccessLogPipelineArgs): Record<string, unknown> => {
  const https = args.logsEndpoint.startsWith("https://");
  return {
    receivers: {
      otlp: {
        protocols: {
          grpc: { endpoint: args.grpcEndpoint ?? "0.0.0.0:4317" },
          http: { endpoint: args.httpEndpoint ?? "0.0.0.0:4318" },
        },
      },
    },
    processors: {
      batch: { send_batch_size: args.batchSize ?? 1000, send_batch_max_size: args.batchSize ?? 1000, timeout: args.batchTimeout ?? "5s" },
      "transform/usage": {
        error_mode: "ignore",
        log_statements: [
          {
            context: "log",
            statements: [
              // Envoy writes "-" for a missing header value; the billing service reads "0" and "-" alike,
              // but dashboards reading the logs elsewhere see one spelling.
              ...TOKEN_ATTRIBUTES.map((a) => `set(log.attributes["${a}"], "0") where log.attributes["${a}"] == nil or log.attributes["${a}"] == "-"`),
              `set(log.attributes["model"], "-") where log.attributes["model"] == nil`,
            ],
          },
        ],
      },
      "groupbyattrs/usage": { keys: [...ACCESS_LOG_GROUP_KEYS] },
    },
    exporters: {
      "otlp_http/billing": {
        logs_endpoint: args.logsEndpoint,
        encoding: "proto",
        compression: "gzip",
        headers: { Authorization: `Bearer \${env:${args.tokenEnv}}` },
        ...(https ? { tls: { insecure: false, ...(args.caFile ? { ca_file: args.caFile } : {}) } } : {}),
        retry_on_failure: { enabled: true, initial_interval: args.retryInitialInterval ?? "5s", max_interval: "30s", max_elapsed_time: "0s" },
        sending_queue: { enabled: true, num_consumers: ACCESS_LOG_EXPORTER_CONSUMERS, queue_size: 1000 },
      },
    },
    service: {
      telemetry: { metrics: { level: args.telemetryMetrics ?? "basic" } },
      pipelines: {
        "logs/usage": { receivers: ["otlp"], processors: ["batch", "transform/usage", "groupbyattrs/usage"], exporters: ["otlp_http/billing"] },
      },
    },
  };
};
