/**
 * The ledger's rollups are folded in the background from a queue (migration 062): inserts append
 * rollup rows to ledger_rollup_queue and ledger_rollup_drain() folds them into usage_hourly (per
 * tenant and hour), usage_user_daily (per user and UTC day, 072), access_log_key_hourly and
 * usage_rollup. What must hold whatever the timing of the drains:
 *   - the readers' views (usage_hourly_current, usage_user_daily_current,
 *     access_log_key_hourly_current) equal the ledger's
 *     own sums at every moment: before any drain, after some, and with drains running at the same
 *     time as inserts on other connections;
 *   - after the last drain the queue is empty and the rollup tables alone equal those sums;
 *   - a quota (readUsageSnapshot) sees usage the moment its insert commits (no staleness added),
 *     and a reservation settled by its event is counted once, as usage, before any drain.
 * Equality is checked per bucket against sums computed here from what was inserted.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { ingestEvents } from "../src/events/ingest";
import { upsertAccessLogRows } from "../src/accesslog/store";
import type { AccessLogRow } from "../src/accesslog/records";
import { accessOutcome } from "../testkit/access-logs";
import { readUsageSnapshot } from "../src/quota/usage";
import { startBillingDb, testPriceBook, usageEvent, type BillingTestDb } from "./support/billing-db";

let db: BillingTestDb;

beforeAll(async () => {
  db = await startBillingDb({ poolSize: 10 });
});

afterAll(async () => {
  await db?.stop();
});

const HOUR = 3_600_000;
// Hours 0-2 from T0 span two UTC days (the per-user rollup is by day, migration 072).
const T0 = Date.parse("2026-05-03T22:00:00Z");

type Op =
  | { kind: "event"; user: number; model: string; hour: number; input: number; output: number }
  | { kind: "access"; record: number; user: number; key: number; hour: number; input: number; output: number; type: "hit" | "rate_limit" | "error" }
  | { kind: "drain" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("event" as const), user: fc.integer({ min: 0, max: 2 }), model: fc.constantFrom("llama", "granite"), hour: fc.integer({ min: 0, max: 2 }), input: fc.integer({ min: 0, max: 1000 }), output: fc.integer({ min: 0, max: 1000 }) }),
  fc.record({
    kind: fc.constant("access" as const),
    // Few record ids: later copies of a record fold into the stored row (more tokens win).
    record: fc.integer({ min: 0, max: 15 }),
    user: fc.integer({ min: 0, max: 2 }),
    key: fc.integer({ min: 0, max: 2 }),
    hour: fc.integer({ min: 0, max: 2 }),
    input: fc.integer({ min: 0, max: 1000 }),
    output: fc.integer({ min: 0, max: 1000 }),
    type: fc.constantFrom("hit" as const, "hit" as const, "rate_limit" as const, "error" as const),
  }),
  fc.constant({ kind: "drain" as const }),
);

let seq = 0;

/** Bucket sums as text keyed by JSON of the bucket: what the ledger says and what a view says. */
type Sums = Map<string, string>;
const add = (m: Map<string, [bigint, bigint, bigint]>, key: unknown[], i: number, o: number, r: number) => {
  const k = JSON.stringify(key);
  const prev = m.get(k) ?? [0n, 0n, 0n];
  m.set(k, [prev[0] + BigInt(i), prev[1] + BigInt(o), prev[2] + BigInt(r)]);
};
const nonZero = (m: Map<string, [bigint, bigint, bigint]>): Sums =>
  new Map([...m].filter(([, v]) => v.some((x) => x !== 0n)).map(([k, v]) => [k, v.join("/")] as [string, string]).sort(([a], [b]) => a.localeCompare(b)));

const read = async (sql: string, tenant: string): Promise<Sums> => {
  const rows = (await db.pool.query(sql, [tenant])).rows;
  return new Map(
    rows
      .filter((r) => [r.i, r.o, r.r].some((x: string) => x !== "0"))
      .map((r) => [JSON.stringify(r.k), `${r.i}/${r.o}/${r.r}`] as [string, string])
      .sort(([a], [b]) => a.localeCompare(b)),
  );
};
// usage_hourly (per tenant, tier, model and UTC hour; user_key '' since 072) and usage_user_daily
// (per user, '' for usage without one since 073, tier, model and UTC day: no price change points
// stored here), each keyed as the ledger's sums below.
const HOURLY = (table: string) =>
  `select json_build_array(user_key, tier, model, to_char(hour at time zone 'UTC', 'YYYY-MM-DD"T"HH24'))::jsonb as k,
          sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
     from ${table} where tenant = $1 group by user_key, tier, model, hour`;
