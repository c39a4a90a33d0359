/**
 * Review R6: the rollups that quotas, /metrics and the ledger cost read bucket by UTC hour and UTC
 * day on a PostgreSQL server whose TimeZone is off UTC by a fraction of an hour (Asia/Kolkata,
 * +05:30, set on the database: every new session takes it, the migration runner's too).
 * Before migration 073 the fold and the collector's triggers used date_trunc('hour', t) in the
 * session's zone, so usage_hourly's rows started at :30 UTC, straddled UTC hours and days, and a
 * tenant's day and month figures counted usage of the neighbouring UTC day.
 *
 * What must hold, on real PostgreSQL at +05:30:
 *   - upgrading with rows 072 bucketed at :30 re-buckets them by UTC hour (sums equal the ledger's
 *     per UTC hour), queued rows included;
 *   - usage after it (events through the queue and its fold, collector rows through their
 *     triggers, re-collected rows) lands by UTC hour, in the rollup and in usage_hourly_current;
 *   - the same for the per-key panel's access_log_key_hourly (re-bucketed by 073, the fold and
 *     access_log_key_hourly_current by UTC hour; review S4);
 *   - the price pieces (usage_user_daily, 073) are UTC days cut at the stored change points, and
 *     the quota figures (tenant total and users, day and month) equal the priced ledger scan
 *     around UTC midnight and a month end;
 *   - /metrics' ledger cost reads a split hour (a version starting off the hour) from the ledger by
 *     UTC hour, so it equals pricing each row (review S4: by the session's hour, that hour matched
 *     no split hour at +05:30 and its usage was left out of the figure).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../src/db/migrate";
import { MIGRATIONS } from "../src/db/migrations";
import { ingestEvents } from "../src/events/ingest";
import { upsertAccessLogRows } from "../src/accesslog/store";
import { accessOutcome } from "../testkit/access-logs";
import { storePriceChangePoints } from "../src/quota/price-points";
import { periodEndOf, periodStartOf, readUsageSnapshot, type UsageRow } from "../src/quota/usage";
import { parsePriceBook, type PriceBook } from "../src/pricebook/pricebook";
import { ledgerCosts } from "../src/ops/ledger-cost";
import { kitPool, startPostgres, type RunningPostgres } from "../testkit/postgres";
import { usageEvent } from "./support/billing-db";
import { figuresOf, perRow } from "./support/quota-reference";

const ZONE = "Asia/Kolkata";

let server: RunningPostgres;
let pool: pg.Pool;
let quiet: () => void;

beforeAll(async () => {
  server = await startPostgres(undefined, { poolSize: 1 });
  // The server's setting, not the client's: every session opened from now on is at +05:30.
  const name = (await server.pool.query<{ d: string }>("select current_database() as d")).rows[0].d;
  await server.pool.query(`alter database ${pg.escapeIdentifier(name)} set timezone to '${ZONE}'`);
  ({ pool, quiet } = kitPool(server.url, 4));
}, 120_000);

afterAll(async () => {
  quiet?.();
  await pool?.end();
  await server?.stop();
});

const book: PriceBook = parsePriceBook(
  JSON.stringify({
    currency: "USD",
    minorUnitDigits: 2,
    versions: [
      { effectiveFrom: "2026-01-01T00:00:00Z", prices: [{ tier: "*", model: "*", inputPerMillionTokens: "1.00", outputPerMillionTokens: "2.00", perRequest: "0.01" }] },
      { effectiveFrom: "2026-05-31T18:45:30Z", prices: [{ tier: "*", model: "*", inputPerMillionTokens: "3.00", outputPerMillionTokens: "5.00", perRequest: "0.02" }] },
    ],
  }),
  "book",
);

/** Usage around UTC midnights and the month's end, on :00-:59 of UTC hours that +05:30 splits. */
const TIMES = ["2026-05-30T23:10:00Z", "2026-05-30T23:50:00Z", "2026-05-31T00:20:00Z", "2026-05-31T18:40:00Z", "2026-05-31T18:50:00Z", "2026-05-31T23:45:00Z", "2026-06-01T00:15:00Z"];
const usage = async (prefix: string): Promise<void> => {
  await ingestEvents(
    pool,
    TIMES.map((time, i) => usageEvent({ id: `${prefix}-e${i}`, tenant: "kol", ...(i % 3 === 0 ? {} : { user: `u${i % 2}` }), time, inputTokens: 1000 + i, outputTokens: 10 * i, requests: 1 })),
  );
  await upsertAccessLogRows(
    pool,
    TIMES.map((time, i) => ({
      tenant: "kol",
      source: "gateway-logs",
      recordId: `${prefix}-a${i}`,
      timeUnixNano: (BigInt(Date.parse(time)) * 1_000_000n).toString(),
      user: `u${i % 2}`,
      tier: "premium",
      model: "llama",
      keyId: `k${i % 2}`,
      keyName: `key ${i % 2}`,
      organizationId: null,
      groups: null,
      ...accessOutcome({ type: "hit", input: 700 + i, output: 7 }),
      billable: true,
    })),
  );
  for (const [i, time] of TIMES.entries()) {
    const start = new Date(time);
    await pool.query(
      `insert into collector_usage (idempotency_key, source, billable, tenant, user_id, tier, model, window_start, window_end,
         input_tokens, output_tokens, total_tokens, requests, limited_requests, resets, gaps, samples, series, reconciliation_key, lineage, content_hash)
       values ($1, 'gateway', true, 'kol', $2, 'premium', 'llama', $3, $4, $5::bigint, 1, $5::bigint + 1, 1, 0, 0, 0, 240, 1, null, '{}', md5($1 || $5::text))
       on conflict (idempotency_key) do update set input_tokens = excluded.input_tokens, total_tokens = excluded.total_tokens, content_hash = excluded.content_hash`,
      [`${prefix}-c${i}`, i % 2 ? "u1" : null, start, new Date(start.getTime() + 60_000), 500 + i],
    );
  }
};

