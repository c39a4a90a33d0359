/**
 * An upgrade with ledger data, checked against the ledger itself: a database migrated up to an
 * older release's last migration gets usage of every origin (events, collector rows, access-log
 * rows; some folded into the rollups, some left in the rollup queue), is migrated to the newest
 * migrations, and every quota figure the refresh reads (quota/usage.ts: each tenant's total and
 * each user, day and month, tokens, requests and cost to the minor unit) must equal pricing every
 * ledger row one by one (support/quota-reference.ts), before and after more usage arrives.
 *
 * Used by the e2e `timescaledb` stage (scripts/e2e/timescaledb/stage.ts) on a real TimescaleDB,
 * where usage_hourly is a hypertable; test/quota-user-daily.test.ts runs the same figures on the
 * embedded PostgreSQL. Nothing here names the newest migration: "newest" is the whole list.
 */
import { isDeepStrictEqual } from "node:util";
import type { Pool } from "pg";
import { migrate, type MigrationResult } from "../../src/db/migrate";
import { MIGRATIONS } from "../../src/db/migrations";
import { ingestEvents } from "../../src/events/ingest";
import type { PriceBook } from "../../src/pricebook/pricebook";
import { periodEndOf, periodStartOf, readUsageSnapshot, type UsageRow } from "../../src/quota/usage";
import { usageEvent } from "./billing-db";
import { figuresOf, perRow } from "./quota-reference";

/** The slow path: every ledger row of the tenant's month (usage_ledger), priced one by one. */
export const ledgerFigures = async (pool: Pool, book: PriceBook, tenant: string, now: Date) => {
  const dayStart = periodStartOf("day", now).getTime();
  const rows = (
    await pool.query<{ u: string; tier: string; model: string; t: Date; a: string; b: string; c: string }>(
      `select coalesce(user_id, '') as u, tier, model, window_start as t, input_tokens::text as a, output_tokens::text as b, requests::text as c
         from usage_ledger where tenant = $1 and window_start >= $2 and window_start < $3`,
      [tenant, periodStartOf("month", now), periodEndOf("month", now)],
    )
  ).rows.map((r): UsageRow => {
    const version = book.versions.filter((v) => v.effectiveFrom.getTime() <= r.t.getTime()).length;
    return [false, tenant, r.u, r.tier, r.model, r.t.getTime() >= dayStart, version, r.a, r.b, r.c, null];
  });
  return perRow(rows, book);
};

/** The refresh's figures for one tenant, as the reference keys them. */
export const refreshFigures = async (pool: Pool, book: PriceBook, tenant: string, now: Date) => {
  const snapshot = await readUsageSnapshot(pool, book, { tenant, now });
  return { figures: figuresOf(snapshot.tenants), unpriced: snapshot.unpriced };
};

/** The migrations up to and including `lastId` in list order (the order the runner applies them). */
export const migrationsThrough = (lastId: number) => {
  const at = MIGRATIONS.findIndex((m) => m.id === lastId);
  if (at < 0) throw new Error(`no migration ${lastId}`);
  return MIGRATIONS.slice(0, at + 1);
};

/**
 * Usage of every origin for `tenants` over two days either side of the test book's price change
 * (May 15, 12:00 UTC), with and without users. Access-log rows are inserted with plain SQL into
 * the columns access_log_usage has had since migration 060 (event_time from the record's
 * nanoseconds, as every release's writers store it), so this runs against any schema from 067 on,
 * not only the one the current writer (accesslog/store.ts, which needs 068) expects.
 */
