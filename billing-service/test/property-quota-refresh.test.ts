/**
 * The quota view's refresh (quota/usage.ts foldUsageRows) prices each ledger row through
 * costFactors (three products, factors looked up once per (tenant, version, tier, model)) and
 * keeps today's usage apart from the rest of the month, adding them at the end. It must give
 * exactly what pricing every row with the one pricing rule gives: usageCostNumerator per row, the
 * exact numerators of each figure added, each sum rounded ONCE like the invoice total (money.ts
 * allocate) — here recomputed by that straightforward per-row path, for random books (contract
 * entries, prices with 12 decimals, missing prices), rows (several tenants and users, today or
 * not, no price version, reservations) and minor-unit digits.
 *
 * The SQL side, on real PostgreSQL: the refresh finds each hour's price version with width_bucket
 * over the sorted effective dates, which is the count of effective dates <= hour it replaced, and a
 * price change mid-month splits the month's cost at the change (hourly rollup and ledger paths).
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { costFactors, costNumeratorOf, usageCostNumerator } from "../src/pricebook/cost";
import { parsePriceBook } from "../src/pricebook/pricebook";
import { ingestEvents } from "../src/events/ingest";
import { foldUsageRows, readUsageSnapshot, type UsageRow } from "../src/quota/usage";
import { startBillingDb, usageEvent, type BillingTestDb } from "./support/billing-db";
import { priceText, twoVersionBook } from "./support/property-books";
import { figuresOf, perRow } from "./support/quota-reference";

const NOW = new Date("2026-05-23T12:34:56Z");
const TENANTS = ["acme", "globex"];
const USERS = ["", "u1", "u2", "u3"];
const TIERS = ["premium", "free", "gold"];
const MODELS = ["llama", "mistral", "granite"];

const price = priceText;
const entry = fc.record({
  tenant: fc.option(fc.constantFrom(...TENANTS), { nil: undefined }),
  tier: fc.constantFrom(...TIERS, "*"),
  model: fc.constantFrom(...MODELS, "*"),
  inputPerMillionTokens: price,
  outputPerMillionTokens: price,
  perRequest: price,
});
/** Entries as the book allows them: at most one per (tenant, tier, model); some keys have no price at all. */
const entries = fc.uniqueArray(entry, { minLength: 1, maxLength: 8, selector: (e) => `${e.tenant ?? ""}/${e.tier}/${e.model}` }).map((es) => es.map(({ tenant, ...e }) => (tenant ? { tenant, ...e } : e)));
const bookArb = fc.record({ digits: fc.constantFrom(0, 2, 3), v1: entries, v2: entries }).map(twoVersionBook);

const qty = fc.oneof(fc.bigInt({ min: 0n, max: 1000n }), fc.bigInt({ min: 0n, max: 10n ** 15n }));
const ledgerRow = fc
  .record({ tenant: fc.constantFrom(...TENANTS), user: fc.constantFrom(...USERS), tier: fc.constantFrom(...TIERS), model: fc.constantFrom(...MODELS), today: fc.boolean(), version: fc.integer({ min: 0, max: 2 }), a: qty, b: qty, c: qty, userOnly: fc.boolean() })
  // userOnly (the per-user day rollup's rows, migration 072): a row of a user that the tenant's total does not count.
  .map((r): UsageRow => [false, r.tenant, r.user, r.tier, r.model, r.today, r.version, `${r.a}`, `${r.b}`, `${r.c}`, null, r.user !== "" && r.userOnly]);
const reservedRow = fc
  .record({ tenant: fc.constantFrom(...TENANTS), user: fc.constantFrom(...USERS), a: qty, c: qty, d: qty })
  .map((r): UsageRow => [true, r.tenant, r.user, "", "", true, 0, `${r.a}`, "0", `${r.c}`, `${r.d}`]);
const rowsArb = fc.array(fc.oneof({ arbitrary: ledgerRow, weight: 5 }, { arbitrary: reservedRow, weight: 1 }), { maxLength: 40 });