const DAILY = (table: string) =>
  `select json_build_array(user_key, tier, model, to_char(day at time zone 'UTC', 'YYYY-MM-DD'))::jsonb as k,
          sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
     from ${table} where tenant = $1 group by user_key, tier, model, day`;
const KEYS = (table: string) =>
  `select json_build_array(key_id, key_name, model, to_char(hour at time zone 'UTC', 'YYYY-MM-DD"T"HH24'))::jsonb as k,
          sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r
     from ${table} where tenant = $1 group by key_id, key_name, model, hour`;
// The truth from the ledger tables themselves (billable access-log rows; every event).
const LEDGER_ROWS = `
    select coalesce(user_id, '') as user_key, tier, model, event_time as t, input_tokens as i, output_tokens as o, requests as r from usage_events where tenant = $1
    union all
    select coalesce(user_id, ''), tier, model, event_time, input_tokens, output_tokens, case when response_type = 'hit' then 1 else 0 end
      from access_log_usage where tenant = $1 and billable`;
const LEDGER_PER_USER_HOURLY = `
  select json_build_array(user_key, tier, model, to_char(date_trunc('hour', t) at time zone 'UTC', 'YYYY-MM-DD"T"HH24'))::jsonb as k, sum(i)::text as i, sum(o)::text as o, sum(r)::text as r
    from (${LEDGER_ROWS}) x group by 1`;
const LEDGER_HOURLY = `
  select json_build_array('', tier, model, to_char(date_trunc('hour', t, 'UTC') at time zone 'UTC', 'YYYY-MM-DD"T"HH24'))::jsonb as k, sum(i)::text as i, sum(o)::text as o, sum(r)::text as r
    from (${LEDGER_ROWS}) x group by 1`;
const LEDGER_DAILY = `
  select json_build_array(user_key, tier, model, to_char(t at time zone 'UTC', 'YYYY-MM-DD'))::jsonb as k, sum(i)::text as i, sum(o)::text as o, sum(r)::text as r
    from (${LEDGER_ROWS}) x group by 1`;
const LEDGER_KEYS = `
  select json_build_array(coalesce(key_id, ''), coalesce(key_name, ''), model, to_char(date_trunc('hour', event_time) at time zone 'UTC', 'YYYY-MM-DD"T"HH24'))::jsonb as k,
         sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(case when response_type = 'hit' then 1 else 0 end)::text as r
    from access_log_usage where tenant = $1 and billable group by 1`;

const accessRow = (tenant: string, a: Extract<Op, { kind: "access" }>, first: AccessLogRow | undefined): AccessLogRow => ({
  tenant,
  source: "gateway-logs",
  recordId: `r${a.record}`,
  timeUnixNano: first?.timeUnixNano ?? (BigInt(T0 + a.hour * HOUR + a.record * 1000) * 1_000_000n).toString(),
  user: first ? first.user : `u${a.user}`,
  tier: "premium",
  model: "llama",
  keyId: first ? first.keyId : `k${a.key}`,
  keyName: first ? first.keyName : `key ${a.key}`,
  organizationId: null,
  groups: null,
  ...accessOutcome(a),
  billable: true,
});

