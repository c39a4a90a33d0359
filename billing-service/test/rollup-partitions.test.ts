/**
 * The rollup queue folds in tenant partitions (migration 065, db/rollup-drain.ts): several folds at
 * a time, one per partition. What must hold:
 *   - every tenant name, whatever its hash, falls in exactly one partition 0..parts-1, so folding
 *     each partition once empties the queue, and the rollups then equal the ledger's own sums, the
 *     same as the full drain (ledger_rollup_drain) gives;
 *   - folds of two partitions run at the same time (neither waits for the other), a partition is
 *     folded by one fold at a time, and while any partition fold runs, neither the full drain nor a
 *     synchronous rollup writer (the drain lock, taken exclusively) runs beside it, nor the other
 *     way round;
 *   - serve's loop (startRollupDrain, two workers) empties the queue on its own;
 *   - drainEveryPartition (the benchmarks' fold on the clock: every partition at once) waits for a
 *     partition fold another replica has open instead of skipping the partition, so what was queued
 *     before it is folded when it returns, and for a synchronous rollup writer's drain lock likewise;
 *     two of them at once fold every row once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import type pg from "pg";
import { ingestEvents } from "../src/events/ingest";
import { upsertAccessLogRows } from "../src/accesslog/store";
import { accessOutcome } from "../testkit/access-logs";
import { drainEveryPartition, drainPartition, rollupPartitions, startRollupDrain } from "../src/db/rollup-drain";
import { startBillingDb, usageEvent, type BillingTestDb } from "./support/billing-db";

let db: BillingTestDb;

/**
 * Which comes first: `call` settling ("returned"), or `waiting` seeing one of its connections wait
 * for a lock ("waits"). Polled until one of the two happens; no time limit decides.
 */
const waitsOrReturns = async (call: Promise<unknown>, waiting: () => Promise<boolean>): Promise<"waits" | "returned"> => {
  let settled = false;
  const returned = call.then(
    () => "returned" as const,
    () => "returned" as const,
  );
  void returned.then(() => {
    settled = true;
  });
  const waits = (async () => {
    while (!settled) {
      if (await waiting()) return "waits" as const;
      await new Promise((r) => setTimeout(r, 5));
    }
    return "returned" as const;
  })();
  return Promise.race([waits, returned]);
};

beforeAll(async () => {
  db = await startBillingDb({ poolSize: 10 });
});

afterAll(async () => {
  await db?.stop();
});

const T0 = Date.parse("2026-05-03T10:00:00Z");
const HOUR = 3_600_000;
let seq = 0;

const queued = async (tenants: readonly string[]): Promise<number> =>
  Number((await db.pool.query("select count(*) as n from ledger_rollup_queue where tenant = any($1)", [tenants])).rows[0].n);

/** Rollup lines (sums as text), from a query over `tenants`. */
const sums = async (sql: string, tenants: readonly string[]): Promise<string[]> =>
  (await db.pool.query<{ line: string }>(sql, [tenants])).rows.map((r) => r.line).sort();
// usage_hourly per (tenant, tier, model, hour), user_key '' ("h"), and usage_user_daily per
// (tenant, user or '' without one, tier, model, UTC day: no price change points stored here) ("d"),
// migrations 072 and 073.
const HOURLY = `select concat_ws('|', tenant, 'h', user_key, tier, model, hour::text, sum(input_tokens), sum(output_tokens), sum(requests)) as line
  from usage_hourly where tenant = any($1) group by tenant, user_key, tier, model, hour
  union all
  select concat_ws('|', tenant, 'd', user_key, tier, model, day::text, sum(input_tokens), sum(output_tokens), sum(requests))
  from usage_user_daily where tenant = any($1) group by tenant, user_key, tier, model, day`;
const LEDGER_ROWS = `select tenant, coalesce(user_id, '') as user_key, tier, model, event_time as t, input_tokens as i, output_tokens as o, requests as r
      from usage_events where tenant = any($1)
    union all
    select tenant, coalesce(user_id, ''), tier, model, event_time, input_tokens, output_tokens, case when response_type = 'hit' then 1 else 0 end
      from access_log_usage where tenant = any($1) and billable`;
const LEDGER_HOURLY = `select concat_ws('|', tenant, 'h', '', tier, model, date_trunc('hour', t)::text, sum(i), sum(o), sum(r)) as line
  from (${LEDGER_ROWS}) x group by tenant, tier, model, date_trunc('hour', t)
  union all
  select concat_ws('|', tenant, 'd', user_key, tier, model, date_trunc('day', t, 'UTC')::text, sum(i), sum(o), sum(r))
  from (${LEDGER_ROWS}) x group by tenant, user_key, tier, model, date_trunc('day', t, 'UTC')`;
