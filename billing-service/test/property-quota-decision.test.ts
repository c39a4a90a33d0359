/**
 * The gateway's request-path decision (view.ts authorizeFrom, with firstExceeded) is built for
 * speed: it makes no QuotaState for the quotas that fit. It must decide exactly like the spending
 * check's decideCheck, which states every quota: same allowed, same refusing quota with the same
 * figures, for any usage, rules, tier defaults and caller, including a snapshot left over from the
 * previous day or month (which counts no ledger usage for the new period).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decideCheck, firstExceeded, quotaStates } from "../src/quota/decide";
import { applicableRules } from "../src/quota/defaults";
import type { QuotaKind, QuotaPeriod, QuotaRule } from "../src/quota/store";
import { amountOf, type Amounts, type Consumption, type UsageSnapshot } from "../src/quota/usage";
import { authorizeFrom } from "../src/quota/view";

const KINDS: QuotaKind[] = ["tokens", "requests", "cost"];
const PERIODS: QuotaPeriod[] = ["day", "month"];
const USERS = ["u0", "u1", "u2"];
const NOW = new Date("2026-05-23T12:34:56Z");

// Small numbers, so use + amount often lands exactly on a limit (the edge a wrong comparison misses).
const amounts = fc.record({ tokens: fc.bigInt(0n, 6n), requests: fc.bigInt(0n, 6n), costMinor: fc.bigInt(0n, 6n) });
const consumption = fc.record({ day: amounts, month: amounts, reserved: amounts });
const rule = (userKeys: string[]) =>
  fc.record({ userKey: fc.constantFrom(...userKeys), kind: fc.constantFrom(...KINDS), period: fc.constantFrom(...PERIODS), limit: fc.bigInt(0n, 30n) });

/** Rules as the quotas table holds them: one per (user, kind, period), in key order. */
const table = (rules: Array<Omit<QuotaRule, "source">>): QuotaRule[] => {
  const byKey = new Map(rules.map((r) => [`${r.userKey}\u0000${r.kind}\u0000${r.period}`, { ...r, source: "set" as const }]));
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
};

const world = fc.record({
  total: consumption,
  users: fc.dictionary(fc.constantFrom(...USERS), consumption),
  known: fc.boolean(), // the tenant has usage at all
  // The snapshot's periods: current, or left over from yesterday / last month.
  dayStart: fc.constantFrom("2026-05-23T00:00:00Z", "2026-05-22T00:00:00Z"),
  monthStart: fc.constantFrom("2026-05-01T00:00:00Z", "2026-04-01T00:00:00Z"),
  rules: fc.array(rule(["", ...USERS]), { maxLength: 8 }),
  defaults: fc.array(fc.record({ kind: fc.constantFrom(...KINDS), period: fc.constantFrom(...PERIODS), limit: fc.bigInt(0n, 30n) }), { maxLength: 4 }),
  user: fc.option(fc.constantFrom(...USERS, "u9"), { nil: undefined }),
  tier: fc.option(fc.constantFrom("free", "premium"), { nil: undefined }),
  probe: amounts,
});

type World = typeof world extends fc.Arbitrary<infer T> ? T : never;

const setUp = (w: World) => {
  const usage: UsageSnapshot = {
    dayStart: new Date(w.dayStart),
    monthStart: new Date(w.monthStart),
    tenants: w.known ? new Map([["acme", { total: w.total as Consumption, users: new Map(Object.entries(w.users) as Array<[string, Consumption]>) }]]) : new Map(),
    unpriced: [],
  };
  const seen = new Set<string>();
  const premium: QuotaRule[] = w.defaults
    .filter((d) => !seen.has(`${d.kind}/${d.period}`) && seen.add(`${d.kind}/${d.period}`))
    .map((d) => ({ userKey: "", ...d, source: "tier-default" as const }));
  const rules = applicableRules(table(w.rules), new Map([["premium", premium]]), w.user, w.tier);
  return { usage, rules };
};

describe("the request-path decision equals the spending check's", () => {
  it("firstExceeded is the index of the first quota whose stated use plus the amount passes its limit", () => {
    fc.assert(
      fc.property(world, (w) => {
        const { usage, rules } = setUp(w);
        const states = quotaStates(usage, "acme", rules, NOW);
        const reference = states.findIndex((s, i) => BigInt(s.used) + amountOf(w.probe as Amounts, rules[i].kind) > rules[i].limit);
        expect(firstExceeded(usage, "acme", rules, w.probe as Amounts, NOW)).toBe(reference);
      }),
      { numRuns: 500 },
    );
  });

  it("authorizeFrom answers decideCheck's allowed and exceeded for one more request", () => {
    let refused = 0;
    fc.assert(
      fc.property(world, (w) => {
        const { usage, rules } = setUp(w);
        const full = decideCheck(usage, rules, { tenant: "acme", user: w.user, tier: w.tier, tokens: 1n, requests: 1n, costMinor: 1n }, NOW, false);
        const fast = authorizeFrom(usage, rules, "acme", NOW);
        // And from the stated quotas alone, as decideCheck decided before firstExceeded existed.
        const states = quotaStates(usage, "acme", rules, NOW);
        const first = states.findIndex((s, i) => BigInt(s.used) + 1n > rules[i].limit);
        if (!full.allowed) refused += 1;
        expect(fast.allowed).toBe(full.allowed);
        expect(fast.exceeded).toEqual(full.exceeded);
        expect(fast.allowed).toBe(first < 0);
        expect(fast.exceeded).toEqual(first < 0 ? undefined : states[first]);
      }),
      { numRuns: 500 },
    );
    // The generated worlds refuse often enough for the comparison to mean something.
    expect(refused).toBeGreaterThan(50);
  });
});
