/**
 * Per-user usage by UTC day (migration 072): usage_hourly is per (tenant, tier, model, hour) and
 * usage_user_daily per (tenant, user, tier, model, UTC day). The quota refresh (quota/usage.ts)
 * reads tenant totals from the first, each user's usage from the second, and the per-user usage
 * of a day in which a price version starts off midnight UTC from the ledger rows themselves.
 *
 * What must hold, on real PostgreSQL:
 *   - every figure of the refresh (tenant total and each user; day, month; tokens, requests and
 *     cost to the minor unit) and the unpriced list equal pricing every ledger row (a full scan
 *     of usage_ledger, priced by the reference in support/quota-reference.ts), for random usage
 *     (events and collector rows with and without a user, re-collected collector rows, around
 *     midnights and price changes), random books (changes at midnight, on a whole hour mid-day,
 *     off the hour), random "now" in the month, and the queue folded or not, by either fold;
 *   - upgrading a database with data to 072 keeps every tenant's hourly sums, gives usage_user_daily
 *     exactly the ledger's per-user day sums (queued rows included, none counted twice), and the
 *     quota figures equal the ledger scan's before and after more usage arrives.
 */
import type { Pool } from "pg";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../src/db/migrate";
import { MIGRATIONS } from "../src/db/migrations";
import { ingestEvents } from "../src/events/ingest";
import { upsertAccessLogRows } from "../src/accesslog/store";
import { parsePriceBook } from "../src/pricebook/pricebook";
import { startPostgres, type RunningPostgres } from "../testkit/postgres";
import { startBillingDb, testPriceBook, usageEvent, type BillingTestDb } from "./support/billing-db";
import { priceText } from "./support/property-books";
import { ledgerFigures, ledgerUserDays, refreshFigures, tenantHours } from "./support/quota-upgrade";

const MAY = Date.UTC(2026, 4, 1);
const DAY = 86_400_000;
const HOUR = 3_600_000;

/** A collector row with a user (or none), tier and model; a second call with the same key re-collects it (the update trigger). */
const collectorRow = async (pool: Pool, row: { key: string; tenant: string; user: string; tier: string; model: string; at: number; input: number; output: number; requests: number }): Promise<void> => {
  await pool.query(
    `insert into collector_usage (idempotency_key, source, billable, tenant, user_id, tier, model, window_start, window_end,
       input_tokens, output_tokens, total_tokens, requests, limited_requests, resets, gaps, samples, series, reconciliation_key, lineage, content_hash)
     values ($1, 'gateway', true, $2, nullif($3, ''), $4, $5, $6, $7, $8::bigint, $9::bigint, $8::bigint + $9::bigint, $10, 0, 0, 0, 240, 1, null, '{}', md5($1 || $8::text || $9::text))
     on conflict (idempotency_key) do update
       set input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, total_tokens = excluded.total_tokens,
           requests = excluded.requests, content_hash = excluded.content_hash`,
    [row.key, row.tenant, row.user, row.tier, row.model, new Date(row.at), new Date(row.at + 60_000), row.input, row.output, row.requests],
  );
};

// Price changes at midnight UTC, on whole hours mid-day (a day the per-user rollup cannot price:
// read from the ledger), and off the hour (the whole month from the ledger).
const CHANGES = ["2026-05-10T00:00:00Z", "2026-05-15T12:00:00Z", "2026-05-15T18:00:00Z", "2026-05-20T07:00:00Z", "2026-05-12T09:30:00Z", "2026-06-01T00:00:00Z"];
const prices = fc.record({ inputPerMillionTokens: priceText, outputPerMillionTokens: priceText, perRequest: priceText });
const bookArb = fc
  .record({
    digits: fc.constantFrom(0, 2, 3),
    changes: fc.uniqueArray(fc.constantFrom(...CHANGES), { maxLength: 3 }),
    llama: fc.array(prices, { minLength: 4, maxLength: 4 }),
    // Granite has no price in some versions: its usage is in no cost figure (unpriced).
    granite: fc.array(fc.option(prices, { nil: undefined }), { minLength: 4, maxLength: 4 }),
  })
  .map(({ digits, changes, llama, granite }) =>
    parsePriceBook(
      JSON.stringify({
        currency: "USD",
        minorUnitDigits: digits,
        versions: ["2026-01-01T00:00:00Z", ...[...changes].sort()].map((effectiveFrom, i) => ({
          effectiveFrom,
          prices: [{ tier: "*", model: "llama", ...llama[i] }, ...(granite[i] ? [{ tier: "*", model: "granite", ...granite[i] }] : [])],
        })),
      }),
      "property book",
    ),
  );
// Days around the month's edges and the change days, any millisecond of them.
const timeArb = fc
  .record({ day: fc.constantFrom(-1, 0, 9, 10, 11, 14, 15, 16, 19, 20, 30, 31), ms: fc.integer({ min: 0, max: DAY - 1 }) })
  .map(({ day, ms }) => MAY + day * DAY + ms);
