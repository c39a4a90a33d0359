/**
 * What quotas have consumed: the billed usage of the current UTC day and month (the ledger,
 * through its rollup usage_user_daily per tenant, user and price piece of a UTC day, migration
 * 073; events, access-log and collector rows alike) plus the open
 * reservations of spending checks, read in ONE statement so a reservation settled by its real
 * usage (migration 30) is seen either as the reservation or as the usage, never both.
 *
 * Cost is priced by the one pricing rule (pricebook/cost.ts: priceFor, exact numerators) at the
 * price versions a draft invoice of the period uses, and rounded once like the invoice total
 * (invoices/pricing.ts totalMinorOfNumerator), so a tenant-wide month cost quota shows the
 * month-to-date draft total to the minor unit.
 */
import type { Pool, PoolClient } from "pg";
import { totalMinorOfNumerator } from "../invoices/pricing";
import { costFactors, costNumeratorOf, priceFor, type CostFactors } from "../pricebook/cost";
import { versionsInRange, type PriceBook, type PriceVersion } from "../pricebook/pricebook";
import type { QuotaKind, QuotaPeriod } from "./store";

export interface Amounts {
  tokens: bigint;
  requests: bigint;
  costMinor: bigint;
}

export interface Consumption {
  day: Amounts;
  month: Amounts;
  reserved: Amounts;
}

export interface TenantUsage {
  /** All usage of the tenant (any user, or none). */
  total: Consumption;
  users: Map<string, Consumption>;
}

export interface UsageSnapshot {
  readonly dayStart: Date;
  readonly monthStart: Date;
  readonly tenants: Map<string, TenantUsage>;
  /** (tenant, tier, model) with usage the price book has no price for: not in any cost figure. */
  readonly unpriced: string[];
}

type Queryable = Pick<Pool | PoolClient, "query">;

export const zero = (): Amounts => ({ tokens: 0n, requests: 0n, costMinor: 0n });
const emptyConsumption = (): Consumption => ({ day: zero(), month: zero(), reserved: zero() });

/** Start of the UTC day or month holding `at`. */
export const periodStartOf = (period: QuotaPeriod, at: Date): Date =>
  new Date(period === "day" ? Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()) : Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));

export const periodEndOf = (period: QuotaPeriod, at: Date): Date =>
  new Date(period === "day" ? Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() + 1) : Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));

export const amountOf = (a: Amounts, kind: QuotaKind): bigint => (kind === "tokens" ? a.tokens : kind === "requests" ? a.requests : a.costMinor);

/** Ledger usage of the period plus open reservations; a snapshot of an earlier period reads 0 ledger usage. */
export const consumedOf = (snapshot: UsageSnapshot, c: Consumption | undefined, kind: QuotaKind, period: QuotaPeriod, now: Date): { used: bigint; reserved: bigint } => {
  if (!c) return { used: 0n, reserved: 0n };
  const current = periodStartOf(period, now).getTime() === (period === "day" ? snapshot.dayStart : snapshot.monthStart).getTime();
  const ledger = current ? amountOf(period === "day" ? c.day : c.month, kind) : 0n;
  const reserved = amountOf(c.reserved, kind);
  return { used: ledger + reserved, reserved };
};

const addAmounts = (to: Amounts, a: Amounts): void => {
  to.tokens += a.tokens;
  to.requests += a.requests;
  to.costMinor += a.costMinor;
};

/** Adds a new reservation to the snapshot (the user's figures and the tenant's total). */
export const addReserved = (snapshot: UsageSnapshot, tenant: string, user: string, a: Amounts): void => {
  const t = snapshot.tenants.get(tenant) ?? { total: emptyConsumption(), users: new Map<string, Consumption>() };
  snapshot.tenants.set(tenant, t);
  const targets = [t.total];
  if (user !== "") {
    const u = t.users.get(user) ?? emptyConsumption();
    t.users.set(user, u);
    targets.push(u);
  }
  for (const c of targets) addAmounts(c.reserved, a);
};

// One row per (tenant, user, tier, model, today, price version) of ledger usage, and per (tenant,
// user) of open reservations. Read as arrays (UsageRow) with as few strings per row as the fold
// needs: flags are booleans, the price version its index in $3 (1-based; 0 = before the book's
// first version), and a ledger row's cost column null. width_bucket(x, $3) is the number of
// effective dates <= x ($3 is sorted, as the book's versions are): a third of the statement's
// time of the per-row count over unnest($3) it replaces. The last column says whether the row
// counts for its user only (true) or for the tenant's total and, with a user, the user (false).
//
// Migration 073: usage_user_daily holds every ledger row (user_key '' without a user) per price
// piece of a UTC day: a piece starts at the day's start or at a price change point
// (price_change_points) and no change point lies inside it, so one version prices all of it,
// whatever second the versions start at. The refresh reads it alone, a few rows per (tenant,
// user, tier, model, day) however many ledger rows the day has (review R1).
const PIECES = (when: string) => `
select false as reserved, tenant, user_key, tier, model, (day >= $2) as today,
       width_bucket(day, $3::timestamptz[]) as version,
       sum(input_tokens)::text as a, sum(output_tokens)::text as b, sum(requests)::text as c, null::text as d, false as user_only
  from usage_user_daily_current
 where day >= $1 and day < $5 and ($4::text is null or tenant = $4)${when}
 group by tenant, user_key, tier, model, 6, 7`;
