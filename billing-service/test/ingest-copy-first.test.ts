/**
 * The ledger's COPY-first insert (src/db/copy-first.ts) on a real PostgreSQL: a batch of new events
 * goes in by COPY, a batch with any stored or repeated key by the idempotent statement, and the
 * answer and the stored rows are exactly what the statement alone gives: retried batches, partial
 * overlaps, copies within a batch and concurrent overlapping batches count every event once; text
 * with COPY's special characters is stored as sent; the statement-level triggers (rollup queue,
 * reservation settling) fire for COPY as for the statement. Access-log rows likewise, with the
 * streaming fold (more tokens win) and event_time computed in JS exactly as the upsert computes it.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import type { AccessLogRow } from "../src/accesslog/records";
import { accessLogCopyText, COPY_ACCESS_LOG_SQL, upsertAccessLogRows } from "../src/accesslog/store";
import { copyFirst, copyLines, CopyRowCountError } from "../src/db/copy-first";
import { COPY_EVENTS_SQL, ingestEvents } from "../src/events/ingest";
import type { UsageEvent } from "../src/events/schema";
import { startBillingDb, usageEvent, type BillingTestDb } from "./support/billing-db";

let db: BillingTestDb;

beforeAll(async () => {
  db = await startBillingDb();
}, 180_000);

afterAll(async () => {
  await db?.stop();
}, 60_000);

beforeEach(async () => {
  await db.pool.query("truncate usage_events, usage_hourly, usage_rollup, ledger_rollup_queue, quota_reservations, access_log_usage, access_log_key_hourly");
});

const ev = (i: number, over: Partial<UsageEvent> = {}): UsageEvent => ({ ...usageEvent({ id: `e-${i}`, time: "2026-05-02T10:00:00Z", inputTokens: 100 + i, outputTokens: i }), ...over }) as UsageEvent;
const range = (from: number, to: number, over: Partial<UsageEvent> = {}): UsageEvent[] => Array.from({ length: to - from }, (_, k) => ev(from + k, over));

const stored = async (): Promise<{ n: number; input: string; queued: string }> =>
  (
    await db.pool.query(
      "select (select count(*)::int from usage_events) as n, (select coalesce(sum(input_tokens), 0)::text from usage_events) as input, (select coalesce(sum(input_tokens), 0)::text from ledger_rollup_queue) as queued",
    )
  ).rows[0];

describe("COPY-first event ingest", () => {
  it("stores a new batch, then counts a retried batch and a partial overlap exactly", async () => {
    expect(await ingestEvents(db.pool, range(0, 500))).toEqual({ accepted: 500, duplicates: 0 });
    expect(await ingestEvents(db.pool, range(0, 500))).toEqual({ accepted: 0, duplicates: 500 });
    expect(await ingestEvents(db.pool, range(400, 700))).toEqual({ accepted: 200, duplicates: 100 });
    const s = await stored();
    const sum = Array.from({ length: 700 }, (_, i) => 100 + i).reduce((a, b) => a + b, 0);
    // Every event once in the ledger and once in the rollup queue (the insert trigger fired once per stored row).
    expect(s).toEqual({ n: 700, input: String(sum), queued: String(sum) });
  });

  it("counts a copy within one batch once (the COPY fails on it and the statement decides)", async () => {
    const batch = [...range(0, 10), ev(3), ev(7)];
    expect(await ingestEvents(db.pool, batch)).toEqual({ accepted: 10, duplicates: 2 });
    expect((await stored()).n).toBe(10);
  });

  it("keeps the key per tenant: the same (source, id) of another tenant is a new event", async () => {
    expect(await ingestEvents(db.pool, range(0, 5))).toEqual({ accepted: 5, duplicates: 0 });
    expect(await ingestEvents(db.pool, range(0, 5, { tenant: "globex" }))).toEqual({ accepted: 5, duplicates: 0 });
    expect((await stored()).n).toBe(10);
  });

  it("stores every event once when overlapping batches race each other", async () => {
    // 8 batches of 300 over 1,200 distinct events, sent all at once on a pool of 8 connections.
    const batches = Array.from({ length: 8 }, (_, b) => range((b % 4) * 300, (b % 4) * 300 + 300));
    const results = await Promise.all(batches.map((b) => ingestEvents(db.pool, b)));
    expect(results.reduce((a, r) => a + r.accepted, 0)).toBe(1200);
    expect(results.reduce((a, r) => a + r.duplicates, 0)).toBe(1200);
    const s = await stored();
    expect(s.n).toBe(1200);
    expect(s.queued).toBe(s.input);
  });

  it("stores text with tabs, newlines, carriage returns and backslashes as sent, and a missing user as null", async () => {
    const odd = ["tab\there", "line\nbreak", "cr\rhere", "back\\slash", "\\N", "\\.", "trailing\\"];
    const batch = odd.map((s, i) => ev(i, { id: s, user: s, tenant: `t-${s}` }));
    batch.push(ev(99, { user: undefined }));
    expect(await ingestEvents(db.pool, batch)).toEqual({ accepted: odd.length + 1, duplicates: 0 });
    const rows = (await db.pool.query<{ event_id: string; user_id: string | null; tenant: string }>("select event_id, user_id, tenant from usage_events order by input_tokens")).rows;
    expect(rows).toEqual([...odd.map((s) => ({ event_id: s, user_id: s, tenant: `t-${s}` })), { event_id: "e-99", user_id: null, tenant: "acme" }]);
    // Sent again: all duplicates (the keys compare equal to what was stored).
    expect(await ingestEvents(db.pool, batch)).toEqual({ accepted: 0, duplicates: odd.length + 1 });
  });

  it("settles an open reservation whose request id is a copied event's id (statement triggers fire for COPY)", async () => {
    await db.pool.query(
      `insert into quota_reservations (tenant, user_key, request_id, tokens, requests, cost_minor, created_at, settle_after, expires_at)
       values ('acme', '', 'e-2', 10, 1, 0, now(), now() + interval '1 hour', now() + interval '1 hour')`,
    );
    expect(await ingestEvents(db.pool, range(0, 5))).toEqual({ accepted: 5, duplicates: 0 });
    expect((await db.pool.query("select settled_by from quota_reservations")).rows).toEqual([{ settled_by: "event" }]);
  });

  it("inside the caller's transaction uses the statement, so a duplicate does not abort the transaction", async () => {
    await ingestEvents(db.pool, range(0, 3));
    const client = await db.pool.connect();
    try {
      await client.query("begin");
      expect(await ingestEvents(client, range(0, 6))).toEqual({ accepted: 3, duplicates: 3 });
      expect((await client.query("select count(*)::int as n from usage_events")).rows[0].n).toBe(6);
      await client.query("rollback");
    } finally {
      client.release();
    }
    expect((await stored()).n).toBe(3);
  });

  it("undoes a COPY that read another number of rows than the batch holds (behind the escaping, threat model B7)", async () => {
    const line = (id: string) => `//t\t${id}\tglobex\t\\N\tpremium\tllama\t2026-05-02T10:00:00Z\t5000000\t0\t1\n`;
    await expect(copyFirst(db.pool, { sql: COPY_EVENTS_SQL, rows: 1, text: () => line("x") + line("y"), result: () => "stored" }, async () => "fallback")).rejects.toThrow(CopyRowCountError);
    expect((await stored()).n).toBe(0);
    // The connection went back to the pool usable: the next batches are stored.
    for (let i = 0; i < 10; i++) expect(await ingestEvents(db.pool, range(i * 10, i * 10 + 10))).toEqual({ accepted: 10, duplicates: 0 });
  });

  it("writes COPY's text format: one line per row, special characters escaped, null as \\N", () => {
    expect(copyLines([["a\tb", null, 3, "c\\d\ne\r"]], (r) => r)).toBe("a\\tb\t\\N\t3\tc\\\\d\\ne\\r\n");
  });
});

const logRow = (i: number, over: Partial<AccessLogRow> = {}): AccessLogRow => ({
  tenant: "acme",
  source: "//test/access-log",
  recordId: `r-${i}`,
  timeUnixNano: String(1_777_000_000_000_000_000n + BigInt(i) * 1_000_003n),
  user: `user-${i % 3}`,
  tier: "premium",
  model: "llama",
  keyId: `key-${i % 2}`,
  keyName: `key ${i % 2}`,
  organizationId: null,
  groups: "users",
  responseCode: 200,
  responseType: "hit",
  inputTokens: 10 + i,
  outputTokens: i,
  totalTokens: 10 + 2 * i,
  billable: true,
  ...over,
});

const LOG_COLUMNS = `tenant, record_id, time_unix_nano::text, event_time::text, user_id, tier, model, key_id, key_name, organization_id, groups,
  response_code, response_type, input_tokens::text, output_tokens::text, total_tokens::text, billable`;

describe("COPY-first access-log ingest", () => {
  it("stores new rows by COPY, folds a streaming record's real usage into its row, and counts retries as duplicates", async () => {
    const zero = Array.from({ length: 20 }, (_, i) => logRow(i, { inputTokens: 0, outputTokens: 0, totalTokens: 0 }));
    // The batch holds one record twice (in-batch fold: the copy with more tokens is the row).
    expect(await upsertAccessLogRows(db.pool, [...zero, logRow(5)])).toEqual({ accepted: 20, completed: 0, duplicates: 1 });
    // The real usage of 10 of them arrives: the COPY fails on the stored keys, the upsert completes the rows.
    const real = Array.from({ length: 10 }, (_, i) => logRow(i));
    expect(await upsertAccessLogRows(db.pool, real)).toEqual({ accepted: 0, completed: 9, duplicates: 1 });
    expect(await upsertAccessLogRows(db.pool, real)).toEqual({ accepted: 0, completed: 0, duplicates: 10 });
    const sums = (await db.pool.query("select count(*)::int as n, sum(input_tokens)::int as i from access_log_usage")).rows[0];
    expect(sums).toEqual({ n: 20, i: Array.from({ length: 10 }, (_, i) => 10 + i).reduce((a, b) => a + b, 0) });
  });

  it("undoes, in the database before the commit, a COPY that stored another number of rows than the batch holds (one query: migration 068; threat model B7)", async () => {
    const rows = Array.from({ length: 3 }, (_, i) => logRow(i));
    const text = accessLogCopyText(rows).toString("utf8");
    const forged = accessLogCopyText([logRow(9, { tenant: "globex", inputTokens: 5_000_000 })]).toString("utf8");
    const counted = (body: string, n: number) =>
      copyFirst(db.pool, { sql: COPY_ACCESS_LOG_SQL, rows: n, countedByTable: true, text: () => body, result: (copied) => copied }, async () => -1);
    // One row more than the batch (a value split into a row of its own), and one fewer (COPY's end marker \. ends the data early).
    await expect(counted(text + forged, 3)).rejects.toThrow(CopyRowCountError);
    await expect(counted(`${text.slice(0, text.lastIndexOf("\n", text.length - 2) + 1)}\\.\n${text.slice(text.lastIndexOf("\n", text.length - 2) + 1)}`, 3)).rejects.toThrow(CopyRowCountError);
    expect((await db.pool.query("select count(*)::int as n from access_log_usage")).rows[0].n).toBe(0);
    expect((await db.pool.query("select count(*)::int as n from ledger_rollup_queue")).rows[0].n).toBe(0);
    // The connections went back to the pool usable, and a batch of the right count is stored and committed.
    for (let i = 0; i < 8; i++) expect(await counted(accessLogCopyText([logRow(100 + i)]).toString("utf8"), 1)).toBe(1);
    expect(await counted(text, 3)).toBe(3);
    expect((await db.pool.query("select count(*)::int as n from access_log_usage")).rows[0].n).toBe(11);
  });

  it("stores the same columns by COPY as by the upsert statement, event_time included (property)", async () => {
    const text = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !s.includes("\u0000"));
    const row = fc.record({
      // The whole bigint range (to 2262): the statement's access_log_event_time (migration 067) is exact
      // where its float8 predecessor was a microsecond off after 2^53 microseconds (2255).
      ns: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 53n * 1000n - 1n }), fc.bigInt({ min: 2n ** 53n * 1000n, max: 9_223_372_036_854_775_807n })),
      user: fc.option(text, { nil: null }),
      keyName: fc.option(text, { nil: null }),
      groups: fc.option(text, { nil: null }),
      model: fc.oneof(fc.constant(""), text),
      type: fc.constantFrom("hit", "rate_limit", "error"),
      input: fc.nat(),
      output: fc.nat(),
      billable: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 30 }), async (spec) => {
        await db.pool.query("truncate access_log_usage");
        const rows = spec.map((r, i) =>
          logRow(i, { timeUnixNano: String(r.ns), user: r.user, keyName: r.keyName, groups: r.groups, model: r.model, responseType: r.type, inputTokens: r.input, outputTokens: r.output, totalTokens: r.input + r.output, billable: r.billable }),
        );
        // By COPY (the pool), then the same rows under tenant "stmt" through the statement (a client: no COPY).
        expect(await upsertAccessLogRows(db.pool, rows)).toEqual({ accepted: rows.length, completed: 0, duplicates: 0 });
        const client = await db.pool.connect();
        try {
          expect(await upsertAccessLogRows(client, rows.map((r) => ({ ...r, tenant: "stmt" })))).toEqual({ accepted: rows.length, completed: 0, duplicates: 0 });
        } finally {
          client.release();
        }
        const read = async (tenant: string) => (await db.pool.query(`select ${LOG_COLUMNS} from access_log_usage where tenant = $1 order by record_id`, [tenant])).rows.map((r) => ({ ...r, tenant: "-" }));
        expect(await read("acme")).toEqual(await read("stmt"));
      }),
      { numRuns: 25 },
    );
  });
});
