/**
 * Retention (maas_billing_apply_retention, migrations 006/011/033) on a real PostgreSQL covers every
 * ledger table: usage events, the collector's rows, the gateway's access-log rows (060) and the
 * hourly rollups (usage_hourly, access_log_key_hourly of 061). The invoice rollup (usage_rollup,
 * 070) follows what retention deletes through the tables' DELETE triggers: drafts of a deleted
 * month have nothing left to price, drafts of a kept month are unchanged, the rollup equals a full
 * scan of the ledger on both sides of the cutoff, and a final invoice keeps its snapshot rows.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createInvoice, finalizeInvoice } from "../src/invoices/store";
import { ledgerGroups, rollupGroups } from "../src/invoices/draft-groups";
import { parsePriceBook, versionsInRange } from "../src/pricebook/pricebook";
import { ingestEvents } from "../src/events/ingest";
import { withRollback } from "../src/db/transaction";
import { upsertAccessLogRows } from "../src/accesslog/store";
import type { AccessLogRow } from "../src/accesslog/records";
import { BASE_PRICES, priceBookYaml } from "../testkit/pricebook";
import { insertCollectorRow, startBillingDb, usageEvent, type BillingTestDb } from "./support/billing-db";

let db: BillingTestDb;
const TENANT = "retained";
const MONTHS = 36;
const book = parsePriceBook(priceBookYaml([{ effectiveFrom: "2000-01-01T00:00:00Z", prices: BASE_PRICES }]), "retention book");

/** First instant retention keeps, as the function computes it (database clock and time zone). */
let cutoff: Date;
const monthLabel = (d: Date) => d.toISOString().slice(0, 7);
const addMonths = (d: Date, n: number) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1));

let seq = 0;
const accessRow = (at: Date, over: Partial<AccessLogRow> = {}): AccessLogRow => ({
  tenant: TENANT,
  source: "gateway-logs",
  recordId: `r${++seq}`,
  timeUnixNano: (BigInt(at.getTime()) * 1_000_000n).toString(),
  user: "alice",
  tier: "premium",
  model: "llama",
  keyId: "k1",
  keyName: "ci-key",
  organizationId: null,
  groups: null,
  responseCode: 200,
  responseType: "hit",
  inputTokens: 1000,
  outputTokens: 100,
  totalTokens: 1100,
  billable: true,
  ...over,
});

const count = async (sql: string): Promise<number> => Number((await db.pool.query(sql, [TENANT])).rows[0].n);
const countsPerTable = async () => ({
  events: await count("select count(*) as n from usage_events where tenant = $1"),
  collector: await count("select count(*) as n from collector_usage where tenant = $1"),
  accessLog: await count("select count(*) as n from access_log_usage where tenant = $1"),
  hourly: await count("select count(*) as n from usage_hourly where tenant = $1"),
  userDaily: await count("select count(*) as n from usage_user_daily where tenant = $1"),
  keyHourly: await count("select count(*) as n from access_log_key_hourly where tenant = $1"),
  rollup: await count("select count(*) as n from usage_rollup where tenant = $1"),
});
/** The draft's groups from the rollup and from a full scan of the ledger, for one month. */
const groupsOf = (start: Date) =>
  withRollback(db.pool, async (c) => {
    const m = { tenant: TENANT, start, end: addMonths(start, 1), versions: versionsInRange(book, start, addMonths(start, 1)), splitByKey: false };
    return [await rollupGroups(c, m), await ledgerGroups(c, m)] as const;
  });

beforeAll(async () => {
  db = await startBillingDb();
  cutoff = (await db.pool.query<{ c: Date }>("select date_trunc('month', now()) - make_interval(months => $1) as c", [MONTHS])).rows[0].c;
}, 180_000);

afterAll(async () => {
  await db?.stop();
});

