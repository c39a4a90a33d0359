/**
 * Invoices on a real PostgreSQL: a price change inside the month, totals equal to hand-computed
 * ones to the minor unit, collector rows with their data-quality flags, final invoices that the
 * database refuses to change, and later usage (new events, revised collector rows) as adjustments.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ingestEvents } from "../src/events/ingest";
import { usageEventSchema } from "../src/events/schema";
import { createInvoice, finalizeInvoice, getInvoice, InvoiceStateError, type Invoice } from "../src/invoices/store";
import { invoicesToFocus, invoiceToCsv } from "../src/invoices/render";
import { insertCollectorRow, startBillingDb, testPriceBook, usageEvent, type BillingTestDb } from "./support/billing-db";

let db: BillingTestDb;
const book = testPriceBook();

const created = async (tenant: string, period: string): Promise<Invoice> => {
  const result = await createInvoice(db.pool, book, tenant, period);
  if (!result.created) throw new Error(result.reason);
  return result.invoice;
};

beforeAll(async () => {
  db = await startBillingDb();
  const events = [
    // Before the price change (2.50 / 10.00 / 0.002)
    usageEvent({ id: "e1", time: "2026-05-10T08:00:00Z", inputTokens: 1_234_567, outputTokens: 345_678, requests: 3 }),
    usageEvent({ id: "e2", time: "2026-05-15T11:59:59Z", inputTokens: 500_000, outputTokens: 0, requests: 1 }),
    // From the change on (4.00 / 12.50 / 0.003); exactly at the boundary takes the new price
    usageEvent({ id: "e3", time: "2026-05-15T12:00:00Z", inputTokens: 2_000_000, outputTokens: 1_000_001, requests: 5 }),
    usageEvent({ id: "e4", time: "2026-05-31T23:59:59Z", inputTokens: 1, outputTokens: 1, requests: 1 }),
    // Outside the invoice: next month, another tenant
    usageEvent({ id: "e5", time: "2026-06-01T00:00:00Z", inputTokens: 999, outputTokens: 999 }),
    usageEvent({ id: "e6", time: "2026-05-20T00:00:00Z", tenant: "initech", inputTokens: 999, outputTokens: 999 }),
  ].map((e) => usageEventSchema.parse(e));
  await ingestEvents(db.pool, events);
  await insertCollectorRow(db.pool, { key: "gw/globex/1", tenant: "globex", windowStart: "2026-05-20T00:00:00Z", input: 100_000, output: 50_000, requests: 10, resets: 1 });
  await insertCollectorRow(db.pool, { key: "vllm/globex/1", tenant: "globex", windowStart: "2026-05-20T00:00:00Z", input: 7, output: 7, requests: 7, billable: false });
});

afterAll(async () => {
  await db?.stop();
});

describe("invoice with a price change inside the month", () => {
  let invoice: Invoice;

  it("prices each window with the version in force and matches the hand-computed total", async () => {
    invoice = await created("acme", "2026-05");
    // Exact amounts in cents (hand-computed):
    //   v1 input  1,734,567 x 2.50/M = 433.64175   output 345,678 x 10.00/M = 345.678   4 req x 0.002 = 0.8
    //   v2 input  2,000,001 x 4.00/M = 800.0004    output 1,000,002 x 12.50/M = 1250.0025  6 req x 0.003 = 1.8
    //   sum 2831.92265 -> total 2832; floors 433+345+0+800+1250+1 = 2829, the 3 leftover cents go to the
    //   largest remainders .8 (v1 requests), .8 (v2 requests), .678 (v1 output)
    expect(invoice.kind).toBe("standard");
    expect(invoice.status).toBe("draft");
    expect(invoice.totalMinor).toBe("2832");
    expect(invoice.total).toBe("28.32");
    expect(invoice.ledgerRows).toBe(4);
    expect(invoice.lines.map((l) => [l.component, l.quantity, l.unitPrice, l.amountMinor])).toEqual([
      ["input_tokens", "1734567", "2.50", "433"],
      ["output_tokens", "345678", "10.00", "346"],
      ["requests", "4", "0.002", "1"],
      ["input_tokens", "2000001", "4.00", "800"],
      ["output_tokens", "1000002", "12.50", "1250"],
      ["requests", "6", "0.003", "2"],
    ]);
    const versions = [...new Set(invoice.lines.map((l) => l.priceVersionId))];
    expect(versions).toEqual([book.versions[0].id, book.versions[1].id]);
    expect(invoice.lines.reduce((a, l) => a + BigInt(l.amountMinor), 0n)).toBe(2832n);
    expect(invoice.lines[0].lineage).toMatchObject({ ledgerRows: 2, origins: ["events"], firstWindow: "2026-05-10T08:00:00.000Z", lastWindow: "2026-05-15T11:59:59.000Z" });
  });

  it("renders CSV and FOCUS rows for every line", () => {
    const csv = invoiceToCsv(invoice).trim().split("\n");
    expect(csv).toHaveLength(7);
    expect(csv[2]).toContain(",output_tokens,345678,1M tokens,10.00,USD,346,3.46,");
    const focus = invoicesToFocus([invoice]).trim().split("\n");
    expect(focus[0].split(",")).toContain("BilledCost");
    expect(focus).toHaveLength(7);
    expect(focus[1].startsWith("4.33,4.33,4.33,4.33,USD,acme,acme,2026-05-01T00:00:00.000Z")).toBe(true);
  });

  it("bills the collector's billable rows with their data-quality flags, not the model-server rows", async () => {
    const globex = await created("globex", "2026-05");
    // v2: input 100,000 x 4.00/M = 40 cents, output 50,000 x 12.50/M = 62.5, 10 req x 0.003 = 3 -> 105.5 -> 106
    expect(globex.totalMinor).toBe("106");
    expect(globex.lines.map((l) => l.amountMinor)).toEqual(["40", "63", "3"]);
    expect(globex.flags).toMatchObject({ counterResets: 1, scrapeGaps: 0 });
    expect(globex.lines[0].lineage).toMatchObject({ origins: ["collector"], ledgerRows: 1, dataQuality: { counterResets: 1, scrapeGaps: 0 } });
  });

  it("rebuilding a draft replaces it", async () => {
    const again = await created("acme", "2026-05");
    expect(again.id).not.toBe(invoice.id);
    await expect(getInvoice(db.pool, "acme", invoice.id)).rejects.toThrow(/no invoice/);
    invoice = again;
  });
});

describe("final invoices", () => {
  let final: Invoice;

  beforeAll(async () => {
    const draft = (await db.pool.query("select id::text from invoices where tenant = 'acme' and period = '2026-05' and status = 'draft'")).rows[0].id as string;
    final = await finalizeInvoice(db.pool, "acme", draft);
  });

  it("are sealed", () => {
    expect(final.status).toBe("final");
    expect(final.contentSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(final.finalizedAt).not.toBeNull();
  });

  it("cannot be changed, deleted or extended, even with direct SQL", async () => {
    await expect(db.pool.query("update invoices set total_minor = 1 where id = $1", [final.id])).rejects.toThrow(/final and cannot be changed/);
    await expect(db.pool.query("update invoices set status = 'draft' where id = $1", [final.id])).rejects.toThrow(/final/);
    await expect(db.pool.query("delete from invoices where id = $1", [final.id])).rejects.toThrow(/final/);
    await expect(db.pool.query("update invoice_lines set amount_minor = 0 where invoice_id = $1", [final.id])).rejects.toThrow(/final/);
    await expect(db.pool.query("delete from invoice_ledger_rows where invoice_id = $1", [final.id])).rejects.toThrow(/final/);
    await expect(
      db.pool.query(
        "insert into invoice_lines (invoice_id, line_no, tier, model, component, price_version_id, quantity, unit, unit_price, amount_minor, lineage) values ($1, 99, 'x', 'x', 'requests', $2, 1, 'request', '1', 100, '{}')",
        [final.id, book.versions[0].id],
      ),
    ).rejects.toThrow(/final/);
    await expect(db.pool.query("truncate invoice_lines cascade")).rejects.toThrow(/cannot be truncated/);
    await expect(finalizeInvoice(db.pool, "acme", final.id)).rejects.toBeInstanceOf(InvoiceStateError);
    const reread = await getInvoice(db.pool, "acme", final.number);
    expect(reread).toEqual(final);
  });

  it("nothing new: no adjustment", async () => {
    const result = await createInvoice(db.pool, book, "acme", "2026-05");
    expect(result.created).toBe(false);
  });

  it("later usage for the period becomes an adjustment and the final invoice stays as it was", async () => {
    await ingestEvents(db.pool, [usageEventSchema.parse(usageEvent({ id: "late-1", time: "2026-05-20T00:00:00Z", inputTokens: 1_000_000, outputTokens: 0, requests: 0 }))]);
    const adjustment = await created("acme", "2026-05");
    expect(adjustment.kind).toBe("adjustment");
    // 1,000,000 input tokens at the v2 price 4.00/M = 400 cents
    expect(adjustment.totalMinor).toBe("400");
    expect(adjustment.lines).toHaveLength(1);
    expect(adjustment.lines[0]).toMatchObject({ component: "input_tokens", quantity: "1000000", amountMinor: "400", priceVersionId: book.versions[1].id });
    expect(await getInvoice(db.pool, "acme", final.id)).toEqual(final);
  });

  it("a collector row revised after finalizing (late data) is adjusted by its difference", async () => {
    const globexDraft = (await db.pool.query("select id::text from invoices where tenant = 'globex' and status = 'draft'")).rows[0].id as string;
    await finalizeInvoice(db.pool, "globex", globexDraft);
    await db.pool.query("update collector_usage set input_tokens = 150000, total_tokens = 200000 where idempotency_key = 'gw/globex/1'");
    const adjustment = await created("globex", "2026-05");
    // +50,000 input tokens x 4.00/M = 20 cents
    expect(adjustment.totalMinor).toBe("20");
    expect(adjustment.lines.map((l) => [l.component, l.quantity])).toEqual([["input_tokens", "50000"]]);
  });
});
