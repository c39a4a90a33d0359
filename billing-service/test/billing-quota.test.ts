/**
 * Quotas on a real PostgreSQL: concurrent checks never spend past the limit, tenant and user
 * quotas are spent together or not at all, and a new period starts from zero. The batching
 * checker (the HTTP path) must decide like the single statement, including across replicas.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createQuotaChecker } from "../src/quota/batcher";
import { estimateCostMinor } from "../src/quota/cost";
import type { QuotaCheckRequest } from "../src/quota/decide";
import { checkQuota, listQuotas, setQuota } from "../src/quota/store";
import { kitPool } from "../testkit/postgres";
import { startBillingDb, testPriceBook, type BillingTestDb } from "./support/billing-db";

let db: BillingTestDb;

beforeAll(async () => {
  db = await startBillingDb({ poolSize: 16 });
});
afterAll(async () => {
  await db?.stop();
});

describe("quota checks", () => {
  it("concurrent checks never overspend the last units", async () => {
    await setQuota(db.pool, { tenant: "acme", kind: "tokens", period: "month", limit: 100n });
    const now = new Date("2026-05-10T00:00:00Z");
    // 60 concurrent requests of 7 tokens against 100: exactly 14 fit (98 tokens).
    const results = await Promise.all(Array.from({ length: 60 }, () => checkQuota(db.pool, { tenant: "acme", tokens: 7n, costMinor: 0n, now })));
    expect(results.filter((r) => r.allowed)).toHaveLength(14);
    expect(results.filter((r) => r.spent)).toHaveLength(14);
    const [state] = await listQuotas(db.pool, "acme", now);
    expect(state).toMatchObject({ kind: "tokens", period: "month", limit: "100", used: "98", remaining: "2" });
    // The 2 remaining tokens can still be spent, once.
    const lastTwo = await Promise.all(Array.from({ length: 8 }, () => checkQuota(db.pool, { tenant: "acme", tokens: 2n, costMinor: 0n, now })));
    expect(lastTwo.filter((r) => r.allowed)).toHaveLength(1);
    expect((await listQuotas(db.pool, "acme", now))[0].used).toBe("100");
  });

  it("a new period starts from zero", async () => {
    const june = new Date("2026-06-01T00:00:00Z");
    const r = await checkQuota(db.pool, { tenant: "acme", tokens: 100n, costMinor: 0n, now: june });
    expect(r.allowed).toBe(true);
    expect(r.quotas[0]).toMatchObject({ used: "100", periodStart: "2026-06-01T00:00:00.000Z" });
  });

  it("spends tenant and user quotas together or not at all", async () => {
    const now = new Date("2026-05-10T12:00:00Z");
    await setQuota(db.pool, { tenant: "globex", kind: "tokens", period: "day", limit: 1000n });
    await setQuota(db.pool, { tenant: "globex", user: "bob", kind: "tokens", period: "day", limit: 300n });
    await setQuota(db.pool, { tenant: "globex", kind: "cost", period: "month", limit: 50n });
    const bob = await checkQuota(db.pool, { tenant: "globex", user: "bob", tokens: 300n, costMinor: 10n, now });
    expect(bob.allowed).toBe(true);
    // Bob is out of tokens: denied, and the tenant-wide quotas are untouched by the denial.
    const denied = await checkQuota(db.pool, { tenant: "globex", user: "bob", tokens: 1n, costMinor: 1n, now });
    expect(denied.allowed).toBe(false);
    expect(denied.spent).toBe(false);
    const states = await listQuotas(db.pool, "globex", now);
    expect(states.map((s) => [s.user, s.kind, s.period, s.used])).toEqual([
      [null, "cost", "month", "10"],
      [null, "tokens", "day", "300"],
      ["bob", "tokens", "day", "300"],
    ]);
    // Another user only meets the tenant quotas; the cost budget (50 minor units) is what stops them.
    expect((await checkQuota(db.pool, { tenant: "globex", user: "carol", tokens: 10n, costMinor: 40n, now })).allowed).toBe(true);
    expect((await checkQuota(db.pool, { tenant: "globex", user: "carol", tokens: 10n, costMinor: 1n, now })).allowed).toBe(false);
    // A dry run answers without spending.
    const dry = await checkQuota(db.pool, { tenant: "globex", user: "carol", tokens: 10n, costMinor: 0n, now, dryRun: true });
    expect(dry).toMatchObject({ allowed: true, spent: false });
    expect((await listQuotas(db.pool, "globex", now)).find((s) => s.kind === "tokens" && s.user === null)?.used).toBe("310");
  });

  it("a tenant without quotas is allowed", async () => {
    expect(await checkQuota(db.pool, { tenant: "nobody", tokens: 10n ** 12n, costMinor: 0n })).toEqual({ allowed: true, spent: false, quotas: [] });
  });

  it("the cost of a request is priced with the book in force and rounded up", () => {
    const book = testPriceBook();
    // After the change: 1,000 input x 4.00/M = 0.4 cents, 1,000 output x 12.50/M = 1.25 cents, 1 req 0.3 cents -> 1.95 -> 2
    expect(estimateCostMinor(book, new Date("2026-05-20T00:00:00Z"), { tier: "premium", model: "llama", inputTokens: 1000n, outputTokens: 1000n, requests: 1n })).toBe(2n);
    // Before: 0.25 + 1.0 + 0.2 = 1.45 -> 2; exactly 2 cents stays 2
    expect(estimateCostMinor(book, new Date("2026-05-01T00:00:00Z"), { tier: "premium", model: "llama", inputTokens: 1000n, outputTokens: 1000n, requests: 1n })).toBe(2n);
    expect(estimateCostMinor(book, new Date("2026-05-01T00:00:00Z"), { tier: "premium", model: "llama", inputTokens: 0n, outputTokens: 0n, requests: 10n })).toBe(2n);
  });
});

describe("batching quota checker", () => {
  const openPool = () => kitPool(db.url, 4).pool;

  it("concurrent checks through one queue never overspend the last units", async () => {
    await setQuota(db.pool, { tenant: "batch-one", kind: "tokens", period: "month", limit: 100n });
    const now = new Date("2026-05-10T00:00:00Z");
    const checker = createQuotaChecker(db.pool);
    const results = await Promise.all(Array.from({ length: 60 }, () => checker.check({ tenant: "batch-one", tokens: 7n, costMinor: 0n, now })));
    expect(results.filter((r) => r.allowed)).toHaveLength(14);
    expect(results.filter((r) => r.spent)).toHaveLength(14);
    // Arrival order is decision order: the first 14 fit, the rest are denied.
    expect(results.map((r) => r.allowed)).toEqual(Array.from({ length: 60 }, (_, i) => i < 14));
    expect((await listQuotas(db.pool, "batch-one", now))[0]).toMatchObject({ used: "98", remaining: "2" });
    const lastTwo = await Promise.all(Array.from({ length: 8 }, () => checker.check({ tenant: "batch-one", tokens: 2n, costMinor: 0n, now })));
    expect(lastTwo.filter((r) => r.allowed)).toHaveLength(1);
    expect((await listQuotas(db.pool, "batch-one", now))[0].used).toBe("100");
  });

  it("two replicas (own queue, own pool) still never overspend: the row locks decide", async () => {
    await setQuota(db.pool, { tenant: "batch-two", kind: "tokens", period: "month", limit: 100n });
    await setQuota(db.pool, { tenant: "batch-two", user: "dan", kind: "tokens", period: "month", limit: 1000n });
    const now = new Date("2026-05-10T00:00:00Z");
    const pools = [openPool(), openPool()];
    try {
      // Small batches so the replicas' transactions interleave many times.
      const [a, b] = pools.map((pool) => createQuotaChecker(pool, { maxBatch: 3 }));
      const results = await Promise.all(
        Array.from({ length: 120 }, (_, i) => (i % 2 === 0 ? a : b).check({ tenant: "batch-two", user: "dan", tokens: 7n, costMinor: 0n, now })),
      );
      expect(results.filter((r) => r.allowed)).toHaveLength(14);
      const states = await listQuotas(db.pool, "batch-two", now);
      expect(states.map((s) => [s.user, s.used])).toEqual([
        [null, "98"],
        ["dan", "98"],
      ]);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it("decides a batch like the single statement decides the same checks one by one", async () => {
    const now = new Date("2026-05-10T12:00:00Z");
    const nextDay = new Date("2026-05-11T00:30:00Z");
    for (const tenant of ["seq", "bat"]) {
      await setQuota(db.pool, { tenant, kind: "tokens", period: "day", limit: 50n });
      await setQuota(db.pool, { tenant, kind: "cost", period: "month", limit: 30n });
      await setQuota(db.pool, { tenant, user: "eve", kind: "tokens", period: "day", limit: 20n });
    }
    const checks: Omit<QuotaCheckRequest, "tenant">[] = [
      { user: "eve", tokens: 15n, costMinor: 5n, now },
      { user: "eve", tokens: 10n, costMinor: 1n, now }, // eve's 20 would be exceeded: nothing spent
      { user: "eve", tokens: 5n, costMinor: 1n, now, dryRun: true },
      { user: "frank", tokens: 30n, costMinor: 20n, now },
      { user: "frank", tokens: 1n, costMinor: 6n, now }, // cost 25 + 6 > 30
      { tokens: 5n, costMinor: 4n, now }, // exactly the 50 tokens of the day
      { user: "eve", tokens: 20n, costMinor: 0n, now: nextDay }, // new day: the day quotas restart
      { user: "eve", tokens: 1n, costMinor: 0n, now: nextDay },
    ];
    const sequential = [];
    for (const c of checks) sequential.push(await checkQuota(db.pool, { ...c, tenant: "seq" }));
    const checker = createQuotaChecker(db.pool);
    const batched = await Promise.all(checks.map((c) => checker.check({ ...c, tenant: "bat" })));
    expect(batched.map((r) => r.allowed)).toEqual([true, false, true, true, false, true, true, false]);
    expect(batched).toEqual(sequential);
    const strip = (states: Awaited<ReturnType<typeof listQuotas>>) => states.map(({ user, kind, period, used, periodStart }) => ({ user, kind, period, used, periodStart }));
    expect(strip(await listQuotas(db.pool, "bat", nextDay))).toEqual(strip(await listQuotas(db.pool, "seq", nextDay)));
  });

  it("a tenant without quotas is allowed, and a database failure rejects the check (never fails open)", async () => {
    expect(await createQuotaChecker(db.pool).check({ tenant: "nobody", tokens: 10n ** 12n, costMinor: 0n })).toEqual({ allowed: true, spent: false, quotas: [] });
    const closed = openPool();
    await closed.end();
    await expect(createQuotaChecker(closed).check({ tenant: "batch-one", tokens: 1n, costMinor: 0n })).rejects.toThrow();
  });
});
