/*
 * Migration 067 keys access-log rows by (tenant, event_time, source, record_id) instead of
 * (tenant, source, record_id) plus a (tenant, event_time) index: one btree instead of two. That is
 * the same idempotency only if a record id fixes the row's event_time, on both insert paths (COPY
 * with the time computed in JS, the upsert with access_log_event_time in SQL). These tests hold:
 *   - the mapping: two rows with one (tenant, record id) have one time (property over records that
 *     differ only in time, with the observed-time fallback);
 *   - the paths: JS eventTimeOfNanos equals SQL access_log_event_time to the microsecond over the
 *     whole nanosecond range (the old statement's float8 was off after 2255);
 *   - the store: any sequence of batches (retries, in-batch copies, streaming zeros then real
 *     usage, COPY and upsert paths mixed) leaves exactly the rows and counts of the old key's
 *     semantics, computed here by a model (property);
 *   - the upgrade: rows stored before 067 (one of them by the old float8 statement, a microsecond
 *     off) are found by a retry after it, and the rollups still equal the ledger.
 */
import type { Pool } from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import type { FlatLogRecord } from "../src/accesslog/otlp";
import { toAccessLogRow, type AccessLogRow } from "../src/accesslog/records";
import { eventTimeOfNanos, upsertAccessLogRows } from "../src/accesslog/store";
import { migrate } from "../src/db/migrate";
import { MIGRATIONS } from "../src/db/migrations";
import { startPostgres, type RunningPostgres } from "../testkit/postgres";
import { startBillingDb, type BillingTestDb } from "./support/billing-db";

type Queryable = Pick<Pool, "query">;
const MAX_NS = 9_223_372_036_854_775_807n;
const CTX = { source: "//test/access-log", tenantOfNamespace: () => undefined, billable: true };

const record = (time: string, observed: string, attrs: Record<string, string>): FlatLogRecord => ({
  timeUnixNano: time,
  observedTimeUnixNano: observed,
  attributes: new Map(Object.entries(attrs)),
  traceId: "",
  spanId: "",
});

/** PostgreSQL's text of each timestamptz literal (eventTimeOfNanos writes COPY input, not the output format). */
const asStored = async (pool: Queryable, times: readonly string[]): Promise<string[]> =>
  (await pool.query<{ t: string }>("select t::timestamptz::text as t from unnest($1::text[]) with ordinality as u(t, i) order by i", [times])).rows.map((r) => r.t);

const rowOf = (r: FlatLogRecord): AccessLogRow => {
  const o = toAccessLogRow(r, CTX);
  if (!o.ok) throw new Error(o.reason);
  return o.row;
};

/** Records from small pools: many share every attribute and differ only in time (or in which time field carries it). */
const nanos = fc.oneof(fc.bigInt({ min: 1n, max: 10n ** 12n }), fc.bigInt({ min: 2n ** 53n * 1000n - 10n ** 6n, max: MAX_NS })).map(String);
const flatRecord = fc
  .record({
    time: fc.oneof(nanos, fc.constant("0")),
    observed: nanos,
    tenant: fc.constantFrom("acme", "globex"),
    user: fc.constantFrom("u1", "u2"),
    model: fc.constantFrom("llama", "-"),
    key: fc.constantFrom("k1", "k2"),
    tokens: fc.constantFrom(["0", "0"], ["120", "30"], ["7", "0"]),
  })
  .map((s) =>
    record(s.time, s.observed, {
      tenant: s.tenant,
      user_id: s.user,
      subscription: "premium",
      model: s.model,
      key_id: s.key,
      key_name: `name ${s.key}`,
      response_code: "200",
      tokens_prompt: s.tokens[0],
      tokens_completion: s.tokens[1],
      tokens_total: String(Number(s.tokens[0]) + Number(s.tokens[1])),
    }),
  );