const usageArb = fc.record({
  collector: fc.boolean(),
  tenant: fc.integer({ min: 0, max: 1 }),
  user: fc.constantFrom("", "u1", "u2"),
  tier: fc.constantFrom("premium", "free"),
  model: fc.constantFrom("llama", "granite"),
  at: timeArb,
  input: fc.integer({ min: 0, max: 2_000_000_000 }),
  output: fc.integer({ min: 0, max: 2_000_000_000 }),
  requests: fc.integer({ min: 0, max: 3 }),
  // A collector row re-collected later with new amounts (late data): the update trigger's difference.
  recollect: fc.option(fc.integer({ min: 0, max: 2_000_000_000 }), { nil: undefined }),
});
const foldArb = fc.constantFrom("none", "whole", "partitions", "full");

describe("quota figures from usage_hourly + usage_user_daily equal the ledger scan", () => {
  let db: BillingTestDb;
  let run = 0;
  beforeAll(async () => {
    db = await startBillingDb();
  }, 120_000);
  afterAll(async () => {
    await db?.stop();
  });

  it("for any usage, book, day of the month and fold state (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ rows: fc.array(usageArb, { minLength: 1, maxLength: 12 }), fold: foldArb }), { minLength: 1, maxLength: 3 }),
        bookArb,
        fc.integer({ min: 0, max: 31 * 24 - 1 }),
        async (batches, book, nowHour) => {
          const r = ++run;
          const tenants = [`qd${r}-a`, `qd${r}-b`];
          let n = 0;
          const recollect: Parameters<typeof collectorRow>[1][] = [];
          for (const batch of batches) {
            const events = batch.rows.filter((u) => !u.collector);
            if (events.length > 0)
              await ingestEvents(
                db.pool,
                events.map((u) =>
                  usageEvent({ id: `qd${r}-${++n}`, tenant: tenants[u.tenant], ...(u.user === "" ? {} : { user: u.user }), tier: u.tier, model: u.model, time: new Date(u.at).toISOString(), inputTokens: u.input, outputTokens: u.output, requests: u.requests }),
                ),
              );
            for (const u of batch.rows.filter((x) => x.collector)) {
              const row = { key: `qd${r}-c${++n}`, tenant: tenants[u.tenant], user: u.user, tier: u.tier, model: u.model, at: u.at, input: u.input, output: u.output, requests: u.requests };
              await collectorRow(db.pool, row);
              if (u.recollect !== undefined) recollect.push({ ...row, input: u.recollect, output: u.output + 1 });
            }
            if (batch.fold === "whole") await db.pool.query("select * from ledger_rollup_drain_counted()");
            if (batch.fold === "partitions") for (const part of [0, 1]) await db.pool.query("select * from ledger_rollup_drain_part($1)", [part]);
            if (batch.fold === "full") await db.pool.query("select ledger_rollup_drain(true)");
          }
          for (const row of recollect) await collectorRow(db.pool, row);
          const now = new Date(MAY + nowHour * HOUR + 1234);
          for (const tenant of tenants) expect(await refreshFigures(db.pool, book, tenant, now)).toEqual(await ledgerFigures(db.pool, book, tenant, now));
        },
      ),
      { numRuns: 60 },
    );
  }, 600_000);

  it("holds no user in usage_hourly, and per-user rows by UTC day only", async () => {
    await ingestEvents(db.pool, [
      usageEvent({ id: "shape-1", tenant: "shape", user: "u1", time: "2026-05-03T23:59:59.999Z", inputTokens: 5 }),
      usageEvent({ id: "shape-2", tenant: "shape", user: "u1", time: "2026-05-04T00:00:00Z", inputTokens: 7 }),
      usageEvent({ id: "shape-3", tenant: "shape", time: "2026-05-04T00:30:00Z", inputTokens: 11 }),
    ]);
    await db.pool.query("select ledger_rollup_drain(true)");
    const hourly = await db.pool.query("select user_key, hour, input_tokens::int as i from usage_hourly where tenant = 'shape' order by hour");
    expect(hourly.rows).toEqual([
      { user_key: "", hour: new Date("2026-05-03T23:00:00Z"), i: 5 },
      { user_key: "", hour: new Date("2026-05-04T00:00:00Z"), i: 18 },
    ]);
    const daily = await db.pool.query("select user_key, day, input_tokens::int as i from usage_user_daily where tenant = 'shape' order by day");
    expect(daily.rows).toEqual([
      { user_key: "u1", day: new Date("2026-05-03T00:00:00Z"), i: 5 },
      { user_key: "u1", day: new Date("2026-05-04T00:00:00Z"), i: 7 },
    ]);
  });
});

