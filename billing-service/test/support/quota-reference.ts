/**
 * The quota refresh's reference (test/property-quota-refresh.test.ts, test/quota-user-daily.test.ts):
 * every ledger row priced by the one pricing rule (usageCostNumerator), the exact numerators of
 * each figure added, each sum rounded ONCE by allocate like the invoice total. Written the
 * straightforward way, apart from quota/usage.ts's fold, so a fault in one is not in both.
 */
import { COST_DENOMINATOR, priceFor, usageCostNumerator } from "../../src/pricebook/cost";
import { allocate } from "../../src/pricebook/money";
import type { PriceBook } from "../../src/pricebook/pricebook";
import type { Amounts, Consumption, UsageRow } from "../../src/quota/usage";

/** The straightforward path: every row priced by usageCostNumerator, each figure's exact sum rounded once by allocate. */
export const perRow = (rows: readonly UsageRow[], book: PriceBook) => {
  const figures = new Map<string, { day: Amounts; month: Amounts; reserved: Amounts; dayN: bigint; monthN: bigint }>();
  const unpriced = new Set<string>();
  const figure = (key: string) => {
    let f = figures.get(key);
    if (!f) {
      const z = (): Amounts => ({ tokens: 0n, requests: 0n, costMinor: 0n });
      f = { day: z(), month: z(), reserved: z(), dayN: 0n, monthN: 0n };
      figures.set(key, f);
    }
    return f;
  };
  for (const [reserved, tenant, user, tier, model, today, version, a, b, c, d, userOnly] of rows) {
    // A user's row counts for the tenant's total too, unless it is the user's alone (userOnly:
    // the tenant is in the figures, with nothing of this row).
    const total = figure(`${tenant}/*`);
    const targets = [...(userOnly === true ? [] : [total]), ...(user === "" ? [] : [figure(`${tenant}/${user}`)])];
    if (reserved) {
      for (const f of targets) {
        f.reserved.tokens += BigInt(a);
        f.reserved.requests += BigInt(c);
        f.reserved.costMinor += BigInt(d!);
      }
      continue;
    }
    const v = book.versions[version - 1];
    const p = v && priceFor(v, { tenant, tier, model });
    if (!p) unpriced.add(JSON.stringify([tenant, tier, model]));
    const n = p ? usageCostNumerator({ inputTokens: BigInt(a), outputTokens: BigInt(b), requests: BigInt(c) }, p, book.minorUnitDigits) : 0n;
    for (const f of targets) {
      for (const [period, add] of [
        [f.month, true],
        [f.day, today],
      ] as const) {
        if (!add) continue;
        period.tokens += BigInt(a) + BigInt(b);
        period.requests += BigInt(c);
      }
      f.monthN += n;
      if (today) f.dayN += n;
    }
  }
  const round = (n: bigint) => allocate([n], COST_DENOMINATOR).totalMinor;
  return {
    figures: new Map(
      [...figures].map(([k, f]) => [k, { day: { ...f.day, costMinor: round(f.dayN) }, month: { ...f.month, costMinor: round(f.monthN) }, reserved: f.reserved }] as const),
    ),
    unpriced: [...unpriced].sort(),
  };
};

export const figuresOf = (tenants: Map<string, { total: Consumption; users: Map<string, Consumption> }>) => {
  const out = new Map<string, Consumption>();
  for (const [tenant, t] of tenants) {
    out.set(`${tenant}/*`, t.total);
    for (const [user, c] of t.users) out.set(`${tenant}/${user}`, c);
  }
  return out;
};