const RESERVATIONS = `
select true, tenant, user_key, '', '', true, 0, sum(tokens)::text, '0', sum(requests)::text, sum(cost_minor)::text, false
  from quota_reservations
 where settled_at is null and expires_at > $6 and ($4::text is null or tenant = $4)
 group by tenant, user_key`;

// The month's versions starting off midnight UTC ($7) are cut points of the pieces only once serve
// has stored them (quota/price-points.ts; a replica started with a book another has not stored yet,
// or the CLI with its own book): until then the ledger rows themselves, in the same statement and
// snapshot (the branch not taken is not executed: a one-time filter).
const STORED = "(select count(*) from price_change_points where at = any($7::timestamptz[])) = cardinality($7::timestamptz[])";
const LEDGER_ROWS = `
select false, tenant, coalesce(user_id, ''), tier, model, (window_start >= $2), width_bucket(window_start, $3::timestamptz[]),
       sum(input_tokens)::text, sum(output_tokens)::text, sum(requests)::text, null::text, false
  from usage_ledger
 where window_start >= $1 and window_start < $5 and ($4::text is null or tenant = $4) and not ${STORED}
 group by tenant, coalesce(user_id, ''), tier, model, 6, 7`;

const DAY_MS = 86_400_000;

/**
 * One row of the refresh's SQL, as an array (pg rowMode "array": no object with named fields per row).
 * Ledger rows: a, b, c = input tokens, output tokens, requests (sums as text), version = index
 * into the month's price versions, 1-based (0: none). Reserved rows: a = tokens, c = requests,
 * d = cost in minor units. userOnly: the row counts for its user and not for the tenant's total
 * (absent: false).
 */
export type UsageRow = [
  reserved: boolean,
  tenant: string,
  userKey: string,
  tier: string,
  model: string,
  today: boolean,
  version: number,
  a: string,
  b: string,
  c: string,
  d: string | null,
  userOnly?: boolean,
];

/** The month's price change points off midnight UTC: the cut points its pieces need (migration 073). */
export const cutPointsOf = (versions: readonly PriceVersion[], monthStart: Date): Date[] =>
  versions.map((v) => v.effectiveFrom).filter((t) => t.getTime() > monthStart.getTime() && t.getTime() % DAY_MS !== 0);

/** The refresh's statement and parameters for the month holding `now` (one tenant, or all). */
export const usageQuery = (versions: readonly PriceVersion[], options: { tenant?: string; now: Date }): { text: string; values: unknown[] } => {
  const { now } = options;
  const monthStart = periodStartOf("month", now);
  const values: unknown[] = [monthStart, periodStartOf("day", now), versions.map((v) => v.effectiveFrom), options.tenant ?? null, periodEndOf("month", now), now];
  const cuts = cutPointsOf(versions, monthStart);
  if (cuts.length === 0) return { text: PIECES("") + "\nunion all" + RESERVATIONS, values };
  values.push(cuts);
  return { text: [PIECES(` and ${STORED}`), LEDGER_ROWS, RESERVATIONS].join("\nunion all"), values };
};

/** Reads the usage of the day and month holding `now` (one tenant, or all). */
export const readUsageSnapshot = async (pool: Queryable, book: PriceBook, options: { tenant?: string; now: Date }): Promise<UsageSnapshot> => {
  const { now } = options;
  const versions = versionsInRange(book, periodStartOf("month", now), periodEndOf("month", now));
  const rows = (
    await pool.query<UsageRow>({
      // Not a named (prepared) statement: PostgreSQL's generic plan for it after five runs costs
      // more than planning each time (bench/refresh-cost.ts: 6.9 vs 4.6 ms backend CPU a call).
      ...usageQuery(versions, options),
      rowMode: "array",
    })
  ).rows;
  return foldUsageRows(rows, book, versions, now);
};

/**
 * What one figure (a tenant's total, or one user) has added up so far: today's ledger usage and
 * the rest of the month's apart (a row adds to one of them; month = both, at the end), with exact
 * cost numerators; reservations as they are.
 */
interface Figure {
  dayTokens: bigint;
  dayRequests: bigint;
  dayCost: bigint;
  restTokens: bigint;
  restRequests: bigint;
  restCost: bigint;
  readonly reserved: Amounts;
}

interface TenantFold {
  readonly total: Figure;
  readonly users: Map<string, Figure>;
  /** version, tier, model -> the factors of the tenant's price (null: no price). */
  readonly prices: Map<string, CostFactors | null>;
}

