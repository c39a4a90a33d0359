/**
 * Cost of the ledger per tenant and billing period, priced by the invoice's own code
 * (`priceGroups` of invoices/pricing.ts: effective-dated versions, token and per-request
 * components, one rounding per invoice), so what /metrics exports equals the draft invoice of the
 * same usage to the minor unit.
 *
 * It reads the hourly rollup (one small aggregate per scrape) and, for the few hours in which a
 * price version starts off the hour, the ledger rows of those hours, so every row is priced with
 * the version in force at its own window start, exactly like `createInvoice`.
 */
import type { Pool } from "pg";
import { splitHours } from "../invoices/draft-groups";
import { periodOf } from "../invoices/periods";
import { amountOnlyGroup, priceGroups, UnpricedUsageError, type Component, type UsageGroup } from "../invoices/pricing";
import type { PriceBook } from "../pricebook/pricebook";

export interface CostLine {
  readonly tier: string;
  readonly model: string;
  readonly component: Component;
  readonly amountMinor: bigint;
}

export interface PeriodCost {
  readonly tenant: string;
  /** Billing period label, YYYY-MM (UTC). */
  readonly period: string;
  readonly totalMinor: bigint;
  /** Invoice lines summed over price versions, one per (tier, model, component). */
  readonly lines: readonly CostLine[];
}

export interface LedgerCosts {
  /** Every (tenant, period) with priced usage; a period the invoice could not price is left out. */
  readonly periods: readonly PeriodCost[];
  /** (tenant, period) pairs left out because some usage has no price (the invoice refuses them too). */
  readonly unpriced: readonly { tenant: string; period: string; reason: string }[];
}

/**
 * Priced cost of all usage in the ledger (or of the periods from `sincePeriodStart` on), per
 * tenant and period, grouped exactly as an invoice groups it: (tier, model, price version).
 */
export const ledgerCosts = async (pool: Pool, book: PriceBook, sincePeriodStart?: Date): Promise<LedgerCosts> => {
  const starts = book.versions.map((v) => v.effectiveFrom);
  const split = splitHours(book);
  const since = sincePeriodStart ?? new Date(0);
  const q = await pool.query<{ tenant: string; tier: string; model: string; period: string; version: number; i: string; o: string; r: string }>(
    `select tenant, tier, model, to_char(ts at time zone 'UTC', 'YYYY-MM') as period,
            (select count(*) from unnest($1::timestamptz[]) b where b <= ts)::int as version,
            sum(i)::text as i, sum(o)::text as o, sum(r)::text as r
       from (
         select tenant, tier, model, hour as ts, input_tokens as i, output_tokens as o, requests as r
           from usage_hourly_current where hour >= $3 and not (hour = any($2::timestamptz[]))
         union all
         select tenant, tier, model, window_start, input_tokens, output_tokens, requests
           from usage_ledger where window_start >= $3 and date_trunc('hour', window_start, 'UTC') = any($2::timestamptz[])
       ) u
      group by 1, 2, 3, 4, 5
      order by 1, 4, 2, 3, 5`,
    [starts, split, since],
  );
  const byTenantPeriod = new Map<string, { tenant: string; period: string; groups: UsageGroup[]; beforeFirstVersion: boolean }>();
  for (const row of q.rows) {
    const key = JSON.stringify([row.tenant, row.period]);
    const entry = byTenantPeriod.get(key) ?? { tenant: row.tenant, period: row.period, groups: [], beforeFirstVersion: false };
    byTenantPeriod.set(key, entry);
    if (row.version === 0) {
      entry.beforeFirstVersion = true;
      continue;
    }
    entry.groups.push(
      amountOnlyGroup({
        tier: row.tier,
        model: row.model,
        priceVersionId: book.versions[row.version - 1].id,
        inputTokens: BigInt(row.i),
        outputTokens: BigInt(row.o),
        requests: BigInt(row.r),
      }),
    );
  }
  const periods: PeriodCost[] = [];
  const unpriced: LedgerCosts["unpriced"][number][] = [];
  for (const { tenant, period, groups, beforeFirstVersion } of byTenantPeriod.values()) {
    if (beforeFirstVersion) {
      unpriced.push({ tenant, period, reason: "usage before the first price book version" });
      continue;
    }
    // Merge groups that differ only by the hour split (same tier, model and version).
    const merged = new Map<string, UsageGroup>();
    for (const g of groups) {
      const key = JSON.stringify([g.tier, g.model, g.priceVersionId]);
      const had = merged.get(key);
      merged.set(
        key,
        had
          ? { ...had, inputTokens: had.inputTokens + g.inputTokens, outputTokens: had.outputTokens + g.outputTokens, requests: had.requests + g.requests }
          : g,
      );
    }
    try {
      const priced = priceGroups(book, tenant, [...merged.values()]);
      const lines = new Map<string, { tier: string; model: string; component: Component; amountMinor: bigint }>();
      for (const l of priced.lines) {
        const key = JSON.stringify([l.tier, l.model, l.component]);
        const line = lines.get(key) ?? { tier: l.tier, model: l.model, component: l.component, amountMinor: 0n };
        line.amountMinor += l.amountMinor;
        lines.set(key, line);
      }
      periods.push({ tenant, period, totalMinor: priced.totalMinor, lines: [...lines.values()] });
    } catch (e) {
      if (!(e instanceof UnpricedUsageError)) throw e;
      unpriced.push({ tenant, period, reason: e.message });
    }
  }
  return { periods, unpriced };
};

/** The label of the billing period that contains `at`. */
export const currentPeriod = (at: Date): string => periodOf(at).label;
