/**
 * What the portal pages show, read through the service's own modules: money only from the
 * invoice code (previewInvoice/getInvoice, formatScaled), usage from queryUsage, quotas from
 * listQuotas. The one query of its own is the daily token series of the chart (tokens, not money).
 */
import type { Pool } from "pg";
import { canReadTenant, isBillingAdmin, type Principal } from "../auth/types";
import { periodOf } from "../invoices/periods";
import { UnpricedUsageError } from "../invoices/pricing";
import { formatScaled } from "../pricebook/money";
import { previewInvoice, type Invoice } from "../invoices/store";
import type { PriceBook } from "../pricebook/pricebook";
import { queryUsage, type UsageRow } from "../usage/query";

/** Tenants the principal may open in the portal (admin: all that have usage, quotas or invoices). */
export const visibleTenants = async (pool: Pool, principal: Principal): Promise<string[]> => {
  if (principal.tenant && !(await isBillingAdmin(principal))) return [principal.tenant];
  const known = (
    await pool.query<{ tenant: string }>(
      "select tenant from invoices union select tenant from quotas union select distinct tenant from usage_hourly_current order by 1",
    )
  ).rows.map((r) => r.tenant);
  if (await isBillingAdmin(principal)) return known;
  const allowed: string[] = [];
  for (const t of known) if (await canReadTenant(principal, t)) allowed.push(t);
  return allowed;
};

export interface DailyTokens {
  readonly day: string;
  readonly inputTokens: string;
  readonly outputTokens: string;
}

/** Tokens per UTC day over [from, to), every day present (zero when there was no usage). */
export const dailyTokens = async (pool: Pool, tenant: string, from: Date, to: Date): Promise<DailyTokens[]> => {
  const rows = (
    await pool.query<{ day: string; i: string; o: string }>(
      `select to_char(d.day, 'YYYY-MM-DD') as day, coalesce(sum(u.input_tokens), 0)::text as i, coalesce(sum(u.output_tokens), 0)::text as o
         from generate_series($2::timestamptz at time zone 'UTC', ($3::timestamptz - interval '1 microsecond') at time zone 'UTC', interval '1 day') d(day)
         left join usage_ledger u on u.tenant = $1 and u.window_start >= d.day at time zone 'UTC' and u.window_start < (d.day + interval '1 day') at time zone 'UTC'
        group by d.day order by d.day`,
      [tenant, from, to],
    )
  ).rows;
  return rows.map((r) => ({ day: r.day, inputTokens: r.i, outputTokens: r.o }));
};

export interface Ranked {
  readonly name: string;
  readonly totalTokens: string;
  readonly requests: string;
  /** Cost from the draft's lines (models only; lines are not per user). */
  readonly cost?: string;
}

const byTokens = (rows: readonly UsageRow[], key: "model" | "user"): Array<UsageRow & { name: string }> =>
  rows
    .map((r) => ({ ...r, name: r[key] ?? "" }))
    .sort((a, b) => (BigInt(b.totalTokens) > BigInt(a.totalTokens) ? 1 : BigInt(b.totalTokens) < BigInt(a.totalTokens) ? -1 : a.name.localeCompare(b.name)));

export type DraftOutcome = { kind: "draft"; invoice: Invoice } | { kind: "nothing"; reason: string } | { kind: "unpriced"; message: string };

export interface Overview {
  readonly period: string;
  readonly from: string;
  readonly to: string;
  readonly draft: DraftOutcome;
  readonly totalTokens: string;
  readonly inputTokens: string;
  readonly outputTokens: string;
  readonly requests: string;
  readonly daily: DailyTokens[];
  readonly models: Ranked[];
  readonly users: Ranked[];
}

const TOP = 5;

/** Month-to-date: the draft invoice of the current period as previewInvoice builds it, and its usage. */
export const loadOverview = async (pool: Pool, book: PriceBook, tenant: string, now = new Date()): Promise<Overview> => {
  const period = periodOf(now);
  let draft: DraftOutcome;
  try {
    const preview = await previewInvoice(pool, book, tenant, period.label);
    draft = preview.created ? { kind: "draft", invoice: preview.invoice } : { kind: "nothing", reason: preview.reason };
  } catch (e) {
    if (!(e instanceof UnpricedUsageError)) throw e;
    draft = { kind: "unpriced", message: e.message };
  }
  const [totals, models, users, daily] = await Promise.all([
    queryUsage(pool, tenant, period.start, period.end, []),
    queryUsage(pool, tenant, period.start, period.end, ["model"]),
    queryUsage(pool, tenant, period.start, period.end, ["user"]),
    dailyTokens(pool, tenant, period.start, new Date(Math.min(period.end.getTime(), Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)))),
  ]);
  const modelCost = new Map<string, bigint>();
  if (draft.kind === "draft") for (const l of draft.invoice.lines) modelCost.set(l.model, (modelCost.get(l.model) ?? 0n) + BigInt(l.amountMinor));
  const digits = draft.kind === "draft" ? draft.invoice.minorUnitDigits : book.minorUnitDigits;
  return {
    period: period.label,
    from: period.start.toISOString(),
    to: now.toISOString(),
    draft,
    totalTokens: totals.totalTokens,
    inputTokens: totals.inputTokens,
    outputTokens: totals.outputTokens,
    requests: totals.requests,
    daily,
    models: byTokens(models.rows, "model")
      .slice(0, TOP)
      .map((r) => ({ name: r.name, totalTokens: r.totalTokens, requests: r.requests, ...(modelCost.has(r.name) ? { cost: formatScaled(modelCost.get(r.name)!, digits) } : {}) })),
    users: byTokens(users.rows, "user")
      .slice(0, TOP)
      .map((r) => ({ name: r.name, totalTokens: r.totalTokens, requests: r.requests })),
  };
};
