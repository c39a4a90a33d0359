/**
 * One pricing rule: for any price book and any usage, the invoice total, the cost metric and the
 * quota estimate come from the same exact amount. Invoice and metric totals are equal to the minor
 * unit; a quota estimate is that exact amount rounded up. The exact amount is recomputed here from
 * the price texts, independently of src/pricebook/cost.ts (lookup included: books carry contract
 * entries of the priced tenant and of another one).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { priceGroups, type UsageGroup } from "../src/invoices/pricing";
import { costByTenant } from "../src/ops/metrics";
import { parseDecimal } from "../src/pricebook/money";
import { versionAt, versionsInRange, type PriceBook } from "../src/pricebook/pricebook";
import { estimateCostMinor } from "../src/quota/cost";
import { readUsageSnapshot, type UsageRow } from "../src/quota/usage";
import { priceText, twoVersionBook } from "./support/property-books";

const price = priceText;
const entry = (tier: string, model: string, tenant?: string) =>
  fc.record({ ...(tenant ? { tenant: fc.constant(tenant) } : {}), tier: fc.constant(tier), model: fc.constant(model), inputPerMillionTokens: price, outputPerMillionTokens: price, perRequest: price });
/** Contract entries (per-tenant prices): some for the priced tenant, some for another one. */
const contracts = fc.subarray([["acme", "premium", "llama"], ["acme", "*", "*"], ["acme", "free", "*"], ["globex", "*", "*"]] as const).chain((keys) =>
  fc.tuple(...keys.map(([tenant, tier, model]) => entry(tier, model, tenant))),
);
const bookArb = fc
  .record({
    digits: fc.constantFrom(0, 2, 3),
    v1: fc.tuple(entry("premium", "llama"), entry("*", "*"), contracts).map(([a, b, c]) => [a, b, ...c]),
    v2: fc.tuple(entry("premium", "llama"), entry("*", "*"), contracts).map(([a, b, c]) => [a, b, ...c]),
  })
  .map(twoVersionBook);

const MAY = Date.parse("2026-05-01T00:00:00Z");
const rowArb = fc.record({
  tenant: fc.constant("acme"),
  tier: fc.constantFrom("premium", "free"),
  model: fc.constantFrom("llama", "mistral"),
  hour: fc.integer({ min: 0, max: 30 * 24 - 1 }).map((h) => new Date(MAY + h * 3_600_000)),
  input: fc.bigInt({ min: 0n, max: 10n ** 10n }),
  output: fc.bigInt({ min: 0n, max: 10n ** 10n }),
  requests: fc.bigInt({ min: 0n, max: 10n ** 6n }),
});
type Row = typeof rowArb extends fc.Arbitrary<infer R> ? R : never;

/** The invoice's groups: one per (tier, model, price version), as the invoice store builds them. */
const invoiceGroups = (book: PriceBook, rows: readonly Row[]): UsageGroup[] => {
  const groups = new Map<string, UsageGroup>();
  for (const r of rows) {
    const version = versionAt(book, r.hour)!;
    const key = `${r.tier}|${r.model}|${version.id}`;
    const g = groups.get(key);
    groups.set(key, {
      tier: r.tier,
      model: r.model,
      priceVersionId: version.id,
      inputTokens: (g?.inputTokens ?? 0n) + r.input,
      outputTokens: (g?.outputTokens ?? 0n) + r.output,
      requests: (g?.requests ?? 0n) + r.requests,
      ledgerRows: (g?.ledgerRows ?? 0) + 1,
      origins: ["events"],
      resets: 0,
      gaps: 0,
      firstWindow: r.hour.toISOString(),
      lastWindow: r.hour.toISOString(),
    });
  }
  return [...groups.values()];
};

