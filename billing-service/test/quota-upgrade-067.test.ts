/**
 * The upgrade the e2e `timescaledb` stage runs on a real TimescaleDB (support/quota-upgrade.ts), on
 * the embedded PostgreSQL: migrations through 067, usage of every origin (folded and queued),
 * then every newer migration; the quota figures equal the priced ledger scan before and after.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { MIGRATIONS } from "../src/db/migrations";
import { startPostgres, type RunningPostgres } from "../testkit/postgres";
import { testPriceBook } from "./support/billing-db";
import { upgradeWithUsage } from "./support/quota-upgrade";

let pg: RunningPostgres;
beforeAll(async () => {
  pg = await startPostgres(undefined, { poolSize: 4 });
}, 120_000);
afterAll(async () => {
  await pg?.stop();
});

it("from 067 with ledger data to the newest migrations: quota figures equal the priced ledger scan", async () => {
  const { result, notes } = await upgradeWithUsage(pg.pool, testPriceBook(), { fromId: 67, tenants: ["up-a", "up-b"], now: new Date("2026-05-15T18:00:00Z") });
  expect(result.applied).toContain(72);
  expect(result.applied.at(-1)).toBe(MIGRATIONS.at(-1)!.id);
  expect(notes).toHaveLength(3);
}, 300_000);
