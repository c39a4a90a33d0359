/**
 * The API on a test database with static tokens (admin, and one per tenant) and a captured log,
 * so tests can check what was logged (and that no credential was).
 */
import { Writable } from "node:stream";
import pino from "pino";
import { buildApp, type App } from "../../src/app";
import { newToken, StaticTokenAuthenticator } from "../../src/auth/static";
import type { BillingTestDb } from "./billing-db";
import { testPriceBook } from "./billing-db";

export interface TestApi {
  readonly app: App;
  readonly tokens: { admin: string; acme: string; globex: string };
  readonly logLines: string[];
}

export const startTestApi = async (db: BillingTestDb): Promise<TestApi> => {
  const admin = newToken("ops", { admin: true });
  const acme = newToken("acme-reader", { tenant: "acme" });
  const globex = newToken("globex-reader", { tenant: "globex" });
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString("utf8"));
      done();
    },
  });
  const book = testPriceBook();
  const app = await buildApp({
    pool: db.pool,
    priceBook: () => book,
    authenticator: new StaticTokenAuthenticator([admin.entry, acme.entry, globex.entry]),
    logger: pino({ level: "info" }, sink),
  });
  await app.ready();
  return { app, tokens: { admin: admin.token, acme: acme.token, globex: globex.token }, logLines };
};
