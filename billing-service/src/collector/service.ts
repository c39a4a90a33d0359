/**
 * The collector inside `serve`: when `MAAS_BILLING_PROMETHEUS_URL` is set, a loop collects every
 * closed window (one pass per `interval`), and stops with the server. Replicas share the work
 * through the advisory lock: one collects, the others skip their pass.
 */
import type { Pool } from "pg";
import type { Registry } from "prom-client";
import { SERVICE_ENV } from "../contract";
import { runCollectorLoop, type CollectorLog } from "./collect";
import { resolveCollectOptions } from "./cli-options";
import { createCollectorMetrics } from "./metrics";
import { PrometheusClient } from "./prometheus-client";
import { applyCollectorMigrations } from "./schema";

export interface CollectorService {
  stop(): Promise<void>;
}

/**
 * Starts the loop, or returns undefined when no Prometheus URL is configured (the service then
 * only takes usage through the events API). Settings come from `MAAS_BILLING_COLLECTOR_CONFIG`
 * (YAML, see docs/collector.md); token and CA from `MAAS_BILLING_PROMETHEUS_TOKEN_FILE` and
 * `MAAS_BILLING_PROMETHEUS_CA_FILE`.
 */
export const startCollectorService = async (options: {
  readonly pool: Pool;
  readonly registry: Registry;
  readonly log: CollectorLog;
  readonly env?: NodeJS.ProcessEnv;
}): Promise<CollectorService | undefined> => {
  const env = options.env ?? process.env;
  if (!env[SERVICE_ENV.prometheusUrl]) return undefined;
  const { settings, prometheus } = resolveCollectOptions({}, env);
  await applyCollectorMigrations(options.pool);
  const client = new PrometheusClient(prometheus);
  const stop = new AbortController();
  const loop = runCollectorLoop(
    { pool: options.pool, prometheus: client, settings, metrics: createCollectorMetrics(options.registry), log: options.log },
    stop.signal,
  );
  options.log.info({ prometheus: prometheus.url, window: settings.window, offset: settings.offset }, "collector: started");
  return {
    async stop() {
      stop.abort();
      await loop;
      client.close();
    },
  };
};
