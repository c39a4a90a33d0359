/**
 * The collector inside `serve`: when a Prometheus URL is configured (`MAAS_BILLING_PROMETHEUS_URL`),
 * a loop collects every closed window (one pass per `interval`), and stops with the server.
 * Replicas share the work through the advisory lock: one collects, the others skip their pass.
 */
import type { Pool } from "pg";
import type { Registry } from "prom-client";
import type { CollectorConfig } from "../config";
import { runCollectorLoop, type CollectorLog } from "./collect";
import { createCollectorMetrics } from "./metrics";
import { PrometheusClient } from "./prometheus-client";
import { createSampleSource } from "./sample-source";

export interface CollectorService {
  stop(): Promise<void>;
}

/**
 * Starts the loop on a migrated database, or returns undefined without a collector section (the
 * service then only takes usage through the events API). The section comes from the service
 * config (src/config.ts: settings file, token and CA).
 */
export const startCollectorService = async (options: {
  readonly pool: Pool;
  readonly registry: Registry;
  readonly log: CollectorLog;
  readonly collector: CollectorConfig | undefined;
}): Promise<CollectorService | undefined> => {
  if (!options.collector) return undefined;
  const { settings, prometheus } = options.collector;
  const client = new PrometheusClient(prometheus);
  const source = createSampleSource(client, settings.readApi, options.log);
  const stop = new AbortController();
  const loop = runCollectorLoop(
    { pool: options.pool, prometheus: source, settings, metrics: createCollectorMetrics(options.registry), log: options.log },
    stop.signal,
  );
  options.log.info({ prometheus: prometheus.url, window: settings.window, offset: settings.offset, readApi: settings.readApi }, "collector: started");
  return {
    async stop() {
      stop.abort();
      await loop;
      source.close();
      client.close();
    },
  };
};