describe("access-log key with the event time (migration 067)", () => {
  let db: BillingTestDb;
  beforeAll(async () => {
    db = await startBillingDb();
  }, 120_000);
  afterAll(async () => {
    await db?.stop();
  });
  beforeEach(async () => {
    await db.pool.query("truncate access_log_usage");
  });

  it("maps one (tenant, record id) to one time: the id hashes the time the row stores (property)", () => {
    fc.assert(
      fc.property(fc.array(flatRecord, { minLength: 2, maxLength: 40 }), (records) => {
        const timeOf = new Map<string, string>();
        for (const row of records.map(rowOf)) {
          const key = `${row.tenant}\u0000${row.recordId}`;
          const seen = timeOf.get(key);
          if (seen !== undefined) expect(row.timeUnixNano).toBe(seen);
          timeOf.set(key, row.timeUnixNano);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("computes event_time in SQL exactly as in JS, to the microsecond, up to the last nanosecond of 2262", async () => {
    const samples = fc.sample(fc.bigInt({ min: 0n, max: MAX_NS }), 2000).concat([0n, 999n, 2n ** 53n * 1000n - 1n, (2n ** 53n + 1n) * 1000n, MAX_NS]);
    const sql = (await db.pool.query<{ t: string }>("select access_log_event_time(ns)::text as t from unnest($1::bigint[]) with ordinality as u(ns, i) order by i", [samples.map(String)])).rows;
    expect(sql.map((r) => r.t)).toEqual(await asStored(db.pool, samples.map((ns) => eventTimeOfNanos(String(ns)))));
  });

  it("stores exactly the rows and counts of the (tenant, source, record_id) semantics for any sequence of batches, on both paths (property)", async () => {
    const weight = (r: AccessLogRow) => r.inputTokens + r.outputTokens + r.totalTokens;
    await fc.assert(
      fc.asyncProperty(
        fc.array(flatRecord, { minLength: 1, maxLength: 12 }),
        fc.array(fc.record({ picks: fc.array(fc.nat(), { minLength: 1, maxLength: 15 }), statement: fc.boolean() }), { minLength: 1, maxLength: 6 }),
        async (pool, batches) => {
          await db.pool.query("truncate access_log_usage");
          const rows = pool.map(rowOf);
          const model = new Map<string, AccessLogRow>();
          for (const b of batches) {
            const batch = b.picks.map((i) => rows[i % rows.length]);
            // What the old key's semantics give: per (tenant, source, record id) the copy with the most tokens;
            // a stored row is completed by a heavier copy; everything else is a duplicate.
            const heaviest = new Map<string, AccessLogRow>();
            for (const r of batch) {
              const k = `${r.tenant}\u0000${r.source}\u0000${r.recordId}`;
              const seen = heaviest.get(k);
              if (seen === undefined || weight(r) > weight(seen)) heaviest.set(k, r);
            }
            let accepted = 0;
            let completed = 0;
            for (const [k, r] of heaviest) {
              const stored = model.get(k);
              if (stored === undefined) accepted++;
              else if (weight(r) > weight(stored)) completed++;
              else continue;
              model.set(k, r);
            }
            const expected = { accepted, completed, duplicates: batch.length - accepted - completed };
            if (b.statement) {
              const client = await db.pool.connect(); // a client: the statement path, no COPY
              try {
                expect(await upsertAccessLogRows(client, batch)).toEqual(expected);
              } finally {
                client.release();
              }
            } else expect(await upsertAccessLogRows(db.pool, batch)).toEqual(expected);
          }
          const stored = (
            await db.pool.query(
              "select tenant, source, record_id, time_unix_nano::text as ns, event_time::text as t, input_tokens::int as i, output_tokens::int as o from access_log_usage order by tenant, record_id",
            )
          ).rows;
          const kept = [...model.values()];
          const t = await asStored(db.pool, kept.map((r) => eventTimeOfNanos(r.timeUnixNano)));
          const want = kept
            .map((r, k) => ({ tenant: r.tenant, source: r.source, record_id: r.recordId, ns: r.timeUnixNano, t: t[k], i: r.inputTokens, o: r.outputTokens }))
            .sort((a, b) => (a.tenant === b.tenant ? (a.record_id < b.record_id ? -1 : 1) : a.tenant < b.tenant ? -1 : 1));
          expect(stored).toEqual(want);
        },
      ),
      { numRuns: 40 },
    );
  }, 300_000);
});

describe("upgrading to migration 067", () => {
  let pg: RunningPostgres;
  beforeAll(async () => {
    pg = await startPostgres(undefined, { poolSize: 4 });
  }, 120_000);
  afterAll(async () => {
    await pg?.stop();
  });

  it("gives rows stored before it their exact time, and a retry after it finds them; the rollups still equal the ledger", async () => {
    const upTo = MIGRATIONS.findIndex((m) => m.id === 67);
    expect(upTo).toBeGreaterThan(0);
    await migrate(pg.pool, MIGRATIONS.slice(0, upTo));
    // Records as the receiver maps them; one dated after 2255, where the old statement's float8 is a microsecond off.
    const late = String((2n ** 53n + 1n) * 1000n);
    const rows = [record("1777000000000000000", "0", {}), record("1777000000123456789", "0", {}), record(late, "0", {})].map((r, i) =>
      rowOf(
        record(r.timeUnixNano, "0", {
          tenant: "acme",
          user_id: `u${i}`,
          subscription: "premium",
          model: "llama",
          key_id: "k1",
          response_code: "200",
          tokens_prompt: String(100 + i),
          tokens_completion: "5",
          tokens_total: String(105 + i),
        }),
      ),
    );
    // Stored by the statement the receiver used before 067 (its text as released with 060-065's store).
    await pg.pool.query(
      `insert into access_log_usage (tenant, source, record_id, time_unix_nano, event_time, user_id, tier, model, key_id, key_name,
         organization_id, groups, response_code, response_type, input_tokens, output_tokens, total_tokens, billable)
       select u.tenant, u.source, u.record_id, u.ns, to_timestamp(0) + (u.ns / 1000) * interval '1 microsecond', u.user_id, u.tier, u.model,
              null, null, null, null, 200, 'hit', u.i, 5, u.i + 5, true
         from unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[])
              as u(tenant, source, record_id, ns, user_id, tier, model, i)
       on conflict (tenant, source, record_id) do nothing`,
      [rows.map((r) => r.tenant), rows.map((r) => r.source), rows.map((r) => r.recordId), rows.map((r) => r.timeUnixNano), rows.map((r) => r.user), rows.map((r) => r.tier), rows.map((r) => r.model), rows.map((r) => r.inputTokens)],
    );
    const times = async () => (await pg.pool.query<{ t: string }>("select event_time::text as t from access_log_usage order by time_unix_nano")).rows.map((r) => r.t);
    const exact = await asStored(pg.pool, rows.map((r) => eventTimeOfNanos(r.timeUnixNano)));
    const before = await times();
    expect(before.slice(0, 2)).toEqual(exact.slice(0, 2));
    expect(before[2]).not.toBe(exact[2]); // the float8 microsecond this migration repairs

    expect((await migrate(pg.pool)).applied).toContain(67);
    expect(await times()).toEqual(exact);
    // The collector's retry of the same records after the upgrade: COPY fails on the key, the upsert finds every row.
    const retried = rows.map((r) => ({ ...r, groups: null, keyName: null, organizationId: null }));
    expect(await upsertAccessLogRows(pg.pool, retried)).toEqual({ accepted: 0, completed: 0, duplicates: 3 });
    expect((await pg.pool.query("select count(*)::int as n from access_log_usage")).rows[0].n).toBe(3);
    // The repair moved a row by a microsecond through the update trigger: the rollups are still the ledger's sums.
    await pg.pool.query("select ledger_rollup_drain(true)");
    const sums = async (sql: string) => (await pg.pool.query(sql)).rows[0];
    const ledger = await sums("select sum(input_tokens)::int as i, sum(requests)::int as r from usage_ledger where origin = 'access-log'");
    expect(ledger).toEqual({ i: 303, r: 3 });
    expect(await sums("select sum(input_tokens)::int as i, sum(requests)::int as r from usage_rollup_current where origin = 'access-log'")).toEqual(ledger);
    expect(await sums("select sum(input_tokens)::int as i, sum(requests)::int as r from usage_hourly_current")).toEqual(ledger);
  }, 240_000);
});
