/**
 * Invoice drafts read the hourly rollup usage_rollup (migration 070) instead of every ledger row.
 * Property: for random ledgers (events, collector rows and gateway access-log rows in random tiers,
 * models, dimensions, API keys and times, collector rows re-collected by the collector's upsert,
 * access-log records folded by the receiver's upsert (more tokens win, the response type may
 * change), rows deleted and moved by hand), invoices split by API key or not,
 * and random price books whose versions start at any second (also inside an hour), the groups
 * from the rollup equal the groups from a full scan of the ledger, row counts, first/last windows,
 * origins and data-quality counts included; the draft's lines are the full scan priced; and
 * finalizing (which snapshots the ledger rows behind the draft and checks them against it)
 * succeeds. Then the defences: finalizing refuses a draft whose ledger changed afterwards or whose
 * rollup was tampered with.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { createInvoice, finalizeInvoice, InvoiceStateError } from "../src/invoices/store";
import { ledgerGroups, rollupGroups, type TenantMonth } from "../src/invoices/draft-groups";
import { priceGroups } from "../src/invoices/pricing";
import { parsePriceBook, versionsInRange, type PriceBook } from "../src/pricebook/pricebook";
import { ingestEvents } from "../src/events/ingest";
import { withRollback } from "../src/db/transaction";
import { upsertAccessLogRows } from "../src/accesslog/store";
import type { AccessLogRow } from "../src/accesslog/records";
import { accessOutcome } from "../testkit/access-logs";
import { startBillingDb, testPriceBook, usageEvent, type BillingTestDb } from "./support/billing-db";

let db: BillingTestDb;

beforeAll(async () => {
  db = await startBillingDb();
});

afterAll(async () => {
  await db?.stop();
});

const MAY = Date.parse("2026-05-01T00:00:00Z");
const JUNE = Date.parse("2026-06-01T00:00:00Z");
const HOUR = 3_600_000;

/** A price book with a version before May and up to three starting at random seconds inside it. */
const bookArb = fc
  .uniqueArray(fc.integer({ min: MAY / 1000, max: JUNE / 1000 - 1 }), { minLength: 0, maxLength: 3 })
  .chain((starts) =>
    fc.tuple(
      fc.constant(starts.sort((a, b) => a - b)),
      fc.array(fc.integer({ min: 1, max: 900 }), { minLength: starts.length + 1, maxLength: starts.length + 1 }),
      // Sometimes the first version starts inside May too, so some usage is unpriced.
      fc.boolean(),
    ),
  )
  .map(([starts, prices, firstInMay]): PriceBook => {
    const first = firstInMay && starts.length > 0 ? [] : ["2026-01-01T00:00:00Z"];
    const all = [...first, ...starts.map((s) => new Date(s * 1000).toISOString())];
    const yaml = [
      "currency: USD",
      "minorUnitDigits: 2",
      "versions:",
      ...all.flatMap((at, i) => [
        `  - effectiveFrom: "${at}"`,
        "    prices:",
        `      - { tier: premium, model: llama, inputPerMillionTokens: "${prices[i]}.25", outputPerMillionTokens: "${prices[i] + 3}.00", perRequest: "0.00${i + 1}" }`,
        `      - { tier: "*", model: "*", inputPerMillionTokens: "1.00", outputPerMillionTokens: "2.00", perRequest: "0" }`,
      ]),
    ].join("\n");
    return parsePriceBook(yaml, "random book");
  });

/** Times that like hour and version boundaries: a random second, or a boundary +- a few seconds. */
const timeArb = (book: PriceBook) =>
  fc.oneof(
    fc.integer({ min: MAY, max: JUNE - 1 }),
    fc.tuple(fc.constantFrom(...book.versions.map((v) => v.effectiveFrom.getTime()), MAY + 5 * HOUR), fc.integer({ min: -3, max: 3 })).map(([b, d]) => Math.min(JUNE - 1, Math.max(MAY, b + d * 1000))),
  );

/** When an event or collector row is and what it counts. */
const usageArb = (book: PriceBook) => ({
  t: timeArb(book),
  input: fc.integer({ min: 0, max: 5_000_000 }),
  output: fc.integer({ min: 0, max: 1000 }),
  requests: fc.integer({ min: 0, max: 3 }),
});

