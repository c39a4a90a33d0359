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
