/**
 * `serve`: database (migrated), price book, authenticator, the app listening on PORT, the
 * collector loop when Prometheus is configured, daily retention, and a graceful shutdown on
 * SIGTERM/SIGINT (stop accepting, finish in-flight requests, stop the collector, close the DB).
 */
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { buildApp, type App } from "./app";
import { selectAuthenticator } from "./auth/select";
import { startCollectorService, type CollectorService } from "./collector/service";
import type { ServiceConfig } from "./config";
import { openDatabase } from "./db/open";
import { SERVE_POOL_MAX } from "./contract/deployment";
import { createServiceMetrics } from "./ops/metrics";
import { buildMetricsApp } from "./ops/metrics-app";
import { vocabularySource } from "./events/vocabulary";
import { loadPriceBook } from "./pricebook/pricebook";
import { storePriceChangePoints } from "./quota/price-points";
import { createAccessLogSpool, createEventSpool } from "./spool";
import { createWebhookDispatcher, type WebhookDispatcher } from "./webhooks/dispatcher";
import { runMonthEndClose } from "./close/month-end";
import { openExportSink } from "./close/sink";
import { startRollupDrain, type RollupDrain } from "./db/rollup-drain";
import { startLokiPull } from "./accesslog/loki";
import { createTenantResolver } from "./collector/tenant-map";
import { readFileSync } from "node:fs";