const opArb = (book: PriceBook) =>
  fc.oneof(
    fc.record({
      kind: fc.constant("event" as const),
      tier: fc.constantFrom("premium", "free"),
      model: fc.constantFrom("llama", "granite"),
      dims: fc.constantFrom("{}", '{"cost_center":"a"}', '{"cost_center":"b"}'),
      ...usageArb(book),
    }),
    fc.record({
      kind: fc.constant("collector" as const),
      key: fc.integer({ min: 0, max: 6 }),
      billable: fc.boolean(),
      tier: fc.constantFrom("premium", "free"),
      dims: fc.constantFrom("{}", '{"cost_center":"a"}'),
      ...usageArb(book),
      resets: fc.integer({ min: 0, max: 2 }),
      gaps: fc.integer({ min: 0, max: 1 }),
    }),
    fc.record({
      kind: fc.constant("access" as const),
      // The record fixes its time, tier, model, key and billable flag (they are part of its id).
      record: fc.integer({ min: 0, max: 8 }),
      billable: fc.boolean(),
      tier: fc.constantFrom("premium", "free"),
      model: fc.constantFrom("llama", ""),
      key: fc.constantFrom(null, "k1", "k2"),
      org: fc.constantFrom(null, "org-a"),
      t: timeArb(book),
      type: fc.constantFrom("hit", "hit", "rate_limit", "error"),
      input: fc.integer({ min: 0, max: 5_000_000 }),
      output: fc.integer({ min: 0, max: 1000 }),
    }),
    fc.record({ kind: fc.constant("delete-access" as const), nth: fc.nat() }),
    fc.record({ kind: fc.constant("delete" as const), nth: fc.nat() }),
    fc.record({ kind: fc.constant("move" as const), nth: fc.nat(), t: timeArb(book) }),
  );

let seq = 0;

/**
 * The collector's own upsert shape (src/collector/store.ts): one statement inserting new keys and
 * updating the quantities of existing ones, so both statement triggers fire in one statement.
 */
const upsertCollector = async (tenant: string, rows: { key: number; billable: boolean; tier: string; dims: string; t: number; input: number; output: number; requests: number; resets: number; gaps: number }[]) => {
  await db.pool.query(
    `insert into collector_usage as u (idempotency_key, source, billable, tenant, user_id, tier, model, window_start, window_end,
       input_tokens, output_tokens, total_tokens, requests, limited_requests, resets, gaps, samples, series, reconciliation_key, lineage, content_hash, dimensions)
     select r.k, 'gateway', r.b, $1, null, r.tier, 'llama', r.t, r.t + interval '1 minute', r.i, r.o, r.i + r.o, r.r, 0, r.res, r.gap, 4, 1, null, '{}',
            md5(r.k || r.i || '/' || r.o || '/' || r.r || '/' || r.res || '/' || r.gap), r.dims
       from unnest($2::text[], $3::boolean[], $4::text[], $5::timestamptz[], $6::bigint[], $7::bigint[], $8::bigint[], $9::int[], $10::int[], $11::jsonb[])
            as r (k, b, tier, t, i, o, r, res, gap, dims)
     on conflict (idempotency_key) do update set
       input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, total_tokens = excluded.total_tokens,
       requests = excluded.requests, resets = excluded.resets, gaps = excluded.gaps, content_hash = excluded.content_hash, updated_at = now()
     where u.content_hash is distinct from excluded.content_hash`,
    [
      tenant,
      // The key fixes the row's window, tier, dimensions and billable flag, as the collector's key does.
      rows.map((r) => `${tenant}/${r.key}`),
      rows.map((r) => r.billable),
      rows.map((r) => r.tier),
      rows.map((r) => new Date(r.t)),
      rows.map((r) => r.input),
      rows.map((r) => r.output),
      rows.map((r) => r.requests),
      rows.map((r) => r.resets),
      rows.map((r) => r.gaps),
      rows.map((r) => r.dims),
    ],
  );
};

const month = (tenant: string, book: PriceBook, splitByKey = false): TenantMonth => ({
  tenant,
  start: new Date(MAY),
  end: new Date(JUNE),
  versions: versionsInRange(book, new Date(MAY), new Date(JUNE)),
  splitByKey,
});