export const loadUsage = async (pool: Pool, tenants: readonly string[], prefix: string): Promise<void> => {
  const times = ["2026-05-14T23:30:00Z", "2026-05-15T00:10:00Z", "2026-05-15T11:59:00Z", "2026-05-15T12:00:00Z", "2026-05-15T23:59:59Z", "2026-05-16T08:00:00Z"];
  await ingestEvents(
    pool,
    times.flatMap((time, i) =>
      tenants.map((tenant, t) => usageEvent({ id: `${prefix}-e${i}-${t}`, tenant, ...(i % 3 === 2 ? {} : { user: `u${(i + t) % 2}` }), model: i % 2 ? "llama" : "mistral", time, inputTokens: 1000 * (i + 1), outputTokens: 10 * i })),
    ),
  );
  for (const [i, time] of times.entries()) {
    const at = Date.parse(time);
    await pool.query(
      `insert into collector_usage (idempotency_key, source, billable, tenant, user_id, tier, model, window_start, window_end,
         input_tokens, output_tokens, total_tokens, requests, limited_requests, resets, gaps, samples, series, reconciliation_key, lineage, content_hash)
       values ($1, 'gateway', true, $2, nullif($3, ''), 'premium', 'llama', $4, $5, $6::bigint, 5, $6::bigint + 5, 1, 0, 0, 0, 240, 1, null, '{}', md5($1))`,
      [`${prefix}-c${i}`, tenants[i % tenants.length], i % 2 ? "u1" : "", new Date(at), new Date(at + 60_000), 500 + i],
    );
    const ns = (BigInt(at) * 1_000_000n + BigInt(i)).toString();
    const limited = i === 4;
    await pool.query(
      `insert into access_log_usage (tenant, source, record_id, time_unix_nano, event_time, user_id, tier, model, key_id, key_name,
         response_code, response_type, input_tokens, output_tokens, total_tokens, billable)
       values ($1, 'gateway-logs', $2, $3::bigint, to_timestamp(0) + ($3::bigint / 1000000000) * interval '1 second' + ($3::bigint % 1000000000 / 1000) * interval '1 microsecond',
               $4, 'premium', 'llama', 'k1', 'key 1', $5, $6, $7::bigint, $8::bigint, $7::bigint + $8::bigint, true)`,
      [tenants[i % tenants.length], `${prefix}-r${i}`, ns, `u${i % 3}`, limited ? 429 : 200, limited ? "rate_limit" : "hit", limited ? 0 : 300 + i, limited ? 0 : 30],
    );
  }
};

/** Per (tenant, user, tier, model, UTC day) sums of the ledger's rows with a user. */
export const ledgerUserDays = async (pool: Pool) =>
  (
    await pool.query(
      `select tenant, user_id as user_key, tier, model, date_trunc('day', window_start, 'UTC') as day, sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
         from usage_ledger where user_id <> '' group by 1, 2, 3, 4, 5 order by 1, 2, 3, 4, 5`,
    )
  ).rows;

/** Each tenant's hourly sums (users summed) of the rollup as readers see it (rollup + queue). */
export const tenantHours = async (pool: Pool) =>
  (
    await pool.query(
      `select tenant, tier, model, hour, sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
         from usage_hourly_current group by 1, 2, 3, 4 order by 1, 2, 3, 4`,
    )
  ).rows;

export interface UpgradeCheck {
  /** What was checked, for the report. */
  readonly notes: string[];
  readonly result: MigrationResult;
}

/**
 * The whole scenario on an empty database: migrate through `fromId`, usage (folded and queued),
 * migrate to the newest, then the equalities (throws naming the first that fails).
 */