const newFigure = (): Figure => ({ dayTokens: 0n, dayRequests: 0n, dayCost: 0n, restTokens: 0n, restRequests: 0n, restCost: 0n, reserved: zero() });

const addLedger = (x: Figure, today: boolean, tokens: bigint, requests: bigint, numerator: bigint): void => {
  if (today) {
    x.dayTokens += tokens;
    x.dayRequests += requests;
    x.dayCost += numerator;
  } else {
    x.restTokens += tokens;
    x.restRequests += requests;
    x.restCost += numerator;
  }
};

/** The figure's Consumption: each cost sum rounded once, like the invoice's total. */
const consumptionOf = (x: Figure): Consumption => {
  const monthCost = x.dayCost + x.restCost;
  return {
    day: { tokens: x.dayTokens, requests: x.dayRequests, costMinor: totalMinorOfNumerator(x.dayCost) },
    month: { tokens: x.dayTokens + x.restTokens, requests: x.dayRequests + x.restRequests, costMinor: totalMinorOfNumerator(monthCost) },
    reserved: x.reserved,
  };
};

/**
 * The snapshot of the rows USAGE_SQL returned (`versions`: the price versions of the month, as
 * passed to it). Cost: each ledger row is priced by the one pricing rule (pricebook/cost.ts:
 * priceFor, and the exact numerator through costFactors, which equals usageCostNumerator), the
 * exact numerators of each figure (tenant or user, day or month) are added, and each sum is rounded
 * once at the end like the invoice's total (totalMinorOfNumerator), so a tenant-wide month cost
 * quota shows the month-to-date draft total to the minor unit. test/property-quota-refresh.test.ts
 * holds the result equal to pricing every row with usageCostNumerator.
 *
 * This runs every second on every replica (the request path's view) with a row per (user, model):
 * per row it parses three sums, prices once and adds to two figures; each (tenant, version, tier,
 * model) price is looked up once per refresh; no per-row arrays, keys or objects beyond the BigInts
 * (bench/refresh-cost.ts measures CPU and bytes allocated per refresh).
 */
export const foldUsageRows = async (rows: readonly UsageRow[], book: PriceBook, versions: readonly PriceVersion[], now: Date): Promise<UsageSnapshot> => {
  const folds = new Map<string, TenantFold>();
  const unpriced = new Set<string>();
  for (let i = 0; i < rows.length; i++) {
    // Give the event loop back every 200 rows: the request-path check (view.ts) answers from the
    // previous snapshot meanwhile, instead of waiting behind one long synchronous pass.
    if (i % 200 === 199) await new Promise((resolve) => setImmediate(resolve));
    const r = rows[i];
    const tenant = r[1];
    const userKey = r[2];
    let t = folds.get(tenant);
    if (t === undefined) {
      t = { total: newFigure(), users: new Map(), prices: new Map() };
      folds.set(tenant, t);
    }
    let u: Figure | undefined;
    if (userKey !== "") {
      u = t.users.get(userKey);
      if (u === undefined) {
        u = newFigure();
        t.users.set(userKey, u);
      }
    }
    const a = BigInt(r[7]);
    const c = BigInt(r[9]);
    if (r[0]) {
      const amounts = { tokens: a, requests: c, costMinor: BigInt(r[10] ?? "0") };
      addAmounts(t.total.reserved, amounts);
      if (u !== undefined) addAmounts(u.reserved, amounts);
      continue;
    }
    const tier = r[3];
    const model = r[4];
    const version = r[6];
    const b = BigInt(r[8]);
    const priceKey = `${version}\u0000${tier}\u0000${model}`;
    let factors = t.prices.get(priceKey);
    if (factors === undefined) {
      const v = versions[version - 1];
      const price = v && priceFor(v, { tenant, tier, model });
      factors = price ? costFactors(price, book.minorUnitDigits) : null;
      t.prices.set(priceKey, factors);
      if (factors === null) unpriced.add(JSON.stringify([tenant, tier, model]));
    }
    // Unpriced usage counts in tokens and requests, in no cost figure.
    const numerator = factors === null ? 0n : costNumeratorOf(a, b, c, factors);
    const tokens = a + b;
    const today = r[5];
    if (r[11] !== true) addLedger(t.total, today, tokens, c, numerator);
    if (u !== undefined) addLedger(u, today, tokens, c, numerator);
  }
  const tenants = new Map<string, TenantUsage>();
  folds.forEach((t, name) => {
    const users = new Map<string, Consumption>();
    t.users.forEach((u, key) => users.set(key, consumptionOf(u)));
    tenants.set(name, { total: consumptionOf(t.total), users });
  });
  return { dayStart: periodStartOf("day", now), monthStart: periodStartOf("month", now), tenants, unpriced: [...unpriced].sort() };
};
