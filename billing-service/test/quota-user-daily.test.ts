/**
 * Quota usage per price piece of a UTC day (migrations 072, 073): usage_hourly is per (tenant,
 * tier, model, UTC hour); usage_user_daily per (tenant, user or '' for usage without one, tier,
 * model, piece), a piece starting at the day's start or at a price change point the book's
 * versions start at off midnight (price_change_points, stored by serve: quota/price-points.ts).
 * The quota refresh (quota/usage.ts) reads usage_user_daily alone once the book's points are
 * stored, and the ledger rows until then.
 *
 * What must hold, on real PostgreSQL:
 *   - every figure of the refresh (tenant total and each user; day, month; tokens, requests and
 *     cost to the minor unit) and the unpriced list equal pricing every ledger row (a full scan
 *     of usage_ledger, priced by the reference in support/quota-reference.ts), for random usage
 *     (events and collector rows with and without a user, re-collected collector rows, around
 *     midnights and price changes), random books (changes at midnight, on a whole hour mid-day,
 *     at any second, several in one day), the book's points stored before the usage, after it was
 *     folded (the days re-cut from the ledger) or never (the ledger path), random "now" in the
 *     month, and the queue folded or not, by either fold;
 *   - with the points stored the refresh reads no ledger table (its ledger branch never runs);
 *   - a reader never sees a day half re-cut;
 *   - upgrading a database with data to 072 gives usage_user_daily the ledger's per-user day sums,
 *     and on to 073 adds the rows without a user (queued rows included, none counted twice), and
 *     the quota figures equal the ledger scan's before and after more usage arrives.
 */
import type { Pool } from "pg";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../src/db/migrate";
import { MIGRATIONS } from "../src/db/migrations";
import { ingestEvents } from "../src/events/ingest";
import { upsertAccessLogRows } from "../src/accesslog/store";
import { parsePriceBook } from "../src/pricebook/pricebook";
import { storePriceChangePoints } from "../src/quota/price-points";
import { periodEndOf, periodStartOf, usageQuery } from "../src/quota/usage";
import { versionsInRange } from "../src/pricebook/pricebook";
import { startPostgres, type RunningPostgres } from "../testkit/postgres";
import { startBillingDb, testPriceBook, usageEvent, type BillingTestDb } from "./support/billing-db";
import { priceText } from "./support/property-books";
import { ledgerFigures, refreshFigures } from "./support/quota-upgrade";

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

// Price changes at midnight UTC, on a whole hour mid-day, and at any second (to the second, as
// ISO text: the book's effectiveFrom), on the days the usage falls on; several may fall in one day.
const CHANGE_DAYS = [9, 10, 14, 15, 19, 20];
const changeArb = fc.oneof(
  fc.record({ day: fc.constantFrom(...CHANGE_DAYS) }).map(({ day }) => MAY + day * DAY),
  fc.record({ day: fc.constantFrom(...CHANGE_DAYS), hour: fc.integer({ min: 1, max: 23 }) }).map(({ day, hour }) => MAY + day * DAY + hour * HOUR),
  fc.record({ day: fc.constantFrom(...CHANGE_DAYS), second: fc.integer({ min: 1, max: 86_399 }) }).map(({ day, second }) => MAY + day * DAY + second * 1000),
  fc.constant(Date.UTC(2026, 5, 1)),
);
const prices = fc.record({ inputPerMillionTokens: priceText, outputPerMillionTokens: priceText, perRequest: priceText });
const bookArb = fc
  .record({
    digits: fc.constantFrom(0, 2, 3),
    changes: fc.uniqueArray(changeArb, { maxLength: 4 }),
    llama: fc.array(prices, { minLength: 5, maxLength: 5 }),
    // Granite has no price in some versions: its usage is in no cost figure (unpriced).
    granite: fc.array(fc.option(prices, { nil: undefined }), { minLength: 5, maxLength: 5 }),
  })
  .map(({ digits, changes, llama, granite }) =>
    parsePriceBook(
      JSON.stringify({
        currency: "USD",
        minorUnitDigits: digits,
        versions: [Date.UTC(2026, 0, 1), ...[...changes].sort((a, b) => a - b)].map((at, i) => ({
          effectiveFrom: new Date(at).toISOString(),
          prices: [{ tier: "*", model: "llama", ...llama[i] }, ...(granite[i] ? [{ tier: "*", model: "granite", ...granite[i] }] : [])],
        })),
      }),
      "property book",
    ),
  );