export const upgradeWithUsage = async (
  pool: Pool,
  book: PriceBook,
  options: { fromId: number; tenants: readonly string[]; now: Date; atOldSchema?: () => Promise<void> },
): Promise<UpgradeCheck> => {
  const notes: string[] = [];
  const expectEqual = (what: string, actual: unknown, expected: unknown) => {
    // Maps compare by entries, in any order.
    if (!isDeepStrictEqual(actual, expected)) {
      throw new Error(`${what}: got ${JSON.stringify(actual, replacer).slice(0, 1500)}, expected ${JSON.stringify(expected, replacer).slice(0, 1500)}`);
    }
  };
  const old = migrationsThrough(options.fromId);
  await migrate(pool, old);
  await loadUsage(pool, options.tenants, "folded");
  await pool.query("select ledger_rollup_drain(true)");
  await loadUsage(pool, options.tenants, "queued"); // left in the rollup queue
  const queued = Number((await pool.query("select count(*) as n from ledger_rollup_queue")).rows[0].n);
  if (queued === 0) throw new Error("nothing was left in the rollup queue: the upgrade would not meet queued rows");
  const hoursBefore = await tenantHours(pool);
  // Before the upgrade the per-user figures came from usage_hourly's per-user rows: they hold the ledger's per-user days.
  const userDaysBefore = await ledgerUserDays(pool);
  expectEqual(
    `per-user days of usage_hourly_current at migration ${options.fromId}`,
    (
      await pool.query(
        `select tenant, user_key, tier, model, date_trunc('day', hour, 'UTC') as day, sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
           from usage_hourly_current where user_key <> '' group by 1, 2, 3, 4, 5 order by 1, 2, 3, 4, 5`,
      )
    ).rows,
    userDaysBefore,
  );
  const ledgerBefore = new Map<string, unknown>();
  for (const tenant of options.tenants) {
    const want = await ledgerFigures(pool, book, tenant, options.now);
    if (want.figures.size <= 2) throw new Error(`tenant ${tenant}: the ledger scan has ${want.figures.size} figures; expected the total and several users`);
    ledgerBefore.set(tenant, want);
  }
  await options.atOldSchema?.();
  notes.push(`through migration ${options.fromId} (${old.length} migrations): ${queued} rows queued, ${hoursBefore.length} tenant hours`);

  const result = await migrate(pool);
  const expectedNew = MIGRATIONS.slice(old.length).map((m) => m.id);
  expectEqual("migrations applied by the upgrade", result.applied, expectedNew);
  notes.push(`upgrade applied ${result.applied.join(", ")}`);
  expectEqual("each tenant's hourly sums after the upgrade", await tenantHours(pool), hoursBefore);
  const check = async (when: string) => {
    for (const tenant of options.tenants) {
      const want = await ledgerFigures(pool, book, tenant, options.now);
      expectEqual(`${when}: tenant ${tenant}'s quota figures`, await refreshFigures(pool, book, tenant, options.now), want);
    }
  };
  for (const tenant of options.tenants) {
    expectEqual(`tenant ${tenant}'s priced ledger scan before and after the upgrade`, await ledgerFigures(pool, book, tenant, options.now), ledgerBefore.get(tenant));
  }
  await check("right after the upgrade");
  await loadUsage(pool, options.tenants, "after");
  await check("with usage after the upgrade, queued");
  await pool.query("select ledger_rollup_drain(true)");
  await check("with usage after the upgrade, folded");
  const userDays = await ledgerUserDays(pool);
  expectEqual(
    "usage_user_daily (folded) against the ledger's per-user days",
    (
      await pool.query(
        // Since 073 the table also holds usage without a user (user_key '') and pieces cut at price
        // change points inside a day: summed per user and UTC day, the users' rows equal the ledger's.
        `select tenant, user_key, tier, model, date_trunc('day', day, 'UTC') as day, sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
           from usage_user_daily where user_key <> '' group by 1, 2, 3, 4, 5 having sum(input_tokens) <> 0 or sum(output_tokens) <> 0 or sum(requests) <> 0 order by 1, 2, 3, 4, 5`,
      )
    ).rows,
    userDays,
  );
  const figures = (await ledgerFigures(pool, book, options.tenants[0], options.now)).figures;
  notes.push(`${options.tenants.length} tenants: quota figures equal the priced ledger scan before the upgrade's new usage, with it queued and folded (${figures.size} figures of ${options.tenants[0]}: ${[...figures.keys()].join(", ")}); usage_user_daily = the ledger's ${userDays.length} per-user days`);
  return { notes, result };
};

/** JSON of Maps and bigints, for the comparisons' messages. */
const replacer = (_key: string, value: unknown) => (typeof value === "bigint" ? `${value}n` : value instanceof Map ? [...value] : value);