/** Exact cost of one row in minor units as [numerator, denominator], from the price texts. */
const exactCost = (book: PriceBook, r: Row): [bigint, bigint] => {
  // Written out here, not cost.ts's lookup: the tenant's contract entries first, then the list.
  const entries = versionAt(book, r.hour)!.prices;
  const fallbacks = [[r.tier, r.model], [r.tier, "*"], ["*", r.model], ["*", "*"]];
  const p = [r.tenant, undefined]
    .flatMap((tenant) => fallbacks.map(([tier, model]) => entries.find((e) => e.tenant === tenant && e.tier === tier && e.model === model)))
    .find((e) => e !== undefined)!;
  const dec = (t: string) => parseDecimal(t, 12); // value * 10^12
  const minor = 10n ** BigInt(book.minorUnitDigits);
  // (input * in + output * out) / 10^6 + requests * perRequest, all prices / 10^12, times 10^digits.
  const numerator = (r.input * dec(p.text.inputPerMillionTokens) + r.output * dec(p.text.outputPerMillionTokens) + r.requests * dec(p.text.perRequest) * 1_000_000n) * minor;
  return [numerator, 10n ** 12n * 1_000_000n];
};

describe("invoices, quotas and metrics price alike", () => {
  it("invoice total = cost metric, to the minor unit, for any book and usage", () => {
    fc.assert(
      fc.property(bookArb, fc.array(rowArb, { minLength: 1, maxLength: 30 }), (book, rows) => {
        const invoice = priceGroups(book, "acme", invoiceGroups(book, rows)).totalMinor;
        expect(costByTenant(book, rows).get("acme")).toBe(invoice);
        // Both are the exact sum rounded half up (amounts are never negative).
        const [num, den] = rows.map((r) => exactCost(book, r)).reduce(([a, d], [n]) => [a + n, d], [0n, exactCost(book, rows[0])[1]]);
        expect(invoice).toBe((2n * num + den) / (2n * den));
      }),
      { numRuns: 300 },
    );
  });

  it("a quota's month cost (the in-memory view's refresh, no invoice lines) = invoice total, to the minor unit", async () => {
    await fc.assert(
      fc.asyncProperty(bookArb, fc.array(rowArb, { minLength: 1, maxLength: 30 }), async (book, rows) => {
        // The rows as the refresh's SQL returns them (arrays: usage.ts UsageRow): one per
        // (tenant, user, tier, model, today, version).
        const month = versionsInRange(book, new Date(MAY), new Date("2026-06-01T00:00:00Z"));
        const sqlRows: UsageRow[] = rows.map((r, i) => [
          false,
          r.tenant,
          i % 3 === 0 ? "" : `u${i % 2}`,
          r.tier,
          r.model,
          false,
          month.indexOf(versionAt(book, r.hour)!) + 1,
          r.input.toString(),
          r.output.toString(),
          r.requests.toString(),
          null,
        ]);
        const snapshot = await readUsageSnapshot({ query: async () => ({ rows: sqlRows }) } as never, book, { now: new Date("2026-05-31T12:00:00Z") });
        expect(snapshot.tenants.get("acme")!.total.month.costMinor).toBe(priceGroups(book, "acme", invoiceGroups(book, rows)).totalMinor);
        for (const user of ["u0", "u1"]) {
          const mine = rows.filter((_, i) => i % 3 !== 0 && `u${i % 2}` === user);
          const want = mine.length === 0 ? undefined : priceGroups(book, "acme", invoiceGroups(book, mine)).totalMinor;
          expect(snapshot.tenants.get("acme")!.users.get(user)?.month.costMinor).toBe(want);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("a quota estimate is the same exact amount rounded up: never below the invoice, at most one minor unit above", () => {
    fc.assert(
      fc.property(bookArb, rowArb, (book, row) => {
        const [num, den] = exactCost(book, row);
        const estimate = estimateCostMinor(book, row.hour, { tenant: row.tenant, tier: row.tier, model: row.model, inputTokens: row.input, outputTokens: row.output, requests: row.requests });
        expect(estimate).toBe((num + den - 1n) / den);
        const invoice = priceGroups(book, "acme", invoiceGroups(book, [row])).totalMinor;
        expect(estimate! >= invoice && estimate! - invoice <= 1n).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