const INVOICE = `select concat_ws('|', tenant, hour::text, tier, model, origin, sum(input_tokens), sum(output_tokens), sum(requests), sum(ledger_rows)) as line
  from usage_rollup where tenant = any($1) group by tenant, hour, tier, model, origin`;
const KEYS = `select concat_ws('|', tenant, key_id, model, hour::text, sum(input_tokens), sum(output_tokens), sum(requests)) as line
  from access_log_key_hourly where tenant = any($1) group by tenant, key_id, model, hour`;

/** Tenant names with a partition each, asked of the database. */
const partitionOf = async (tenant: string): Promise<number> => (await db.pool.query<{ p: number }>("select ledger_rollup_part($1) as p", [tenant])).rows[0].p;
const tenantsIn = async (wanted: readonly number[], prefix: string): Promise<string[]> => {
  const found = new Map<number, string>();
  for (let i = 0; found.size < wanted.length && i < 1000; i++) {
    const t = `${prefix}-${i}`;
    const p = await partitionOf(t);
    if (wanted.includes(p) && !found.has(p)) found.set(p, t);
  }
  return wanted.map((p) => found.get(p)!);
};

/** `perTenant` events of each tenant in one batch (one commit): users u0/u1 alternating, hours 0, 1, 2 in turn. */
const queueFor = async (tenants: readonly string[], perTenant = 3): Promise<void> => {
  await ingestEvents(
    db.pool,
    tenants.flatMap((tenant) =>
      Array.from({ length: perTenant }, (_, i) => usageEvent({ id: `p${++seq}`, tenant, user: `u${i % 2}`, time: new Date(T0 + (i % 3) * HOUR).toISOString(), inputTokens: 10 + i, outputTokens: 1 + i })),
    ),
  );
};