describe("invoice drafts from the hourly rollup", () => {
  it("equal the full scan of the ledger for random ledgers and price books, and finalize against the ledger rows", async () => {
    await fc.assert(
      fc.asyncProperty(
        bookArb.chain((book) =>
          fc.tuple(
            fc.constant(book),
            fc.array(fc.array(opArb(book), { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 4 }),
            fc.boolean(),
            // After which batches the rollup queue (migration 062) is folded in: the rest stays queued.
            fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
          ),
        ),
        async ([book, batches, splitByKey, drains]) => {
          const tenant = `rollup-${++seq}`;
          const neighbour = `rollup-${seq}-other`;
          const firstKey = new Map<number, { billable: boolean; tier: string; dims: string; t: number }>();
          const firstRecord = new Map<number, AccessLogRow>();
          for (const [b, batch] of batches.entries()) {
            if (drains[b]) await db.pool.query("select ledger_rollup_drain(true)");
            const events = batch.filter((o) => o.kind === "event");
            // Events: through the service's insert, then their dimensions set by hand (events of one
            // batch share a statement, so the rollup's insert path sees several rows per bucket).
            if (events.length > 0) {
              const ids = events.map(() => `e${++seq}`);
              await ingestEvents(
                db.pool,
                events.map((e, i) =>
                  usageEvent({ id: ids[i], tenant, tier: e.tier, model: e.model, time: new Date(e.t).toISOString(), inputTokens: e.input, outputTokens: e.output, requests: e.requests }),
                ),
              );
              await ingestEvents(db.pool, [usageEvent({ id: `n${seq}`, tenant: neighbour, time: new Date(events[0].t).toISOString(), inputTokens: 7 })]);
              await db.pool.query("update usage_events set dimensions = d.dims::jsonb from unnest($1::text[], $2::text[]) d (id, dims) where tenant = $3 and event_id = d.id", [
                ids,
                events.map((e) => e.dims),
                tenant,
              ]);
            }
            const collector = batch.filter((o) => o.kind === "collector");
            if (collector.length > 0) {
              // One row per key per statement (as the collector writes); a key keeps its first shape.
              const byKey = new Map<number, Parameters<typeof upsertCollector>[1][number]>();
              for (const c of collector) byKey.set(c.key, { ...c, ...(firstKey.get(c.key) ?? {}) });
              for (const c of byKey.values()) if (!firstKey.has(c.key)) firstKey.set(c.key, { billable: c.billable, tier: c.tier, dims: c.dims, t: c.t });
              await upsertCollector(tenant, [...byKey.values()]);
            }
            const access = batch.filter((o) => o.kind === "access");
            if (access.length > 0) {
              // Through the receiver's own upsert (one statement per batch; copies fold, more tokens win).
              await upsertAccessLogRows(
                db.pool,
                access.map((a) => {
                  const first = firstRecord.get(a.record);
                  const row: AccessLogRow = {
                    tenant,
                    source: "gateway-logs",
                    recordId: `r${a.record}`,
                    timeUnixNano: first?.timeUnixNano ?? (BigInt(a.t) * 1_000_000n).toString(),
                    user: null,
                    tier: first?.tier ?? a.tier,
                    model: first?.model ?? a.model,
                    keyId: first ? first.keyId : a.key,
                    keyName: first ? first.keyName : a.key && `${a.key}-name`,
                    organizationId: first ? first.organizationId : a.org,
                    groups: null,
                    ...accessOutcome(a),
                    billable: first?.billable ?? a.billable,
                  };
                  if (!first) firstRecord.set(a.record, row);
                  return row;
                }),
              );
            }
            for (const op of batch) {
              if (op.kind === "delete-access") {
                const rows = (await db.pool.query<{ record_id: string }>("select record_id from access_log_usage where tenant = $1 order by record_id", [tenant])).rows;
                if (rows.length === 0) continue;
                const id = rows[op.nth % rows.length].record_id;
                await db.pool.query("delete from access_log_usage where tenant = $1 and record_id = $2", [tenant, id]);
                firstRecord.delete(Number(id.slice(1)));
              }
              if (op.kind === "delete" || op.kind === "move") {
                const rows = (await db.pool.query<{ event_id: string }>("select event_id from usage_events where tenant = $1 order by event_id", [tenant])).rows;
                if (rows.length === 0) continue;
                const id = rows[op.nth % rows.length].event_id;
                if (op.kind === "delete") await db.pool.query("delete from usage_events where tenant = $1 and event_id = $2", [tenant, id]);
                else await db.pool.query("update usage_events set event_time = $3 where tenant = $1 and event_id = $2", [tenant, id, new Date(op.t)]);
              }
            }
          }
          const m = month(tenant, book, splitByKey);
          const [fast, full] = await withRollback(db.pool, async (c) => [await rollupGroups(c, m), await ledgerGroups(c, m)]);
          expect(fast).toEqual(full);
          // The same with the queue folded in: the rollup table alone then holds it all.
          if (drains[0]) {
            await db.pool.query("select ledger_rollup_drain(true)");
            expect(Number((await db.pool.query("select count(*) as n from ledger_rollup_queue")).rows[0].n)).toBe(0);
            expect(await withRollback(db.pool, (c) => rollupGroups(c, m))).toEqual(full);
          }
          const result = await createInvoice(db.pool, book, tenant, "2026-05", splitByKey ? { splitBy: "key" } : {}).catch((e: Error) => e);
          if (full.unpricedFrom) {
            expect(result).toBeInstanceOf(Error);
            expect((result as Error).message).toBe(`usage at ${full.unpricedFrom.toISOString()} is before the first price book version`);
            return;
          }
          if (result instanceof Error || !result.created) throw result instanceof Error ? result : new Error(result.reason);
          const priced = priceGroups(book, tenant, full.groups);
          expect(result.invoice.totalMinor).toBe(priced.totalMinor.toString());
          expect(result.invoice.lines.map((l) => [l.lineNo, l.tier, l.model, l.dimensions, l.component, l.priceVersionId, l.quantity, l.amountMinor, l.lineage])).toEqual(
            priced.lines.map((l) => [l.lineNo, l.tier, l.model, l.dimensions, l.component, l.priceVersionId, l.quantity.toString(), l.amountMinor.toString(), l.lineage]),
          );
          expect(result.invoice.ledgerRows).toBe(full.groups.reduce((a, g) => a + g.ledgerRows, 0));
          const final = await finalizeInvoice(db.pool, tenant, result.invoice.id);
          const snap = await db.pool.query<{ n: string }>("select count(*)::text as n from invoice_ledger_rows where invoice_id = $1", [final.id]);
          expect(Number(snap.rows[0].n)).toBe(final.ledgerRows);
        },
      ),
      { numRuns: 60 },
    );
  }, 600_000);
});

describe("finalizing a draft built from the rollup", () => {
  const draftFor = async (tenant: string) => {
    await ingestEvents(db.pool, [
      usageEvent({ id: `${tenant}-1`, tenant, time: "2026-05-03T10:00:00Z", inputTokens: 1000 }),
      usageEvent({ id: `${tenant}-2`, tenant, time: "2026-05-20T10:00:00Z", inputTokens: 2000, requests: 2 }),
    ]);
    const r = await createInvoice(db.pool, testPriceBook(), tenant, "2026-05");
    if (!r.created) throw new Error(r.reason);
    return r.invoice;
  };

  it("names the ledger rows behind each line (the auditor's way from a line to the rows)", async () => {
    const draft = await draftFor("audit-lineage");
    const behind = await db.pool.query(
      `select g.price_version_id, count(l.*)::int as n, sum(l.input_tokens)::text as i
         from invoice_line_groups g join usage_ledger l on l.tenant = 'audit-lineage' and l.tier = g.tier and l.model = g.model
          and l.dimensions = g.dimensions and l.window_start >= g.window_from and l.window_start < g.window_to
        where g.invoice_id = $1 group by 1 order by 1`,
      [draft.id],
    );
    const inputLines = draft.lines.filter((l) => l.component === "input_tokens");
    expect(behind.rows).toEqual(inputLines.map((l) => ({ price_version_id: l.priceVersionId, n: l.lineage.ledgerRows, i: l.quantity })));
  });

  it("refuses when usage arrived after the draft, and the rebuilt draft finalizes", async () => {
    const draft = await draftFor("late-after-draft");
    await ingestEvents(db.pool, [usageEvent({ id: "late-after-draft-3", tenant: "late-after-draft", time: "2026-05-04T10:00:00Z", inputTokens: 5 })]);
    await expect(finalizeInvoice(db.pool, "late-after-draft", draft.id)).rejects.toThrow(/changed since this draft was built.*rebuild the draft/);
    expect((await db.pool.query("select status from invoices where id = $1", [draft.id])).rows[0].status).toBe("draft");
    expect((await db.pool.query("select count(*)::int as n from invoice_ledger_rows where invoice_id = $1", [draft.id])).rows[0].n).toBe(0);
    const rebuilt = await createInvoice(db.pool, testPriceBook(), "late-after-draft", "2026-05");
    if (!rebuilt.created) throw new Error(rebuilt.reason);
    const final = await finalizeInvoice(db.pool, "late-after-draft", rebuilt.invoice.id);
    expect(final.ledgerRows).toBe(3);
  });

  it("refuses a draft priced from a tampered rollup: the final invoice always equals the ledger rows", async () => {
    // An attacker (or a bug) with write access lowers the rollup before the draft is built.
    await ingestEvents(db.pool, [usageEvent({ id: "tampered-1", tenant: "tampered", time: "2026-05-03T10:00:00Z", inputTokens: 1_000_000 })]);
    await db.pool.query("select ledger_rollup_drain(true)"); // from the queue into the rollup table
    await db.pool.query("update usage_rollup set input_tokens = 1 where tenant = 'tampered'");
    const r = await createInvoice(db.pool, testPriceBook(), "tampered", "2026-05");
    if (!r.created) throw new Error(r.reason);
    expect(r.invoice.lines.find((l) => l.component === "input_tokens")?.quantity).toBe("1");
    await expect(finalizeInvoice(db.pool, "tampered", r.invoice.id)).rejects.toBeInstanceOf(InvoiceStateError);
    expect((await db.pool.query("select status from invoices where id = $1", [r.invoice.id])).rows[0].status).toBe("draft");
  });
});

describe("access-log usage in drafts from the rollup", () => {
  const CONTRACT_BOOK = parsePriceBook(
    [
      "currency: USD",
      "minorUnitDigits: 2",
      "versions:",
      '  - effectiveFrom: "2026-01-01T00:00:00Z"',
      "    prices:",
      '      - { tier: premium, model: llama, inputPerMillionTokens: "10.00", outputPerMillionTokens: "20.00", perRequest: "0.01" }',
      '      - { tenant: contract-logs, tier: premium, model: llama, inputPerMillionTokens: "4.00", outputPerMillionTokens: "8.00", perRequest: "0.001" }',
    ].join("\n"),
    "contract book",
  );
  const row = (recordId: string, keyId: string, t: string, input: number, output: number, responseType = "hit"): AccessLogRow => ({
    tenant: "contract-logs",
    source: "gateway-logs",
    recordId,
    timeUnixNano: (BigInt(Date.parse(t)) * 1_000_000n).toString(),
    user: "alice",
    tier: "premium",
    model: "llama",
    keyId,
    keyName: `${keyId}-name`,
    organizationId: null,
    groups: null,
    responseCode: responseType === "hit" ? 200 : 429,
    responseType,
    inputTokens: input,
    outputTokens: output,
    totalTokens: input + output,
    billable: true,
  });

  it("are priced at the tenant's contract price, split by key on request, and finalize", async () => {
    await upsertAccessLogRows(db.pool, [
      row("a", "k1", "2026-05-03T10:00:00Z", 0, 0), // the streaming copy, completed below
      row("b", "k2", "2026-05-03T10:20:00Z", 2_000_000, 500),
      row("c", "k2", "2026-05-09T11:00:00Z", 0, 0, "rate_limit"), // a 429: no request, no tokens
    ]);
    await upsertAccessLogRows(db.pool, [row("a", "k1", "2026-05-03T10:00:00Z", 1_000_000, 250)]);
    await db.pool.query("select ledger_rollup_drain(true)"); // from the queue into the rollup table
    const rollup = await db.pool.query("select count(*)::int as n from usage_rollup where tenant = 'contract-logs' and origin = 'access-log'");
    expect(rollup.rows[0].n).toBe(2); // one bucket per key in hour 10 of May 3rd

    const whole = await createInvoice(db.pool, CONTRACT_BOOK, "contract-logs", "2026-05");
    if (!whole.created) throw new Error(whole.reason);
    const input = whole.invoice.lines.filter((l) => l.component === "input_tokens");
    expect(input.map((l) => [l.quantity, l.dimensions, l.amountMinor])).toEqual([["3000000", {}, "1200"]]); // 3M tokens at the contract's 4.00, not the list's 10.00
    // Contract: input 12.00, output 750 x 8.00/M = 0.006 -> 0.01, 2 requests x 0.001 = 0.002 -> 0.00 (the list would be 30.00 + 0.02 + 0.02).
    expect(whole.invoice.totalMinor).toBe("1201");
    expect(input[0].lineage.billedFrom).toEqual(["gateway access logs"]);

    const split = await createInvoice(db.pool, CONTRACT_BOOK, "contract-logs", "2026-05", { splitBy: "key" });
    if (!split.created) throw new Error(split.reason);
    expect(
      split.invoice.lines.filter((l) => l.component === "input_tokens").map((l) => [l.dimensions, l.quantity, l.amountMinor]),
    ).toEqual([
      [{ key_id: "k1", key_name: "k1-name" }, "1000000", "400"],
      [{ key_id: "k2", key_name: "k2-name" }, "2000000", "800"],
    ]);
    const final = await finalizeInvoice(db.pool, "contract-logs", split.invoice.id);
    expect(final.status).toBe("final");
    expect(final.ledgerRows).toBe(2);
  });
});
