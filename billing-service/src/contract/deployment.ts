/**
 * Where the platform mounts the files the service reads (the values of the *_FILE / *_CONFIG /
 * PRICE_BOOK env variables in a pod). Both sides import these paths.
 */

/** The collector settings file (collector.yaml). */
export const COLLECTOR_CONFIG_PATH = "/etc/maas-billing/collector.yaml";
/** The configured price book; its own directory, because a ConfigMap volume owns its mount directory. */
export const PRICE_BOOK_DIR = "/etc/maas-billing-pricebook";
export const PRICE_BOOK_PATH = `${PRICE_BOOK_DIR}/pricebook.yaml`;
/** Data directory of the service in a pod (spool). */
export const DATA_DIR = "/var/lib/maas-billing";
/** The month-end exports volume (a PVC) when the close writes to a directory: not under DATA_DIR (an emptyDir). */
export const EXPORTS_DIR = "/var/lib/maas-billing-exports";
/** HTTP port of the service in a pod. */
export const SERVICE_PORT = 8080;
/** Scrape-only port of the service in a pod (GET /metrics and nothing else). */
export const METRICS_PORT = 8081;

/**
 * Connections of `maas-billing serve`'s database pool: what one billing pod holds at most once it
 * serves. The platform's OpenTelemetry Collector keeps 10 access-log requests in flight (its
 * exporter's sending_queue.num_consumers, components/platform/accessLogPipeline.ts), each holding a
 * connection from its COPY to its commit; the rest are for what runs beside them (the rollup fold's
 * workers, the quota refresh, the collector, webhooks, the API's reads), so those do not wait behind
 * a full pool of ingest batches. The platform's config check sizes the database's max_connections
 * with it (components/config/databaseConnections.ts).
 */
export const SERVE_POOL_MAX = 16;

/**
 * Connections of every other command's pool, `migrate` included (the billing pods' init container,
 * which runs before serve in its pod, so a pod holds at most the larger of the two).
 */
export const COMMAND_POOL_MAX = 10;