describe("upgrading to migration 072", () => {
  let pg: RunningPostgres;
  beforeAll(async () => {
    pg = await startPostgres(undefined, { poolSize: 4 });
  }, 120_000);
  afterAll(async () => {
    await pg?.stop();
  });

  const TENANTS = ["up-a", "up-b"];
  /** Events, collector and access-log rows of both tenants over two days either side of the test book's price change (May 15, 12:00 UTC). */
  const usage = async (pool: Pool, prefix: string): Promise<void> => {
    const times = ["2026-05-14T23:30:00Z", "2026-05-15T00:10:00Z", "2026-05-15T11:59:00Z", "2026-05-15T12:00:00Z", "2026-05-15T23:59:59Z", "2026-05-16T08:00:00Z"];
    await ingestEvents(
      pool,
      times.flatMap((time, i) =>
        TENANTS.map((tenant, t) => usageEvent({ id: `${prefix}-e${i}-${t}`, tenant, ...(i % 3 === 2 ? {} : { user: `u${(i + t) % 2}` }), model: i % 2 ? "llama" : "mistral", time, inputTokens: 1000 * (i + 1), outputTokens: 10 * i })),
      ),
    );
    for (const [i, time] of times.entries()) {
      await collectorRow(pool, { key: `${prefix}-c${i}`, tenant: TENANTS[i % 2], user: i % 2 ? "u1" : "", tier: "premium", model: "llama", at: Date.parse(time), input: 500 + i, output: 5, requests: 1 });
    }
    await upsertAccessLogRows(
      pool,
      times.map((time, i) => ({
        tenant: TENANTS[i % 2],
        source: "gateway-logs",
        recordId: `${prefix}-r${i}`,
        timeUnixNano: (BigInt(Date.parse(time)) * 1_000_000n).toString(),
        user: `u${i % 3}`,
        tier: "premium",
        model: "llama",
        keyId: "k1",
        keyName: "key 1",
        organizationId: null,
        groups: null,
        responseCode: i === 4 ? 429 : 200,
        responseType: i === 4 ? ("rate_limit" as const) : ("hit" as const),
        inputTokens: i === 4 ? 0 : 300 + i,
        outputTokens: i === 4 ? 0 : 30,
        totalTokens: i === 4 ? 0 : 330 + i,
        billable: true,
      })),
    );
  };
  const tenantHourly = tenantHours;
  const ledgerDaily = ledgerUserDays;
  const userDaily = async (pool: Pool, table: string) =>
    (
      await pool.query(
        `select tenant, user_key, tier, model, day, sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
           from ${table} group by 1, 2, 3, 4, 5 having sum(input_tokens) <> 0 or sum(output_tokens) <> 0 or sum(requests) <> 0 order by 1, 2, 3, 4, 5`,
      )
    ).rows;

  it("keeps each tenant's hourly sums, rolls every stored row (folded or queued) into usage_user_daily once, and the quota figures equal the ledger scan", async () => {
    const upTo = MIGRATIONS.findIndex((m) => m.id === 72);
    expect(upTo).toBeGreaterThan(0);
    await migrate(pg.pool, MIGRATIONS.slice(0, upTo));
    await usage(pg.pool, "folded");
    await pg.pool.query("select ledger_rollup_drain(true)");
    await usage(pg.pool, "queued"); // left in the rollup queue
    expect(Number((await pg.pool.query("select count(*) as n from ledger_rollup_queue")).rows[0].n)).toBeGreaterThan(0);
    expect(Number((await pg.pool.query("select count(*) as n from usage_hourly where user_key <> ''")).rows[0].n)).toBeGreaterThan(0);
    const hourlyBefore = await tenantHourly(pg.pool);

    expect((await migrate(pg.pool)).applied).toContain(72);
    expect(Number((await pg.pool.query("select count(*) as n from usage_hourly where user_key <> ''")).rows[0].n)).toBe(0);
    expect(await tenantHourly(pg.pool)).toEqual(hourlyBefore);
    const daily = await ledgerDaily(pg.pool);
    expect(daily.length).toBeGreaterThan(0);
    expect(await userDaily(pg.pool, "usage_user_daily_current")).toEqual(daily);

    const book = testPriceBook();
    const now = new Date("2026-05-15T18:00:00Z");
    const check = async () => {
      for (const tenant of TENANTS) {
        const want = await ledgerFigures(pg.pool, book, tenant, now);
        expect(want.figures.size).toBeGreaterThan(2); // the total and users
        expect(await refreshFigures(pg.pool, book, tenant, now)).toEqual(want);
      }
    };
    await check();
    // Usage after the upgrade folds the new way; the same equalities hold.
    await usage(pg.pool, "after");
    await check();
    await pg.pool.query("select ledger_rollup_drain(true)");
    expect(await userDaily(pg.pool, "usage_user_daily")).toEqual(await ledgerDaily(pg.pool));
    await check();
  }, 300_000);
});