export interface RunningServer {
  readonly app: App;
  readonly url: string;
  /** The scrape-only listener's base URL (GET /metrics). */
  readonly metricsUrl: string;
  close(): Promise<void>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export const startServer = async (config: ServiceConfig): Promise<RunningServer> => {
  const logger = pino({ level: config.logging.level, redact: ["req.headers.authorization", "headers.authorization", "token"] });
  const priceBook = loadPriceBook(config.priceBook.path);
  const { authenticator, localAdminTokenFile } = await selectAuthenticator(config);
  const db = await openDatabase(config, { ownSignals: true, log: logger, max: SERVE_POOL_MAX });
  let collector: CollectorService | undefined;
  let retentionTimer: NodeJS.Timeout | undefined;
  let webhooks: WebhookDispatcher | undefined;
  let closeTimer: NodeJS.Timeout | undefined;
  let metricsApp: FastifyInstance | undefined;
  let rollupDrain: RollupDrain | undefined;
  let lokiPull: { stop(): Promise<void> } | undefined;
  try {
    const migrated = await db.migrate();
    logger.info({ applied: migrated.applied, schema: migrated.current, embeddedPostgres: db.embedded }, "database ready");
    // Before any quota check: the fold cuts usage at the book's price changes (quota/price-points.ts).
    const pointsAdded = await storePriceChangePoints(db.pool, priceBook);
    if (pointsAdded > 0) logger.info({ pointsAdded }, "price change points stored: their days re-cut from the ledger");
    const metrics = createServiceMetrics(db.pool, () => priceBook);
    // Events are acknowledged once committed, or fsynced to <data dir>/spool while the database is down.
    const spool = createEventSpool({ pool: db.pool, spool: config.spool, log: logger });
    spool.start();
    // The same for access-log records (POST /v1/logs), in their own queue.
    const accessLogSpool = createAccessLogSpool({ pool: db.pool, spool: config.spool, log: logger });
    accessLogSpool.start();
    // Ledger inserts queue their rollup rows; this folds them in (readers read rollup + queue).
    rollupDrain = startRollupDrain(db.pool, { onError: (e) => logger.warn({ err: e }, "rollup drain failed: retried in a second (readers still see the queued rows)") });
    const settings = config.collector?.settings;
    const app = await buildApp({
      pool: db.pool,
      priceBook: () => priceBook,
      authenticator,
      logger,
      metrics,
      ingest: spool.ingest,
      // Access logs are billed unless the gateway counters are the billable source (docs/usage-sources.md).
      accessLogs: {
        ingest: accessLogSpool.ingest,
        tenants: settings?.tenants,
        strictTenants: settings?.strictTenants,
        billableSource: settings?.billableSource ?? "access-log",
        windowSeconds: settings ? Math.round(settings.window / 1000) : undefined,
        tolerance: settings?.reconcileTolerance,
      },
      vocabulary: vocabularySource(() => priceBook, { models: config.events.models, tiers: config.events.tiers }),
      limits: { requestsPerMinute: config.limits.requestsPerMinute },
      portalTrustsForwardedToken: config.auth.mode === "kubernetes",
      quota: {
        tierDefaults: config.quota.tierDefaults,
        refreshMs: config.quota.refreshMs,
        maxStaleMs: config.quota.maxStaleMs,
        reservations: { ttlMs: config.quota.reservationTtlMs, settleAfterMs: config.quota.settleAfterMs },
        thresholds: config.quota.thresholds,
      },
    });
    metricsApp = await buildMetricsApp(metrics);
    const applyRetention = async (): Promise<void> => {
      try {
        const r = await db.pool.query<{ n: string }>("select maas_billing_apply_retention($1) as n", [config.retention.months]);
        logger.info({ deletedRows: Number(r.rows[0].n), retentionMonths: config.retention.months }, "retention applied");
      } catch (e) {
        logger.error({ err: e }, "retention failed");
      }
    };
    await applyRetention();
    retentionTimer = setInterval(() => void applyRetention(), DAY_MS);
    retentionTimer.unref();
    // Outbound webhooks: every replica runs the dispatcher; per-endpoint locks keep one sender and the order.
    webhooks = createWebhookDispatcher(db.pool, { egress: config.webhooks.egress, onError: (e) => logger.error({ err: e }, "webhook dispatch failed") });
    webhooks.start(config.webhooks.intervalMs);
    // Month-end close, hourly when a sink is configured: idempotent, so every replica may try.
    const closeSettings = config.close;
    if (closeSettings) {
      const sink = openExportSink(closeSettings.sink);
      const close = async (): Promise<void> => {
        try {
          const report = await runMonthEndClose(db.pool, priceBook, { graceMs: closeSettings.graceMs, sink });
          if (report.status === "closed") logger.info({ monthEndClose: report }, "month closed");
        } catch (e) {
          logger.error({ err: e }, "month-end close failed");
        }
      };
      void close();
      closeTimer = setInterval(() => void close(), 3_600_000);
      closeTimer.unref();
    }
    collector = await startCollectorService({ pool: db.pool, registry: metrics.registry, log: logger, collector: config.collector });
    // Optional pull of access logs from Loki (collector setting lokiPull), into the access-log rows.
    const pull = settings?.lokiPull;
    if (settings && pull) {
      const resolver = createTenantResolver({ tenants: settings.tenants, strict: settings.strictTenants });
      lokiPull = startLokiPull(
        {
          pool: db.pool,
          settings: pull,
          bearerToken: pull.bearerTokenFile ? () => readFileSync(pull.bearerTokenFile!, "utf8").trim() : undefined,
          tenantOfNamespace: (ns) => {
            const a = resolver.byNamespace(ns);
            return a.kind === "tenant" ? a.tenant : undefined;
          },
          billable: settings.billableSource === "access-log",
        },
        logger,
      );
      logger.info({ loki: pull.url, source: pull.source }, "loki pull: started");
    }
    const metricsUrl = await metricsApp.listen({ port: config.server.metricsPort, host: config.server.host });
    const address = await app.listen({ port: config.server.port, host: config.server.host });
    // One line naming what this process bound, at any LOG_LEVEL but silent: whoever started it (a
    // supervisor, the test kit) learns that these ports are this process's, not another process's
    // that happens to answer on them.
    (config.logging.level === "silent" ? logger : logger.child({}, { level: "info" })).info({ url: address, metricsUrl }, "listening");
    if (localAdminTokenFile) logger.info({ adminTokenFile: localAdminTokenFile }, "static auth without MAAS_BILLING_TOKENS_FILE: local admin token is in this file");
    let closing: Promise<void> | undefined;
    const close = (): Promise<void> =>
      (closing ??= (async () => {
        logger.info("shutting down: draining requests");
        clearInterval(retentionTimer);
        clearInterval(closeTimer);
        await app.close();
        await webhooks?.stop();
        await metricsApp?.close();
        await spool.stop();
        await accessLogSpool.stop();
        await collector?.stop();
        await lokiPull?.stop();
        await rollupDrain?.stop();
        await db.close();
        logger.info("stopped");
      })());
    return { app, url: address, metricsUrl, close };
  } catch (e) {
    clearInterval(retentionTimer);
    clearInterval(closeTimer);
    await webhooks?.stop();
    await metricsApp?.close();
    await collector?.stop();
    await lokiPull?.stop();
    await rollupDrain?.stop();
    await db.close();
    throw e;
  }
};
