/**
 * The environment variables the billing service reads: the one list of their names. The service
 * reads env only through these constants (src/config.ts), and the Pulumi components that deploy it
 * set them through the same constants, so a rename cannot leave one side behind.
 */

/** Env variables of the service, keyed by the config field they feed. */
export const SERVICE_ENV = {
  /** libpq URL of the database; unset: embedded PostgreSQL in the data directory. */
  databaseUrl: "DATABASE_URL",
  /** Given to `migrate` run as the schema owner: the app role to create or update for the service (src/db/roles.ts). */
  appDatabaseRole: "MAAS_BILLING_APP_DB_ROLE",
  /** That role's password (set together with the role). */
  appDatabasePassword: "MAAS_BILLING_APP_DB_PASSWORD",
  /** Embedded PostgreSQL and local state (spool) when DATABASE_URL is unset. */
  dataDir: "MAAS_BILLING_DATA_DIR",
  port: "PORT",
  /** Scrape-only listener (GET /metrics and nothing else); must differ from PORT. */
  metricsPort: "MAAS_BILLING_METRICS_PORT",
  host: "HOST",
  /** Path of the price book YAML. */
  priceBook: "MAAS_BILLING_PRICE_BOOK",
  /** Path of the static tokens file (hashed tokens, src/auth/static.ts). */
  tokensFile: "MAAS_BILLING_TOKENS_FILE",
  /** `static` or `kubernetes`. */
  authMode: "MAAS_BILLING_AUTH_MODE",
  retentionMonths: "MAAS_BILLING_RETENTION_MONTHS",
  logLevel: "LOG_LEVEL",
  /** Comma-separated model names accepted in events besides the price book's (e.g. the served routes). */
  models: "MAAS_BILLING_MODELS",
  /** Comma-separated tier names accepted in events besides the price book's (priced by its `*` entry). */
  tiers: "MAAS_BILLING_TIERS",
  /** /v1 requests per principal per minute (default 1200). */
  requestsPerMinute: "MAAS_BILLING_REQUESTS_PER_MINUTE",
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
  /** Default quotas per tier, JSON (src/quota/defaults.ts): {"<tier>": [{"kind", "period", "limit"}]}. */
  quotaDefaults: "MAAS_BILLING_QUOTA_DEFAULTS",
  /** How often each replica reloads quota rules and usage into memory, ms (default 1000). */
  quotaRefreshMs: "MAAS_BILLING_QUOTA_REFRESH_MS",
  /** Older than this, the in-memory quota check answers 503, ms (default 15000). */
  quotaMaxStaleMs: "MAAS_BILLING_QUOTA_MAX_STALE_MS",
  /** A quota reservation not settled by real usage stops counting after this, seconds (default 900). */
  quotaReservationTtlSeconds: "MAAS_BILLING_QUOTA_RESERVATION_TTL_SECONDS",
  /** The gateway collector settles a reservation once collected this far past it, seconds (default 600). */
  quotaSettleAfterSeconds: "MAAS_BILLING_QUOTA_SETTLE_AFTER_SECONDS",
  /** quota.threshold webhook percentages, comma-separated (default "80,100"; "" none). */
  quotaThresholds: "MAAS_BILLING_QUOTA_THRESHOLDS",
  /** How often `serve` sends due webhooks, ms (default 2000). */
  webhookIntervalMs: "MAAS_BILLING_WEBHOOK_INTERVAL_MS",
  /** In-cluster webhook receivers allowed besides public addresses: CIDRs, addresses, host names or `.domain`, comma-separated (default none). */
  webhookAllow: "MAAS_BILLING_WEBHOOK_ALLOW",
  /** Directory (a PVC) month-end exports are written to; set: `serve` runs the month-end close. */
  closeSinkDir: "MAAS_BILLING_CLOSE_SINK_DIR",
  /** S3-compatible bucket month-end exports are uploaded to (instead of a directory); set: `serve` runs the month-end close. Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (a Secret), never in these settings. */
  closeS3Bucket: "MAAS_BILLING_CLOSE_S3_BUCKET",
  /** Endpoint of an S3-compatible server, http(s) URL without credentials (default AWS S3). */
  closeS3Endpoint: "MAAS_BILLING_CLOSE_S3_ENDPOINT",
  /** Region of the bucket (default us-east-1). */
  closeS3Region: "MAAS_BILLING_CLOSE_S3_REGION",
  /** Key prefix of the exports, e.g. "maas-billing/" (default none). */
  closeS3Prefix: "MAAS_BILLING_CLOSE_S3_PREFIX",
  /** "true": path-style URLs (endpoint/bucket/key), what most S3-compatible servers need (default true with an endpoint, false without). */
  closeS3PathStyle: "MAAS_BILLING_CLOSE_S3_PATH_STYLE",
  /** Hours after the end of a month before it is closed (default 72). */
  closeGraceHours: "MAAS_BILLING_CLOSE_GRACE_HOURS",
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
