/**
 * What quotas have consumed: the billed usage of the current UTC day and month (the ledger,
 * through its hourly rollup usage_hourly: events and collector rows alike) plus the open
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
import { priceFor, usageCostNumerator } from "../pricebook/cost";
import { versionsInRange, type Price, type PriceBook } from "../pricebook/pricebook";
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
  for (const c of targets) {
    c.reserved.tokens += a.tokens;
    c.reserved.requests += a.requests;
    c.reserved.costMinor += a.costMinor;
  }
};

const USAGE_SQL = (source: string) => `
select 'ledger' as src, tenant, user_key, tier, model, (hour >= $2) as today,
       coalesce(($4::text[])[(select count(*) from unnest($3::timestamptz[]) b where b <= hour)::int], '') as version,
       sum(input_tokens)::text as a, sum(output_tokens)::text as b, sum(requests)::text as c, '0' as d
  from ${source}
 where hour >= $1 and hour < $6 and ($5::text is null or tenant = $5)
 group by tenant, user_key, tier, model, 6, 7
union all
select 'reserved', tenant, user_key, '', '', true, '', sum(tokens)::text, '0', sum(requests)::text, sum(cost_minor)::text
  from quota_reservations
 where settled_at is null and expires_at > $7 and ($5::text is null or tenant = $5)
 group by tenant, user_key`;

// The rollup buckets usage by hour; when every price change of the month is on a whole hour, an
// hour's bucket gets the same price version as each of its ledger rows (what the invoice uses).
const HOURLY = "usage_hourly_current";
// Otherwise the ledger itself (slower: one row per event / collector window).
const LEDGER = "(select tenant, coalesce(user_id, '') as user_key, tier, model, window_start as hour, input_tokens, output_tokens, requests from usage_ledger) l";

/** Reads the usage of the day and month holding `now` (one tenant, or all). */
export const readUsageSnapshot = async (pool: Queryable, book: PriceBook, options: { tenant?: string; now: Date }): Promise<UsageSnapshot> => {
  const { now } = options;
  const dayStart = periodStartOf("day", now);
  const monthStart = periodStartOf("month", now);
  const monthEnd = periodEndOf("month", now);
  const versions = versionsInRange(book, monthStart, monthEnd);
  const hourAligned = versions.every((v) => v.effectiveFrom.getTime() <= monthStart.getTime() || v.effectiveFrom.getTime() % 3_600_000 === 0);
  const rows = (
    await pool.query(USAGE_SQL(hourAligned ? HOURLY : LEDGER), [
      monthStart,
      dayStart,
      versions.map((v) => v.effectiveFrom),
      versions.map((v) => v.id),
      options.tenant ?? null,
      monthEnd,
      now,
    ])
  ).rows;

  const tenants = new Map<string, TenantUsage>();
  // Exact cost numerators per figure (tenant or user, day or month), rounded once at the end like
  // the invoice's total (totalMinorOfNumerator). This runs every second on the request path's
  // replica, so it adds numerators instead of building invoice lines: with 1,000 users that was
  // 140-480 ms of synchronous work per refresh (the event loop blocked), now a few ms.
  const numerators = new Map<Consumption, { day: bigint; month: bigint }>();
  const prices = new Map<string, Price | null>();
  const unpriced = new Set<string>();
  const byId = new Map(versions.map((v) => [v.id, v]));
  const tenantOf = (name: string): TenantUsage => {
    const t = tenants.get(name) ?? { total: emptyConsumption(), users: new Map<string, Consumption>() };
    tenants.set(name, t);
    return t;
  };
  for (const [i, r] of rows.entries()) {
    // Give the event loop back every 200 rows (about a millisecond of work on this 2-core VM when
    // quiet): the request-path check (view.ts) answers from the previous snapshot meanwhile,
    // instead of waiting behind one long synchronous pass (a request arriving then would wait for
    // the whole chunk: chunks of 1,000 rows still showed in the bench's tail).
    if (i % 200 === 199) await new Promise((resolve) => setImmediate(resolve));
    const t = tenantOf(r.tenant);
    const targets = [t.total];
    if (r.user_key !== "") {
      const u = t.users.get(r.user_key) ?? emptyConsumption();
      t.users.set(r.user_key, u);
      targets.push(u);
    }
    const a = BigInt(r.a);
    const b = BigInt(r.b);
    const c = BigInt(r.c);
    if (r.src === "reserved") {
      for (const x of targets) {
        x.reserved.tokens += a;
        x.reserved.requests += c;
        x.reserved.costMinor += BigInt(r.d);
      }
      continue;
    }
    for (const x of targets) {
      for (const p of r.today ? [x.day, x.month] : [x.month]) {
        p.tokens += a + b;
        p.requests += c;
      }
    }
    const priceKey = `${r.tenant}\u0000${r.tier}\u0000${r.model}\u0000${r.version}`;
    let price = prices.get(priceKey);
    if (price === undefined) {
      const version = byId.get(r.version);
      price = (version && priceFor(version, { tenant: r.tenant, tier: r.tier, model: r.model })) || null;
      prices.set(priceKey, price);
    }
    if (price === null) {
      unpriced.add(JSON.stringify([r.tenant, r.tier, r.model]));
      continue;
    }
    const n = usageCostNumerator({ inputTokens: a, outputTokens: b, requests: c }, price, book.minorUnitDigits);
    for (const x of targets) {
      const acc = numerators.get(x) ?? { day: 0n, month: 0n };
      numerators.set(x, acc);
      acc.month += n;
      if (r.today) acc.day += n;
    }
  }
  for (const [x, n] of numerators) {
    x.day.costMinor = totalMinorOfNumerator(n.day);
    x.month.costMinor = totalMinorOfNumerator(n.month);
  }
  return { dayStart, monthStart, tenants, unpriced: [...unpriced].sort() };
};