describe("rollups folded from the queue", () => {
  it("read through the views, equal the ledger's sums before, between and after drains, drains racing the inserts", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(opArb, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 5 }), async (batches) => {
        const tenant = `queue-${++seq}`;
        const first = new Map<number, AccessLogRow>();
        const truth = new Map<string, [bigint, bigint, bigint]>();
        const check = async (): Promise<void> => {
          expect(await read(HOURLY("usage_hourly_current"), tenant)).toEqual(await read(LEDGER_HOURLY, tenant));
          expect(await read(DAILY("usage_user_daily_current"), tenant)).toEqual(await read(LEDGER_DAILY, tenant));
          expect(await read(KEYS("access_log_key_hourly_current"), tenant)).toEqual(await read(LEDGER_KEYS, tenant));
          expect(await read(LEDGER_PER_USER_HOURLY, tenant)).toEqual(nonZero(truth));
        };
        // Batches go in concurrently (each its own connection and transaction), drains with them.
        await Promise.all(
          batches.map(async (batch) => {
            const events = batch.filter((o): o is Extract<Op, { kind: "event" }> => o.kind === "event");
            const access = batch.filter((o): o is Extract<Op, { kind: "access" }> => o.kind === "access");
            if (events.length > 0) {
              await ingestEvents(
                db.pool,
                events.map((e) => usageEvent({ id: `e${++seq}`, tenant, user: `u${e.user}`, model: e.model, time: new Date(T0 + e.hour * HOUR).toISOString(), inputTokens: e.input, outputTokens: e.output })),
              );
              for (const e of events) add(truth, [`u${e.user}`, "premium", e.model, new Date(T0 + e.hour * HOUR).toISOString().slice(0, 13)], e.input, e.output, 1);
            }
            if (batch.some((o) => o.kind === "drain")) await db.pool.query("select ledger_rollup_drain(false)");
            if (access.length > 0) {
              const rows = access.map((a) => {
                const row = accessRow(tenant, a, first.get(a.record));
                if (!first.has(a.record)) first.set(a.record, row);
                return row;
              });
              await upsertAccessLogRows(db.pool, rows);
            }
          }),
        );
        // Access-log truth: what the table holds per record (the fold is the receiver's concern,
        // tested in accesslog-otlp.test.ts); the views must agree with it.
        for (const r of (await db.pool.query("select user_id, model, event_time, input_tokens, output_tokens, response_type from access_log_usage where tenant = $1", [tenant])).rows) {
          add(truth, [r.user_id, "premium", r.model, new Date(r.event_time).toISOString().slice(0, 13)], Number(r.input_tokens), Number(r.output_tokens), r.response_type === "hit" ? 1 : 0);
        }
        await check();
        await db.pool.query("select ledger_rollup_drain(true)");
        expect(Number((await db.pool.query("select count(*) as n from ledger_rollup_queue where tenant = $1", [tenant])).rows[0].n)).toBe(0);
        // With the queue empty the rollup tables alone hold it all.
        expect(await read(HOURLY("usage_hourly"), tenant)).toEqual(await read(LEDGER_HOURLY, tenant));
        expect(await read(DAILY("usage_user_daily"), tenant)).toEqual(await read(LEDGER_DAILY, tenant));
        expect(await read(KEYS("access_log_key_hourly"), tenant)).toEqual(await read(LEDGER_KEYS, tenant));
        await check();
      }),
      { numRuns: 40 },
    );
  });

  it("quota usage counts an event the moment it commits, and its settled reservation once, before any drain", async () => {
    const tenant = "queue-quota";
    const now = new Date("2026-05-03T12:30:00Z");
    await db.pool.query(
      `insert into quota_reservations (tenant, user_key, request_id, tokens, requests, cost_minor, created_at, settle_after, expires_at)
       values ($1, 'u1', 'req-1', 5000, 1, 0, $2, $3, $4)`,
      [tenant, now, new Date(now.getTime() + 60_000), new Date(now.getTime() + 600_000)],
    );
    const before = await readUsageSnapshot(db.pool, testPriceBook(), { tenant, now });
    expect(before.tenants.get(tenant)?.total.reserved.tokens).toBe(5000n);
    // The drain loop is held off: the event's rollup row stays queued.
    const lock = await db.pool.connect();
    try {
      await lock.query("begin");
      await lock.query("select pg_advisory_xact_lock(hashtext('maas-billing-ledger-rollup-drain'))");
      await ingestEvents(db.pool, [usageEvent({ id: "req-1", tenant, user: "u1", time: "2026-05-03T12:00:00Z", inputTokens: 1200, outputTokens: 34 })]);
      expect(Number((await db.pool.query("select count(*) as n from ledger_rollup_queue where tenant = $1", [tenant])).rows[0].n)).toBe(1);
      expect(Number((await db.pool.query("select count(*) as n from usage_hourly where tenant = $1", [tenant])).rows[0].n)).toBe(0);
      const after = await readUsageSnapshot(db.pool, testPriceBook(), { tenant, now });
      const total = after.tenants.get(tenant)!.total;
      expect(total.month.tokens).toBe(1234n);
      expect(total.day.tokens).toBe(1234n);
      expect(total.reserved.tokens).toBe(0n); // settled by the event in its insert: counted once, as usage
      await lock.query("commit");
    } finally {
      lock.release();
    }
    await db.pool.query("select ledger_rollup_drain(true)");
    const drained = await readUsageSnapshot(db.pool, testPriceBook(), { tenant, now });
    expect(drained.tenants.get(tenant)!.total.month.tokens).toBe(1234n);
  });
});
