/**
 * The environment variables the billing service reads: the one list of their names. The service
 * reads env only through these constants (src/config.ts), and the Pulumi components that deploy it
 * set them through the same constants, so a rename cannot leave one side behind.
 */

/** Env variables of the service, keyed by the config field they feed. */
export const SERVICE_ENV = {
  /** libpq URL of the database; unset: embedded PostgreSQL in the data directory. */
  databaseUrl: "DATABASE_URL",
  /** Embedded PostgreSQL and local state (spool) when DATABASE_URL is unset. */
  dataDir: "MAAS_BILLING_DATA_DIR",
  port: "PORT",
  host: "HOST",
  /** Path of the price book YAML. */
  priceBook: "MAAS_BILLING_PRICE_BOOK",
  /** Path of the static tokens file (hashed tokens, src/auth/static.ts). */
  tokensFile: "MAAS_BILLING_TOKENS_FILE",
  /** `static` or `kubernetes`. */
  authMode: "MAAS_BILLING_AUTH_MODE",
  retentionMonths: "MAAS_BILLING_RETENTION_MONTHS",
  logLevel: "LOG_LEVEL",
  /** Prometheus/Thanos query URL; set: `serve` runs the collector loop. */
  prometheusUrl: "MAAS_BILLING_PROMETHEUS_URL",
  /** File holding the bearer token for the query URL (preferred over the token itself). */
  prometheusTokenFile: "MAAS_BILLING_PROMETHEUS_TOKEN_FILE",
  prometheusToken: "MAAS_BILLING_PROMETHEUS_TOKEN",
  /** PEM CA bundle for an https query URL. */
  prometheusCaFile: "MAAS_BILLING_PROMETHEUS_CA_FILE",
  /** Collector settings YAML (collector.yaml, parsed by parseCollectorSettingsYaml). */
  collectorConfig: "MAAS_BILLING_COLLECTOR_CONFIG",
  /** Events spool size limit in bytes; 0 turns spooling off. */
  spoolMaxBytes: "MAAS_BILLING_SPOOL_MAX_BYTES",
  /** Events spool directory; default `<data dir>/spool`. */
  spoolDir: "MAAS_BILLING_SPOOL_DIR",
} as const;

export type ServiceEnvKey = keyof typeof SERVICE_ENV;
export type ServiceEnvName = (typeof SERVICE_ENV)[ServiceEnvKey];

/** Set by Kubernetes in every pod; read by the `kubernetes` auth mode to reach the API server. */
export const KUBERNETES_ENV = {
  serviceHost: "KUBERNETES_SERVICE_HOST",
  servicePort: "KUBERNETES_SERVICE_PORT",
} as const;

/** Prefix of the service's own variables: an unknown name with it is a typo (see config.ts). */
export const SERVICE_ENV_PREFIX = "MAAS_BILLING_";