describe("rollup queue folded in tenant partitions", () => {
  it("any tenant name lands in one partition 0..parts-1: one fold of each empties the queue and the rollups equal the ledger's sums and the full drain's", async () => {
    const parts = await rollupPartitions(db.pool);
    expect(parts).toBeGreaterThan(1);
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.record({ tenant: fc.nat(), user: fc.nat({ max: 2 }), hour: fc.nat({ max: 2 }), input: fc.nat({ max: 1000 }), output: fc.nat({ max: 1000 }), access: fc.boolean(), type: fc.constantFrom("hit" as const, "rate_limit" as const, "error" as const) }), { minLength: 1, maxLength: 30 }),
        async (names, rows) => {
          const run = ++seq;
          // Two copies of the same usage under two tenant sets: one folded by partitions, one by the full drain.
          const folds = ["part", "full"] as const;
          const tenantsOf = (how: (typeof folds)[number]) => names.map((n) => `${how}${run}-${n}`);
          for (const how of folds) {
            const tenants = tenantsOf(how);
            const events = rows.filter((r) => !r.access);
            if (events.length > 0)
              await ingestEvents(
                db.pool,
                events.map((r, i) => usageEvent({ id: `e${i}`, tenant: tenants[r.tenant % tenants.length], user: `u${r.user}`, time: new Date(T0 + r.hour * HOUR + i).toISOString(), inputTokens: r.input, outputTokens: r.output })),
              );
            const access = rows.filter((r) => r.access);
            if (access.length > 0)
              await upsertAccessLogRows(
                db.pool,
                access.map((r, i) => ({
                  tenant: tenants[r.tenant % tenants.length],
                  source: "gateway-logs",
                  recordId: `r${i}`,
                  timeUnixNano: (BigInt(T0 + r.hour * HOUR + i) * 1_000_000n).toString(),
                  user: `u${r.user}`,
                  tier: "premium",
                  model: "llama",
                  keyId: `k${r.user}`,
                  keyName: `key ${r.user}`,
                  organizationId: null,
                  groups: null,
                  ...accessOutcome(r),
                  billable: true,
                })),
              );
          }
          for (let p = 0; p < parts; p++) await drainPartition(db.pool, p);
          const part = tenantsOf("part");
          expect(await queued(part)).toBe(0);
          expect(await sums(HOURLY, part)).toEqual(await sums(LEDGER_HOURLY, part));
          // The same rollup rows as the full drain gives for the same usage (tenant prefix aside).
          await db.pool.query("select ledger_rollup_drain(true)");
          const full = tenantsOf("full");
          const strip = (lines: string[], prefix: string) => lines.map((l) => l.slice(prefix.length)).sort();
          for (const sql of [HOURLY, INVOICE, KEYS]) expect(strip(await sums(sql, part), `part${run}-`)).toEqual(strip(await sums(sql, full), `full${run}-`));
        },
      ),
      { numRuns: 40 },
    );
  });

  it("two partitions fold at the same time; one partition, the full drain and a synchronous rollup writer wait for a partition fold", async () => {
    const [t0, t1] = await tenantsIn([0, 1], "locks");
    await queueFor([t0, t1]);
    const a = await db.pool.connect();
    const b = await db.pool.connect();
    const c = await db.pool.connect();
    const n = async (client: pg.PoolClient, sql: string, params: unknown[] = []) => Number((await client.query<{ n: string }>(sql, params)).rows[0].n);
    try {
      await a.query("begin");
      await b.query("begin");
      expect(await n(a, "select folded as n from ledger_rollup_drain_part(0)")).toBeGreaterThan(0);
      // Partition 1 folds while partition 0's fold is still open (a try-lock: 0 had it waited).
      expect(await n(b, "select folded as n from ledger_rollup_drain_part(1)")).toBeGreaterThan(0);
      await b.query("rollback"); // t1's rows are queued again
      expect(await queued([t1])).toBe(3);
      // Partition 0 has its fold already; the full drain skips its turn; a synchronous writer would wait.
      expect(await n(c, "select folded as n from ledger_rollup_drain_part(0)")).toBe(0);
      expect(await n(c, "select ledger_rollup_drain(false) as n")).toBe(0);
      expect((await c.query("select pg_try_advisory_xact_lock(hashtext('maas-billing-ledger-rollup-drain')) as ok")).rows[0].ok).toBe(false);
      await a.query("commit");
      expect(await queued([t0])).toBe(0);
      // A synchronous rollup writer (the drain lock, exclusively) holds every partition fold off.
      await c.query("begin");
      await c.query("select pg_advisory_xact_lock(hashtext('maas-billing-ledger-rollup-drain'))");
      expect(await n(b, "select folded as n from ledger_rollup_drain_part(1)")).toBe(0);
      await c.query("commit");
      // Its 3 rows, and the rollup rows they created (migration 072): usage_hourly hours 0, 1 and 2,
      // usage_user_daily u0 and u1 (one UTC day).
      expect((await b.query("select folded, hourly_rows from ledger_rollup_drain_part(1)")).rows[0]).toEqual({ folded: "3", hourly_rows: "5" });
      expect(await queued([t0, t1])).toBe(0);
    } finally {
      for (const client of [a, b, c]) {
        await client.query("rollback").catch(() => undefined);
        client.release();
      }
    }
  });

  it("drainEveryPartition folds every partition at once and waits for another replica's open fold of a partition: nothing queued before it is left, every row folded once", async () => {
    const [t0, t1] = await tenantsIn([0, 1], "every");
    await queueFor([t0, t1]);
    const other = await db.pool.connect();
    /** Connections waiting for partition 0's lock (advisory, two keys: the partition is the second). */
    const waitingForPart0 = async () =>
      Number((await db.pool.query("select count(*) as n from pg_locks where locktype = 'advisory' and not granted and objsubid = 2 and objid = 0")).rows[0].n);
    try {
      // Another replica's fold of partition 0 takes t0's rows and stays open.
      await other.query("begin");
      expect((await other.query("select folded from ledger_rollup_drain_part(0)")).rows[0].folded).toBe("3");
      await queueFor([t0]); // queued after that fold took its rows: for the next fold
      const all = drainEveryPartition(db.pool);
      expect(await waitsOrReturns(all, async () => (await waitingForPart0()) > 0)).toBe("waits");
      await other.query("commit");
      // t1's 3 rows and t0's 3 queued after the other fold; the other fold's 3 are its own.
      expect(await all).toBe(6);
      expect(await queued([t0, t1])).toBe(0);
      expect(await sums(HOURLY, [t0, t1])).toEqual(await sums(LEDGER_HOURLY, [t0, t1]));

      // Two replicas' calls at the same time: between them every queued row once, nothing left.
      const many = await tenantsIn([0, 1], "every-twice-a");
      const more = await tenantsIn([0, 1], "every-twice-b");
      await queueFor([...many, ...more], 12);
      const both = await Promise.all([drainEveryPartition(db.pool), drainEveryPartition(db.pool)]);
      expect(both[0] + both[1]).toBe(48);
      expect(await queued([...many, ...more])).toBe(0);
      expect(await sums(HOURLY, [t0, t1, ...many, ...more])).toEqual(await sums(LEDGER_HOURLY, [t0, t1, ...many, ...more]));
    } finally {
      await other.query("rollback").catch(() => undefined);
      other.release();
    }
  });

  it("drainEveryPartition waits for a synchronous rollup writer's drain lock (a collector write) instead of skipping every partition (review S12)", async () => {
    const [t0, t1] = await tenantsIn([0, 1], "every-writer");
    await queueFor([t0, t1]);
    const writer = await db.pool.connect();
    /** Connections waiting for the drain lock (advisory, one bigint key: objid holds its low 32 bits). */
    const waitingForDrain = async () =>
      Number(
        (
          await db.pool.query(
            "select count(*) as n from pg_locks where locktype = 'advisory' and not granted and objsubid = 1 and objid::bigint = (hashtext('maas-billing-ledger-rollup-drain')::bigint & 4294967295)",
          )
        ).rows[0].n,
      );
    try {
      // What a collector write does: the drain lock, exclusively, until it commits.
      await writer.query("begin");
      await writer.query("select pg_advisory_xact_lock(hashtext('maas-billing-ledger-rollup-drain'))");
      const all = drainEveryPartition(db.pool);
      expect(await waitsOrReturns(all, async () => (await waitingForDrain()) > 0)).toBe("waits");
      await writer.query("commit");
      expect(await all).toBe(6);
      expect(await queued([t0, t1])).toBe(0);
      expect(await sums(HOURLY, [t0, t1])).toEqual(await sums(LEDGER_HOURLY, [t0, t1]));
    } finally {
      await writer.query("rollback").catch(() => undefined);
      writer.release();
    }
  });

  it("the counting folds count the rollup rows they create, not those they add to (migration 072)", async () => {
    const [t0] = await tenantsIn([0], "created");
    await queueFor([t0]); // u0 hour 0, u1 hour 1, u0 hour 2: 3 new hours, 2 new user-days
    expect((await db.pool.query("select folded, hourly_rows from ledger_rollup_drain_counted()")).rows[0]).toEqual({ folded: "3", hourly_rows: "5" });
    await queueFor([t0], 6); // the same buckets again: all rows exist
    expect((await db.pool.query("select folded, hourly_rows from ledger_rollup_drain_part($1)", [0])).rows[0]).toEqual({ folded: "6", hourly_rows: "0" });
    expect(await sums(HOURLY, [t0])).toEqual(await sums(LEDGER_HOURLY, [t0]));
  });

  it("serve's loop folds the whole queue while it aggregates, and switches to partition folds (both workers) when every row is its own bucket", async () => {
    const waitEmpty = async (tenants: readonly string[]) => {
      // Poll, no timing assumed: the loop folds until nothing of these tenants is queued.
      for (let i = 0; (await queued(tenants)) > 0; i++) {
        if (i > 6000) throw new Error("the loop did not empty the queue");
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const folds: { how: string; rows: number; hourlyRows: number }[] = [];
    // 30 events of one user and hour per tenant: they merge into one row of each rollup.
    const merged = Array.from({ length: 8 }, (_, i) => `loop-merged-${i}`);
    await ingestEvents(db.pool, merged.flatMap((tenant) => Array.from({ length: 30 }, () => usageEvent({ id: `m${++seq}`, tenant, user: "u0", time: new Date(T0).toISOString(), inputTokens: 1, outputTokens: 1 }))));
    const drain = startRollupDrain(db.pool, { intervalMs: 20, busyIntervalMs: 0, busyRows: 100, workers: 2, onFold: (how, f) => folds.push({ how, ...f }) });
    try {
      await waitEmpty(merged);
      expect(folds.length).toBeGreaterThan(0);
      expect(folds.every((f) => f.how === "whole")).toBe(true);
      // Now every event its own bucket (own user and hour), batches arriving one after another:
      // a whole fold of them switches the loop to partition folds, which then fold what follows.
      const spread: string[] = [];
      for (let round = 0; !folds.some((f) => f.how === "partition"); round++) {
        if (round > 2000) throw new Error("no partition fold");
        const tenants = Array.from({ length: 24 }, (_, i) => `loop-spread-${round}-${i}`);
        spread.push(...tenants);
        await queueFor(tenants, 5);
      }
      await waitEmpty(spread);
      const first = folds.findIndex((f) => f.how === "whole" && f.rows >= 100 && 2 * f.hourlyRows >= f.rows);
      expect(first).toBeGreaterThanOrEqual(0);
      expect(folds.findIndex((f) => f.how === "partition")).toBeGreaterThan(first);
      expect(folds.every((f) => f.how === "whole" || 2 * f.hourlyRows >= f.rows)).toBe(true);
      const all = [...merged, ...spread];
      expect(await sums(HOURLY, all)).toEqual(await sums(LEDGER_HOURLY, all));
    } finally {
      await drain.stop();
    }
  });
});