describe("quota refresh: the fold equals pricing every row", () => {
  it("costFactors: the numerator through the factors is usageCostNumerator, for any price and usage", () => {
    fc.assert(
      fc.property(bookArb, qty, qty, qty, (book, a, b, c) => {
        for (const v of book.versions) {
          for (const p of v.prices) {
            expect(costNumeratorOf(a, b, c, costFactors(p, book.minorUnitDigits))).toBe(usageCostNumerator({ inputTokens: a, outputTokens: b, requests: c }, p, book.minorUnitDigits));
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("every figure (tenant total, each user; day, month, reserved) and the unpriced list, for any book and rows", async () => {
    await fc.assert(
      fc.asyncProperty(bookArb, rowsArb, async (book, rows) => {
        const snapshot = await foldUsageRows(rows, book, book.versions, NOW);
        const want = perRow(rows, book);
        expect(figuresOf(snapshot.tenants)).toEqual(want.figures);
        expect(snapshot.unpriced).toEqual(want.unpriced);
        expect(snapshot.dayStart.toISOString()).toBe("2026-05-23T00:00:00.000Z");
        expect(snapshot.monthStart.toISOString()).toBe("2026-05-01T00:00:00.000Z");
      }),
      { numRuns: 400 },
    );
  });

  it("more rows than one synchronous chunk (the fold yields every 200 rows): the same figures", async () => {
    const book = parsePriceBook(
      JSON.stringify({ currency: "USD", minorUnitDigits: 2, versions: [{ effectiveFrom: "2026-01-01T00:00:00Z", prices: [{ tier: "*", model: "*", inputPerMillionTokens: "3.000000000001", outputPerMillionTokens: "15", perRequest: "0.002" }] }] }),
      "book",
    );
    const rows: UsageRow[] = Array.from({ length: 1234 }, (_, i): UsageRow => [false, "acme", `u${i % 500}`, "premium", i % 2 ? "llama" : "granite", i % 3 === 0, 1, `${i * 7}`, `${i}`, "1", null]);
    const snapshot = await foldUsageRows(rows, book, book.versions, NOW);
    expect(figuresOf(snapshot.tenants)).toEqual(perRow(rows, book).figures);
  });
});

describe("quota refresh SQL on real PostgreSQL: each hour's price version", () => {
  let db: BillingTestDb;
  beforeAll(async () => {
    db = await startBillingDb();
  }, 120_000);
  afterAll(async () => {
    await db?.stop();
  });

  it("width_bucket over the sorted effective dates = the count of effective dates <= hour (on, before, between, after them)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 0, max: 60 }), { minLength: 1, maxLength: 5 }).map((xs) => xs.sort((a, b) => a - b)),
        fc.array(fc.integer({ min: -5, max: 70 }), { minLength: 1, maxLength: 20 }),
        async (dates, hours) => {
          const at = (h: number) => new Date(Date.UTC(2026, 4, 1) + h * 3_600_000);
          const r = await db.pool.query(
            `select h, width_bucket(h, $1::timestamptz[]) as fast, (select count(*) from unnest($1::timestamptz[]) b where b <= h)::int as slow
               from unnest($2::timestamptz[]) h`,
            [dates.map(at), hours.map(at)],
          );
          for (const row of r.rows) expect(row.fast).toBe(row.slow);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("a price change mid-month prices usage before it at the old price and from it on at the new one (rollup and ledger paths)", async () => {
    const book = (changeAt: string) =>
      parsePriceBook(
        JSON.stringify({
          currency: "USD",
          minorUnitDigits: 2,
          versions: [
            { effectiveFrom: "2026-01-01T00:00:00Z", prices: [{ tier: "*", model: "*", inputPerMillionTokens: "1.00", outputPerMillionTokens: "0", perRequest: "0" }] },
            { effectiveFrom: changeAt, prices: [{ tier: "*", model: "*", inputPerMillionTokens: "2.00", outputPerMillionTokens: "0", perRequest: "0" }] },
          ],
        }),
        "book",
      );
    const million = { inputTokens: 1_000_000, outputTokens: 0, requests: 1 };
    // On a whole hour the view reads the hourly rollup; the hour of the change is the new price's.
    await ingestEvents(db.pool, [
      usageEvent({ id: "h-1", tenant: "t-hour", user: "u1", time: "2026-04-30T23:00:00Z", ...million }), // last month
      usageEvent({ id: "h0", tenant: "t-hour", user: "u1", time: "2026-05-15T11:59:59Z", ...million }), // 1.00
      usageEvent({ id: "h1", tenant: "t-hour", user: "u1", time: "2026-05-15T12:00:00Z", ...million }), // 2.00
      usageEvent({ id: "h2", tenant: "t-hour", user: "u1", time: "2026-05-20T01:00:00Z", ...million }), // 2.00, today
    ]);
    const hourly = await readUsageSnapshot(db.pool, book("2026-05-15T12:00:00Z"), { tenant: "t-hour", now: new Date("2026-05-20T12:00:00Z") });
    expect(hourly.tenants.get("t-hour")!.users.get("u1")).toMatchObject({ day: { tokens: 1_000_000n, costMinor: 200n }, month: { tokens: 3_000_000n, requests: 3n, costMinor: 500n } });
    // Off the hour the view reads the ledger rows themselves.
    await ingestEvents(db.pool, [
      usageEvent({ id: "m0", tenant: "t-minute", time: "2026-05-15T12:10:00Z", ...million }), // 1.00
      usageEvent({ id: "m1", tenant: "t-minute", time: "2026-05-15T12:30:00Z", ...million }), // 2.00
      usageEvent({ id: "m2", tenant: "t-minute", time: "2026-05-15T12:40:00Z", ...million }), // 2.00
    ]);
    const ledger = await readUsageSnapshot(db.pool, book("2026-05-15T12:30:00Z"), { tenant: "t-minute", now: new Date("2026-05-20T12:00:00Z") });
    expect(ledger.tenants.get("t-minute")!.total.month).toEqual({ tokens: 3_000_000n, requests: 3n, costMinor: 500n });
    expect(ledger.unpriced).toEqual([]);
  });
});
