/**
 * Quota rules in the database: a limit per tenant (user_key '') or per user, per kind (tokens,
 * requests, or cost in minor units) and period (UTC day or month). What a quota has consumed is
 * not stored here: it is the ledger's usage of the period plus open reservations (usage.ts).
 */
import type { Pool, PoolClient } from "pg";

export type QuotaKind = "tokens" | "requests" | "cost";
export type QuotaPeriod = "day" | "month";
export const QUOTA_KINDS = ["tokens", "requests", "cost"] as const;
export const QUOTA_PERIODS = ["day", "month"] as const;

export interface QuotaSpec {
  tenant: string;
  user?: string;
  kind: QuotaKind;
  period: QuotaPeriod;
  /** Tokens, requests, or minor units of the price book currency. */
  limit: bigint;
}

/** A limit that applies to a check. userKey '' is tenant-wide. */
export interface QuotaRule {
  userKey: string;
  kind: QuotaKind;
  period: QuotaPeriod;
  limit: bigint;
  /** "set": a row of the quotas table; "tier-default": the platform's default for the caller's tier. */
  source: "set" | "tier-default";
}

export interface QuotaState {
  user: string | null;
  kind: QuotaKind;
  period: QuotaPeriod;
  limit: string;
  /** Billed usage of the period (ledger) plus open reservations. */
  used: string;
  remaining: string;
  /** Of `used`, the part that is open reservations (checked, real usage not in the ledger yet). */
  reserved: string;
  periodStart: string;
  /** When the period ends and the quota starts again from zero. */
  resetsAt: string;
  source: QuotaRule["source"];
}

export interface QuotaCheck {
  allowed: boolean;
  spent: boolean;
  quotas: QuotaState[];
  /** The first quota that refused the check (allowed=false). */
  exceeded?: QuotaState;
  /** The reservation holding the amounts of a spending check (POST /v1/quota/check). */
  requestId?: string;
}

type Queryable = Pick<Pool | PoolClient, "query">;

export const setQuota = async (pool: Queryable, q: QuotaSpec): Promise<void> => {
  await pool.query(
    `insert into quotas (tenant, user_key, kind, period, limit_value) values ($1, $2, $3, $4, $5)
     on conflict (tenant, user_key, kind, period) do update set limit_value = excluded.limit_value, updated_at = now()`,
    [q.tenant, q.user ?? "", q.kind, q.period, q.limit.toString()],
  );
};

export const deleteQuota = async (pool: Queryable, q: Omit<QuotaSpec, "limit">): Promise<boolean> =>
  ((await pool.query("delete from quotas where tenant = $1 and user_key = $2 and kind = $3 and period = $4", [q.tenant, q.user ?? "", q.kind, q.period])).rowCount ?? 0) > 0;

/** The rules set in the database, per tenant (one tenant, or all when `tenant` is undefined). */
export const readQuotaRules = async (pool: Queryable, tenant?: string): Promise<Map<string, QuotaRule[]>> => {
  const rows = (
    await pool.query(
      "select tenant, user_key, kind, period, limit_value::text as lim from quotas where ($1::text is null or tenant = $1) order by tenant, user_key, kind, period",
      [tenant ?? null],
    )
  ).rows;
  const byTenant = new Map<string, QuotaRule[]>();
  for (const r of rows) {
    const list = byTenant.get(r.tenant) ?? [];
    list.push({ userKey: r.user_key, kind: r.kind, period: r.period, limit: BigInt(r.lim), source: "set" });
    byTenant.set(r.tenant, list);
  }
  return byTenant;
};