const ledgerHourly = async () =>
  (
    await pool.query(
      `select tier, model, date_trunc('hour', window_start, 'UTC') as hour, sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
         from usage_ledger where tenant = 'kol' group by 1, 2, 3 order by 1, 2, 3`,
    )
  ).rows;
const rollupHourly = async (table: string) =>
  (
    await pool.query(
      `select tier, model, hour, sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
         from ${table} where tenant = 'kol' group by 1, 2, 3 having sum(input_tokens) <> 0 or sum(output_tokens) <> 0 or sum(requests) <> 0 order by 1, 2, 3`,
    )
  ).rows;

/** The per-key panel's rollup (access_log_key_hourly, review S4) against the access log by UTC hour. */
const ledgerKeyHourly = async () =>
  (
    await pool.query(
      `select coalesce(key_id, '') as k, coalesce(key_name, '') as n, model, date_trunc('hour', event_time, 'UTC') as hour,
              sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(case when response_type = 'hit' then 1 else 0 end)::text as r
         from access_log_usage where tenant = 'kol' and billable group by 1, 2, 3, 4 order by 1, 2, 3, 4`,
    )
  ).rows;
const rollupKeyHourly = async (table: string) =>
  (
    await pool.query(
      `select key_id as k, key_name as n, model, hour, sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
         from ${table} where tenant = 'kol' group by 1, 2, 3, 4 having sum(input_tokens) <> 0 or sum(output_tokens) <> 0 or sum(requests) <> 0 order by 1, 2, 3, 4`,
    )
  ).rows;

/** Every ledger row of the month priced one by one (support/quota-reference.ts), keyed as the refresh's figures. */
const ledgerFigures = async (now: Date) => {
  const dayStart = periodStartOf("day", now).getTime();
  const rows = (
    await pool.query<{ u: string; tier: string; model: string; t: Date; a: string; b: string; c: string }>(
      `select coalesce(user_id, '') as u, tier, model, window_start as t, input_tokens::text as a, output_tokens::text as b, requests::text as c
         from usage_ledger where tenant = 'kol' and window_start >= $1 and window_start < $2`,
      [periodStartOf("month", now), periodEndOf("month", now)],
    )
  ).rows.map((r): UsageRow => [false, "kol", r.u, r.tier, r.model, r.t.getTime() >= dayStart, book.versions.filter((v) => v.effectiveFrom <= r.t).length, r.a, r.b, r.c, null]);
  return perRow(rows, book);
};