/** When the book's change points are stored: before the usage, after it was ingested and folded (re-cut), or never (the ledger path). */
const storeArb = fc.constantFrom("before", "before", "after", "after", "never");
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

describe("quota figures from usage_user_daily's price pieces equal the ledger scan", () => {
  let db: BillingTestDb;
  let run = 0;
  beforeAll(async () => {
    db = await startBillingDb();
  }, 120_000);
  afterAll(async () => {
    await db?.stop();
  });

  it("for any usage, book (changes at midnight, on the hour, at any second), points stored before, after or never, day of the month and fold state (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ rows: fc.array(usageArb, { minLength: 1, maxLength: 12 }), fold: foldArb }), { minLength: 1, maxLength: 3 }),
        bookArb,
        storeArb,
        fc.integer({ min: 0, max: 31 * 24 - 1 }),
        async (batches, book, store, nowHour) => {
          const r = ++run;
          // Each run starts with no stored points, so "never" runs the ledger path, not points an
          // earlier run stored (each run has tenants of its own; the earlier runs' rows stay cut).
          await db.pool.query("truncate price_change_points");
          if (store === "before") await storePriceChangePoints(db.pool, book);
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
          // Added after the usage: the days of points new to the table are re-cut from the ledger
          // (less what is still queued, which the next fold cuts).
          if (store === "after") await storePriceChangePoints(db.pool, book);
          const now = new Date(MAY + nowHour * HOUR + 1234);
          for (const tenant of tenants) expect(await refreshFigures(db.pool, book, tenant, now)).toEqual(await ledgerFigures(db.pool, book, tenant, now));
        },
      ),
      // endOnFailure: no shrinking (each step is a database scenario, and shrinking ran for the
      // whole timeout without printing anything); the first counterexample is printed as found.
      { numRuns: 80, endOnFailure: true },
    );
  }, 600_000);

  it("holds no user in usage_hourly, and usage_user_daily rows per user ('' without one) and piece of a UTC day, cut at stored change points", async () => {
    await storePriceChangePoints(db.pool, parsePriceBook(JSON.stringify({ currency: "USD", versions: [{ effectiveFrom: "2026-05-04T00:17:05Z", prices: [{ tier: "*", model: "*", inputPerMillionTokens: "1", outputPerMillionTokens: "1", perRequest: "0" }] }] }), "book"));
    await ingestEvents(db.pool, [
      usageEvent({ id: "shape-1", tenant: "shape", user: "u1", time: "2026-05-03T23:59:59.999Z", inputTokens: 5 }),
      usageEvent({ id: "shape-2", tenant: "shape", user: "u1", time: "2026-05-04T00:00:00Z", inputTokens: 7 }),
      usageEvent({ id: "shape-3", tenant: "shape", time: "2026-05-04T00:30:00Z", inputTokens: 11 }),
      usageEvent({ id: "shape-4", tenant: "shape", user: "u1", time: "2026-05-04T00:17:05Z", inputTokens: 13 }),
    ]);
    await db.pool.query("select ledger_rollup_drain(true)");
    const hourly = await db.pool.query("select user_key, hour, input_tokens::int as i from usage_hourly where tenant = 'shape' order by hour");
    expect(hourly.rows).toEqual([
      { user_key: "", hour: new Date("2026-05-03T23:00:00Z"), i: 5 },
      { user_key: "", hour: new Date("2026-05-04T00:00:00Z"), i: 31 },
    ]);
    const daily = await db.pool.query("select user_key, day, input_tokens::int as i from usage_user_daily where tenant = 'shape' order by day, user_key");
    expect(daily.rows).toEqual([
      { user_key: "u1", day: new Date("2026-05-03T00:00:00Z"), i: 5 },
      { user_key: "u1", day: new Date("2026-05-04T00:00:00Z"), i: 7 },
      { user_key: "", day: new Date("2026-05-04T00:17:05Z"), i: 11 },
      { user_key: "u1", day: new Date("2026-05-04T00:17:05Z"), i: 13 },
    ]);
  });

  /** Books with a change on the hour and one off it, on May 15 (the usage's day). */
  const cutBook = (changes: readonly string[]) =>
    parsePriceBook(
      JSON.stringify({
        currency: "USD",
        minorUnitDigits: 2,
        versions: ["2026-01-01T00:00:00Z", ...changes].map((effectiveFrom, i) => ({
          effectiveFrom,
          prices: [{ tier: "*", model: "*", inputPerMillionTokens: `${i + 1}.00`, outputPerMillionTokens: "0.50", perRequest: "0.01" }],
        })),
      }),
      "book",
    );
  const dayOfUsage = async (tenant: string, n: number) => {
    await ingestEvents(
      db.pool,
      Array.from({ length: n }, (_, i) =>
        usageEvent({ id: `${tenant}-${i}`, tenant, ...(i % 4 === 0 ? {} : { user: `u${i % 3}` }), time: new Date(Date.UTC(2026, 4, 15) + Math.floor((i * DAY) / n)).toISOString(), inputTokens: 1000 + i, outputTokens: i, requests: 1 }),
      ),
    );
  };

  it("with the book's points stored, the refresh reads no ledger table: its ledger branch never runs", async () => {
    await dayOfUsage("plan", 200);
    await db.pool.query("select ledger_rollup_drain(true)");
    const now = new Date("2026-05-15T23:00:00Z");
    for (const changes of [["2026-05-15T12:00:00Z"], ["2026-05-15T12:34:56Z", "2026-05-15T17:00:01Z"]]) {
      const book = cutBook(changes);
      const versions = versionsInRange(book, periodStartOf("month", now), periodEndOf("month", now));
      // Which ledger tables a plan node read rows of (a node that never ran has no rows).
      const ledgerNodesRun = async (): Promise<string[]> => {
        const q = usageQuery(versions, { tenant: "plan", now });
        const plan = (await db.pool.query(`explain (analyze, format json) ${q.text}`, q.values)).rows[0]["QUERY PLAN"];
        const found: string[] = [];
        const walk = (node: Record<string, unknown>): void => {
          const rel = node["Relation Name"];
          if (typeof rel === "string" && ["usage_events", "collector_usage", "access_log_usage"].includes(rel) && Number(node["Actual Loops"]) > 0) found.push(rel);
          for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
        };
        walk(plan[0].Plan);
        return found;
      };
      if (changes.some((c) => !c.endsWith(":00:00Z"))) {
        // Not stored yet: the ledger path (the check is real, it does read the tables).
        expect(await ledgerNodesRun()).toContain("usage_events");
      }
      await storePriceChangePoints(db.pool, book);
      expect(await ledgerNodesRun()).toEqual([]);
      expect(await refreshFigures(db.pool, book, "plan", now)).toEqual(await ledgerFigures(db.pool, book, "plan", now));
    }
  });

  it("a re-cut reads only its days' ledger rows, however far apart the new points are (review S10)", async () => {
    // 12,000 collector rows, one an hour over 500 days, folded: the first start after the upgrade
    // adds every off-midnight point the book ever had, here two 15 months apart. Each day is read
    // as its own range (the window_start index), so the re-cut reads the rows of those two days,
    // not the months between them. Counted by the server (this transaction's table statistics).
    await db.pool.query(
      `insert into collector_usage (idempotency_key, source, billable, tenant, user_id, tier, model, window_start, window_end,
         input_tokens, output_tokens, total_tokens, requests, limited_requests, resets, gaps, samples, series, reconciliation_key, lineage, content_hash)
       select 'far-' || h, 'gateway', true, 'far', 'u1', 'free', 'm', t, t + interval '1 minute', 10, 1, 11, 1, 0, 0, 0, 240, 1, null, '{}', md5('far-' || h)
         from generate_series(0, 11999) h, lateral (select timestamptz '2025-01-01T00:30:00Z' + h * interval '1 hour' as t) x`,
    );
    await db.pool.query("select ledger_rollup_drain(true)");
    await db.pool.query("analyze collector_usage");
    const points = [new Date("2025-01-10T09:00:00Z"), new Date("2026-04-10T12:00:00Z")];
    const client = await db.pool.connect();
    try {
      // The session's counts not yet reported (since its last report, earlier transactions too),
      // before and after the call; nothing is reported inside a transaction block.
      const tuplesRead = async () =>
        Number(
          (await client.query<{ n: string }>("select (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::text as n from pg_stat_xact_user_tables where relname = 'collector_usage'"))
            .rows[0].n,
        );
      await client.query("begin");
      const before = await tuplesRead();
      expect((await client.query("select price_change_points_add($1::timestamptz[]) as n", [points])).rows[0].n).toBe(2);
      const read = (await tuplesRead()) - before;
      const inDays = (
        await client.query<{ n: string }>(
          `select count(*)::text as n from collector_usage
            where window_start >= '2025-01-10T00:00:00Z' and window_start < '2025-01-11T00:00:00Z' or window_start >= '2026-04-10T00:00:00Z' and window_start < '2026-04-11T00:00:00Z'`,
        )
      ).rows[0].n;
      expect(Number(inDays)).toBeGreaterThanOrEqual(48);
      // The count above read rows too, after `read` was taken; `read` is the re-cut's alone.
      expect(Number(read)).toBeLessThanOrEqual(Number(inDays));
      expect(Number(read)).toBeGreaterThanOrEqual(48);
    } finally {
      await client.query("rollback");
      client.release();
    }
  });

  it("a reader never sees a day half re-cut: while a point's re-cut is uncommitted, figures equal the ledger scan with the book with and without it", async () => {
    await dayOfUsage("atomic", 120);
    await db.pool.query("select ledger_rollup_drain(true)");
    const now = new Date("2026-05-16T01:00:00Z");
    const before = cutBook(["2026-05-15T03:00:00Z"]);
    const after = cutBook(["2026-05-15T03:00:00Z", "2026-05-15T09:41:07Z"]);
    await storePriceChangePoints(db.pool, before);
    const writer = await db.pool.connect();
    try {
      await writer.query("begin");
      expect((await writer.query("select price_change_points_add($1::timestamptz[]) as n", [[new Date("2026-05-15T09:41:07Z")]])).rows[0].n).toBe(1);
      // The re-cut day's rows are deleted and inserted anew in the open transaction; readers see the old cut.
      for (const book of [before, after]) expect(await refreshFigures(db.pool, book, "atomic", now)).toEqual(await ledgerFigures(db.pool, book, "atomic", now));
      await writer.query("commit");
    } finally {
      writer.release();
    }
    for (const book of [before, after]) expect(await refreshFigures(db.pool, book, "atomic", now)).toEqual(await ledgerFigures(db.pool, book, "atomic", now));
  });
});

