/**
 * Property: for any usage in a month (random tiers, models, token counts up to 10^12, request
 * counts, times on both sides of a mid-month price change), the invoice draft built in PostgreSQL
 * has lines that add up to its total to the minor unit, stored lines that add up to the stored
 * total, and a total within half a minor unit of the exact amount computed here independently from
 * the price book with integers (no floats anywhere). The rounding rule itself is unit-tested in
 * billing-money.test.ts; this drives the whole draft (ledger view, price versions, SQL sums).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { createInvoice } from "../src/invoices/store";
import { ingestEvents } from "../src/events/ingest";
import { startBillingDb, testPriceBook, usageEvent, type BillingTestDb } from "./support/billing-db";

let db: BillingTestDb;

beforeAll(async () => {
  db = await startBillingDb();
});

afterAll(async () => {
  await db?.stop();
});

const CHANGE = Date.parse("2026-05-15T12:00:00Z");
const MAY = Date.parse("2026-05-01T00:00:00Z");
const JUNE = Date.parse("2026-06-01T00:00:00Z");

/**
 * The test price book (support/billing-db.ts) in units of 10^-7 cent per token or request:
 * premium/llama 2.50 -> 4.00 (input), 10.00 -> 12.50 (output) per million tokens, 0.002 -> 0.003 per
 * request; everything else 1.00 / 2.00 per million and nothing per request.
 */
const exactTenMillionthsOfCent = (e: { tier: string; model: string; t: number; input: bigint; output: bigint; requests: bigint }): bigint => {
  const late = e.t >= CHANGE;
  const premiumLlama = e.tier === "premium" && e.model === "llama";
  // $x per million tokens = 100x cents per 10^6 tokens = 1000x (10^-7 cent) per token.
  const inPerToken = premiumLlama ? (late ? 4000n : 2500n) : 1000n;
  const outPerToken = premiumLlama ? (late ? 12500n : 10000n) : 2000n;
  // $0.002 = 0.2 cent = 2,000,000 (10^-7 cent).
  const perRequest = premiumLlama ? (late ? 3_000_000n : 2_000_000n) : 0n;
  return e.input * inPerToken + e.output * outPerToken + e.requests * perRequest;
};

const usage = fc.record({
  tier: fc.constantFrom("premium", "free", "enterprise"),
  model: fc.constantFrom("llama", "granite"),
  t: fc.integer({ min: MAY, max: JUNE - 1 }),
  input: fc.oneof(fc.bigInt({ min: 0n, max: 1000n }), fc.bigInt({ min: 0n, max: 10n ** 12n })),
  output: fc.oneof(fc.bigInt({ min: 0n, max: 1000n }), fc.bigInt({ min: 0n, max: 10n ** 12n })),
  requests: fc.bigInt({ min: 0n, max: 10n ** 6n }),
});

let tenantSeq = 0;

describe("invoice drafts over random usage", () => {
  it("lines add up to the total to the minor unit, and the total is the exact amount rounded", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(usage, { minLength: 1, maxLength: 40 }), async (rows) => {
        // Invoices cannot be deleted or truncated (by design): each run bills a tenant of its own.
        const tenant = `money-${++tenantSeq}`;
        await ingestEvents(
          db.pool,
          rows.map((r, i) =>
            usageEvent({ id: `${tenant}-${i}`, tenant, tier: r.tier, model: r.model, time: new Date(r.t).toISOString(), inputTokens: Number(r.input), outputTokens: Number(r.output), requests: Number(r.requests) }),
          ),
        );
        const result = await createInvoice(db.pool, testPriceBook(), tenant, "2026-05");
        if (!result.created) throw new Error(result.reason);
        const inv = result.invoice;
        const total = BigInt(inv.totalMinor);
        expect(inv.lines.reduce((a, l) => a + BigInt(l.amountMinor), 0n)).toBe(total);
        const exact = rows.reduce((a, r) => a + exactTenMillionthsOfCent(r), 0n);
        const diff = total * 10_000_000n - exact;
        expect(diff <= 5_000_000n && diff >= -5_000_000n, `total ${total} cents, exact ${exact} x 10^-7 cents`).toBe(true);
        const stored = await db.pool.query(
          `select i.total_minor::text as total, coalesce(sum(l.amount_minor), 0)::text as lines
             from invoices i left join invoice_lines l on l.invoice_id = i.id where i.id = $1 group by i.total_minor`,
          [inv.id],
        );
        expect(stored.rows[0]).toEqual({ total: inv.totalMinor, lines: inv.totalMinor });
      }),
      { numRuns: 40 },
    );
  });
});