describe(`rollups by UTC hour and day on a server at ${ZONE}`, () => {
  it("re-buckets 072's rows by UTC hour on upgrade, folds new usage by UTC hour, and the quota figures equal the ledger scan", async () => {
    expect((await pool.query<{ tz: string }>("select current_setting('TimeZone') as tz")).rows[0].tz).toBe(ZONE);
    const at73 = MIGRATIONS.findIndex((m) => m.id === 73);
    expect(at73).toBeGreaterThan(0);
    await migrate(pool, MIGRATIONS.slice(0, at73));
    await usage("old");
    await pool.query("select ledger_rollup_drain(true)");
    await usage("old-queued");
    // 072 at +05:30: buckets starting at :30 UTC (what R6 found).
    expect(Number((await pool.query("select count(*) as n from usage_hourly where hour <> date_trunc('hour', hour, 'UTC')")).rows[0].n)).toBeGreaterThan(0);
    expect(Number((await pool.query("select count(*) as n from access_log_key_hourly where hour <> date_trunc('hour', hour, 'UTC')")).rows[0].n)).toBeGreaterThan(0);

    expect((await migrate(pool)).applied).toContain(73);
    expect(await rollupHourly("usage_hourly")).toEqual(await ledgerHourly());
    expect(await rollupKeyHourly("access_log_key_hourly")).toEqual(await ledgerKeyHourly());

    await usage("new");
    await usage("new"); // the collector rows re-collected: the update trigger's difference
    expect(await rollupHourly("usage_hourly_current")).toEqual(await ledgerHourly());
    expect(await rollupKeyHourly("access_log_key_hourly_current")).toEqual(await ledgerKeyHourly());
    await pool.query("select ledger_rollup_drain(true)");
    expect(await rollupHourly("usage_hourly")).toEqual(await ledgerHourly());
    expect(await rollupKeyHourly("access_log_key_hourly")).toEqual(await ledgerKeyHourly());
    expect(Number((await pool.query("select count(*) as n from usage_hourly where hour <> date_trunc('hour', hour, 'UTC')")).rows[0].n)).toBe(0);

    await storePriceChangePoints(pool, book);
    await usage("late"); // queued
    const pieces = (await pool.query<{ day: Date }>("select distinct day from usage_user_daily_current where tenant = 'kol' order by day")).rows.map((r) => r.day.toISOString());
    expect(pieces).toEqual(["2026-05-30T00:00:00.000Z", "2026-05-31T00:00:00.000Z", "2026-05-31T18:45:30.000Z", "2026-06-01T00:00:00.000Z"]);
    for (const now of ["2026-05-31T00:30:00Z", "2026-05-31T23:50:00Z", "2026-06-01T00:20:00Z"].map((t) => new Date(t))) {
      const snapshot = await readUsageSnapshot(pool, book, { tenant: "kol", now });
      expect({ figures: figuresOf(snapshot.tenants), unpriced: snapshot.unpriced }).toEqual(await ledgerFigures(now));
    }
  }, 300_000);

  it("the ledger cost of a split hour (a version starting off the hour) equals pricing each row", async () => {
    await migrate(pool);
    // 1M input tokens and a request on each side of the 18:45:30 change: 1.00 + 0.01 at the old
    // prices, 3.00 + 0.02 at the new ones.
    await ingestEvents(pool, [
      usageEvent({ id: "cost-a", tenant: "kolcost", time: "2026-05-31T18:40:00Z", inputTokens: 1_000_000, outputTokens: 0, requests: 1 }),
      usageEvent({ id: "cost-b", tenant: "kolcost", time: "2026-05-31T18:50:00Z", inputTokens: 1_000_000, outputTokens: 0, requests: 1 }),
    ]);
    await pool.query("select ledger_rollup_drain(true)");
    const costs = await ledgerCosts(pool, book);
    expect(costs.unpriced.filter((u) => u.tenant === "kolcost")).toEqual([]);
    expect(costs.periods.filter((p) => p.tenant === "kolcost").map((p) => [p.period, p.totalMinor])).toEqual([["2026-05", 403n]]);
  }, 120_000);
});