describe("upgrading to migrations 072 and 073", () => {
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
  const tenantHourly = async (pool: Pool) =>
    (
      await pool.query(
        `select tenant, tier, model, hour, sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
           from usage_hourly_current group by 1, 2, 3, 4 order by 1, 2, 3, 4`,
      )
    ).rows;
  const ledgerHourly = async (pool: Pool) =>
    (
      await pool.query(
        `select tenant, tier, model, date_trunc('hour', window_start, 'UTC') as hour, sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
           from usage_ledger group by 1, 2, 3, 4 order by 1, 2, 3, 4`,
      )
    ).rows;
  const ledgerDaily = async (pool: Pool) =>
    (
      await pool.query(
        `select tenant, user_id as user_key, tier, model, date_trunc('day', window_start, 'UTC') as day, sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
           from usage_ledger where user_id <> '' group by 1, 2, 3, 4, 5 order by 1, 2, 3, 4, 5`,
      )
    ).rows;
  const userDaily = async (pool: Pool, table: string) =>
    (
      await pool.query(
        `select tenant, user_key, tier, model, day, sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
           from ${table} group by 1, 2, 3, 4, 5 having sum(input_tokens) <> 0 or sum(output_tokens) <> 0 or sum(requests) <> 0 order by 1, 2, 3, 4, 5`,
      )
    ).rows;

  /** The ledger's sums per (tenant, user or '', tier, model, piece of a UTC day cut at the stored points). */
  const ledgerPieces = async (pool: Pool) =>
    (
      await pool.query(
        `select tenant, coalesce(user_id, '') as user_key, tier, model, price_piece(window_start, price_cut_points()) as day,
                sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
           from usage_ledger group by 1, 2, 3, 4, 5 having sum(input_tokens) <> 0 or sum(output_tokens) <> 0 or sum(requests) <> 0 order by 1, 2, 3, 4, 5`,
      )
    ).rows;
  // The test book's change (May 15, 12:00 UTC) and one off the hour inside the usage's days.
  const book = parsePriceBook(
    JSON.stringify({
      currency: "USD",
      minorUnitDigits: 2,
      versions: [
        ...testPriceBook().versions.map((v) => v.content),
        { effectiveFrom: "2026-05-15T20:13:47Z", prices: [{ tier: "*", model: "*", inputPerMillionTokens: "9.00", outputPerMillionTokens: "3.00", perRequest: "0.002" }] },
      ],
    }),
    "upgrade book",
  );

  it("072 keeps each tenant's hourly sums and rolls every stored row (folded or queued) into usage_user_daily once; 073 adds the rows without a user, and the quota figures equal the ledger scan", async () => {
    const at72 = MIGRATIONS.findIndex((m) => m.id === 72);
    expect(at72).toBeGreaterThan(0);
    await migrate(pg.pool, MIGRATIONS.slice(0, at72));
    await usage(pg.pool, "folded");
    await pg.pool.query("select ledger_rollup_drain(true)");
    await usage(pg.pool, "queued"); // left in the rollup queue
    expect(Number((await pg.pool.query("select count(*) as n from ledger_rollup_queue")).rows[0].n)).toBeGreaterThan(0);
    expect(Number((await pg.pool.query("select count(*) as n from usage_hourly where user_key <> ''")).rows[0].n)).toBeGreaterThan(0);
    const hourlyBefore = await tenantHourly(pg.pool);

    expect((await migrate(pg.pool, MIGRATIONS.slice(0, at72 + 1))).applied).toEqual([72]);
    expect(Number((await pg.pool.query("select count(*) as n from usage_hourly where user_key <> ''")).rows[0].n)).toBe(0);
    expect(await tenantHourly(pg.pool)).toEqual(hourlyBefore);
    const daily = await ledgerDaily(pg.pool);
    expect(daily.length).toBeGreaterThan(0);
    expect(await userDaily(pg.pool, "usage_user_daily_current")).toEqual(daily);

    // 072 as released, with more usage queued (072's fold and views), then 073.
    await usage(pg.pool, "queued-072");
    expect((await migrate(pg.pool)).applied).toContain(73);
    expect(Number((await pg.pool.query("select count(*) as n from ledger_rollup_queue")).rows[0].n)).toBe(0);
    expect(await tenantHourly(pg.pool)).toEqual(await ledgerHourly(pg.pool));
    expect(Number((await pg.pool.query("select count(*) as n from usage_user_daily where user_key = ''")).rows[0].n)).toBeGreaterThan(0);
    expect(await userDaily(pg.pool, "usage_user_daily")).toEqual(await ledgerPieces(pg.pool));

    const now = new Date("2026-05-15T21:00:00Z");
    const check = async () => {
      for (const tenant of TENANTS) {
        const want = await ledgerFigures(pg.pool, book, tenant, now);
        expect(want.figures.size).toBeGreaterThan(2); // the total and users
        expect(await refreshFigures(pg.pool, book, tenant, now)).toEqual(want);
      }
    };
    await check(); // the points not stored yet: the ledger path
    // serve stores the book's points: May 15 is re-cut at 12:00 and 20:13:47 from the ledger.
    await usage(pg.pool, "queued-073"); // queued when the point arrives
    expect(await storePriceChangePoints(pg.pool, book)).toBe(2); // 12:00 and 20:13:47
    expect(await storePriceChangePoints(pg.pool, book)).toBe(0);
    expect(await userDaily(pg.pool, "usage_user_daily_current")).toEqual(await ledgerPieces(pg.pool));
    expect((await pg.pool.query("select count(*)::int as n from usage_user_daily where day = '2026-05-15T20:13:47Z'")).rows[0].n).toBeGreaterThan(0);
    await check();
    // Usage after the upgrade folds the new way; the same equalities hold.
    await usage(pg.pool, "after");
    await check();
    await pg.pool.query("select ledger_rollup_drain(true)");
    expect(await userDaily(pg.pool, "usage_user_daily")).toEqual(await ledgerPieces(pg.pool));
    await check();
  }, 300_000);
});
