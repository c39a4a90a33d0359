/**
 * The API on a test database with static tokens (admin, and one per tenant) and a captured log,
 * so tests can check what was logged (and that no credential was).
 */
import { Writable } from "node:stream";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { buildApp, type App, type ApiLimits } from "../../src/app";
import { vocabularySource } from "../../src/events/vocabulary";
import { createServiceMetrics } from "../../src/ops/metrics";
import { buildMetricsApp } from "../../src/ops/metrics-app";
import { newToken, StaticTokenAuthenticator } from "../../src/auth/static";
import type { BillingTestDb } from "./billing-db";
import { testPriceBook } from "./billing-db";

export interface TestApi {
  readonly app: App;
  /** The scrape-only listener of the same service (GET /metrics). */
  readonly metricsApp: FastifyInstance;
  /** `sender`: a sender (sources ["//test/access-log"]), the only kind of credential POST /v1/logs takes. */
  readonly tokens: { admin: string; acme: string; globex: string; sender: string };
  readonly logLines: string[];
}

/** A pino logger at info whose lines (JSON text, one per write) are kept in `logLines`. */
export const capturedLogger = (): { logger: pino.Logger; logLines: string[] } => {
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString("utf8"));
      done();
    },
  });
  return { logger: pino({ level: "info" }, sink), logLines };
};

export const startTestApi = async (db: BillingTestDb, limits?: Partial<ApiLimits>): Promise<TestApi> => {
  const admin = newToken("ops", { admin: true });
  const acme = newToken("acme-reader", { tenant: "acme" });
  const globex = newToken("globex-reader", { tenant: "globex" });
  const sender = newToken("sender-access-log", { sources: ["//test/access-log"] });
  const { logger, logLines } = capturedLogger();
  const book = testPriceBook();
  const metrics = createServiceMetrics(db.pool, () => book);
  const app = await buildApp({
    pool: db.pool,
    priceBook: () => book,
    metrics,
    limits,
    // The tests' events also use tiers and models priced by the book's "*" entry (as MAAS_BILLING_MODELS
    // lists served models that have no price of their own).
    vocabulary: vocabularySource(() => book, { tiers: ["free", "standard"], models: ["mistral", "granite", "globex-secret-model"] }),
    authenticator: new StaticTokenAuthenticator([admin.entry, acme.entry, globex.entry, sender.entry]),
    logger,
  });
  await app.ready();
  const metricsApp = await buildMetricsApp(metrics);
  return { app, metricsApp, tokens: { admin: admin.token, acme: acme.token, globex: globex.token, sender: sender.token }, logLines };
};