describe("retention of every ledger table", () => {
  it("deletes events, collector rows, access-log rows and both hourly rollups before the cutoff; the invoice rollup and drafts follow", async () => {
    // The test's month arithmetic is UTC: the cutoff must be a UTC month start for the labels below.
    expect(cutoff.toISOString()).toMatch(/-01T00:00:00\.000Z$/);
    const oldMonth = addMonths(cutoff, -4);
    const lastDeleted = new Date(cutoff.getTime() - 1000); // the last second before the cutoff
    const kept = [cutoff, new Date(cutoff.getTime() + 5 * 3_600_000), addMonths(cutoff, 6)];
    const deleted = [new Date(oldMonth.getTime() + 3 * 3_600_000), lastDeleted];

    await ingestEvents(db.pool, [...deleted, ...kept].map((t, i) => usageEvent({ id: `ev-${i}`, tenant: TENANT, time: t.toISOString(), inputTokens: 10 + i })));
    for (const [i, t] of [...deleted, ...kept].entries()) {
      await insertCollectorRow(db.pool, { key: `${TENANT}/c${i}`, tenant: TENANT, windowStart: t.toISOString(), input: 100 + i, output: 1, requests: 1 });
    }
    // Access logs: billable hits under two keys, a 429 (a request count only) and a non-billable copy,
    // on both sides of the cutoff, in several statements (the receiver's upsert).
    await upsertAccessLogRows(db.pool, deleted.flatMap((t) => [accessRow(t), accessRow(t, { keyId: "k2", keyName: "batch" }), accessRow(t, { responseCode: 429, responseType: "rate_limit", inputTokens: 0, outputTokens: 0, totalTokens: 0 })]));
    await upsertAccessLogRows(db.pool, deleted.map((t) => accessRow(t, { billable: false })));
    await upsertAccessLogRows(db.pool, kept.flatMap((t) => [accessRow(t), accessRow(t, { keyId: "k2", keyName: "batch", inputTokens: 7 })]));

    // Before retention: the last deleted month has a draft with access-log usage; finalize one of
    // the old month (its snapshot must survive); note the kept month's draft.
    const lastDeletedMonth = addMonths(cutoff, -1);
    const before = await createInvoice(db.pool, book, TENANT, monthLabel(lastDeletedMonth));
    if (!before.created) throw new Error(before.reason);
    expect(before.invoice.lines.some((l) => (l.lineage.billedFrom as string[] | undefined)?.includes("gateway access logs"))).toBe(true);
    const oldDraft = await createInvoice(db.pool, book, TENANT, monthLabel(oldMonth));
    if (!oldDraft.created) throw new Error(oldDraft.reason);
    const oldFinal = await finalizeInvoice(db.pool, TENANT, oldDraft.invoice.id);
    const snapshot = await count(`select count(*) as n from invoice_ledger_rows r join invoices i on i.id = r.invoice_id where i.tenant = $1 and i.id = ${Number(oldFinal.id)}`);
    expect(snapshot).toBe(oldFinal.ledgerRows);
    const keptBefore = await createInvoice(db.pool, book, TENANT, monthLabel(cutoff));
    if (!keptBefore.created) throw new Error(keptBefore.reason);
    // The counts below read the rollup tables themselves: fold the rollup queue (migration 062) into them first.
    await db.pool.query("select ledger_rollup_drain(true)");
    const countsBefore = await countsPerTable();
    const [rollupKeptBefore] = await groupsOf(cutoff);

    const n = Number((await db.pool.query("select maas_billing_apply_retention($1) as n", [MONTHS])).rows[0].n);

    // Only what lies before the cutoff is gone, from every table.
    const oldest = async (sql: string) => (await db.pool.query<{ t: Date | null }>(sql, [TENANT])).rows[0].t;
    expect(await oldest("select min(event_time) as t from usage_events where tenant = $1")).toEqual(cutoff);
    expect(await oldest("select min(window_start) as t from collector_usage where tenant = $1")).toEqual(cutoff);
    expect(await oldest("select min(event_time) as t from access_log_usage where tenant = $1")).toEqual(cutoff);
    expect(await oldest("select min(hour) as t from usage_hourly where tenant = $1")).toEqual(cutoff);
    expect(await oldest("select min(day) as t from usage_user_daily where tenant = $1")).toEqual(cutoff);
    expect(await oldest("select min(hour) as t from access_log_key_hourly where tenant = $1")).toEqual(cutoff);
    expect(await oldest("select min(hour) as t from usage_rollup where tenant = $1")).toEqual(cutoff);
    const after = await countsPerTable();
    expect(after).toEqual({
      events: kept.length,
      collector: kept.length,
      accessLog: kept.length * 2,
      // Three hours kept (cutoff, cutoff+5h, +6 months); usage_hourly: one row per hour (per
      // tenant since migration 072); usage_user_daily: alice (access logs) and the usage without
      // a user (events and collector rows: user_key '', migration 073) on two UTC days each (the
      // cutoff's, +6 months; the day before the cutoff went); the key rollup: two keys per hour.
      hourly: 3,
      userDaily: 4,
      keyHourly: 6,
      // One invoice-rollup row per (UTC hour, tier, model, dimensions, origin) of the ledger left.
      rollup: await count("select count(*) as n from (select distinct date_trunc('hour', window_start, 'UTC'), tier, model, dimensions, origin from usage_ledger where tenant = $1) b"),
    });
    expect(after.rollup).toBeGreaterThan(0);
    expect(after.rollup).toBeLessThan(countsBefore.rollup);
    expect(countsBefore.userDaily).toBe(8);
    // The function's count: every deleted row of the six tables.
    expect(n).toBe(
      countsBefore.events - after.events + countsBefore.collector - after.collector + countsBefore.accessLog - after.accessLog + countsBefore.hourly - after.hourly + countsBefore.userDaily - after.userDaily + countsBefore.keyHourly - after.keyHourly,
    );

    // The invoice rollup equals a full scan of the ledger on both sides of the cutoff.
    for (const month of [oldMonth, lastDeletedMonth, cutoff]) {
      const [fast, full] = await groupsOf(month);
      expect(fast).toEqual(full);
    }
    expect((await groupsOf(lastDeletedMonth))[0].groups).toEqual([]);
    expect((await groupsOf(cutoff))[0]).toEqual(rollupKeptBefore);

    // Drafts: the deleted month has nothing left to price; the kept month's draft is the same and finalizes.
    const deletedMonthDraft = await createInvoice(db.pool, book, TENANT, monthLabel(lastDeletedMonth));
    if (!deletedMonthDraft.created) throw new Error(deletedMonthDraft.reason);
    expect([deletedMonthDraft.invoice.totalMinor, deletedMonthDraft.invoice.lines.length, deletedMonthDraft.invoice.ledgerRows]).toEqual(["0", 0, 0]);
    const keptAfter = await createInvoice(db.pool, book, TENANT, monthLabel(cutoff));
    if (!keptAfter.created) throw new Error(keptAfter.reason);
    expect(keptAfter.invoice.totalMinor).toBe(keptBefore.invoice.totalMinor);
    expect(keptAfter.invoice.lines.map((l) => [l.component, l.quantity, l.amountMinor])).toEqual(keptBefore.invoice.lines.map((l) => [l.component, l.quantity, l.amountMinor]));
    const keptFinal = await finalizeInvoice(db.pool, TENANT, keptAfter.invoice.id);
    expect(keptFinal.ledgerRows).toBe(keptBefore.invoice.ledgerRows);

    // The final invoice of the deleted month keeps its snapshot rows.
    expect(await count(`select count(*) as n from invoice_ledger_rows r join invoices i on i.id = r.invoice_id where i.tenant = $1 and i.id = ${Number(oldFinal.id)}`)).toBe(snapshot);
  }, 120_000);
});
