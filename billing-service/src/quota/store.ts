/**
 * Token and currency budgets per tenant (and optionally per user) per day or month.
 *
 * A check is one SQL statement: it locks the tenant's applicable quota rows (in key order, so
 * concurrent checks cannot deadlock), decides whether the amount fits every one of them, and
 * spends it from all of them or from none. Two concurrent checks therefore serialise on the row
 * locks and cannot both spend the last unit. Database errors propagate (the API answers 503):
 * the check never fails open.
 */
import type { Pool } from "pg";

export type QuotaKind = "tokens" | "cost";
export type QuotaPeriod = "day" | "month";

export interface QuotaSpec {
  tenant: string;
  user?: string;
  kind: QuotaKind;
  period: QuotaPeriod;
  /** Tokens, or minor units of the price book currency. */
  limit: bigint;
}

export interface QuotaState {
  user: string | null;
  kind: QuotaKind;
  period: QuotaPeriod;
  limit: string;
  used: string;
  remaining: string;
  periodStart: string;
}

export interface QuotaCheck {
  allowed: boolean;
  spent: boolean;
  quotas: QuotaState[];
}

export const setQuota = async (pool: Pool, q: QuotaSpec): Promise<void> => {
  await pool.query(
    `insert into quotas (tenant, user_key, kind, period, limit_value) values ($1, $2, $3, $4, $5)
     on conflict (tenant, user_key, kind, period) do update set limit_value = excluded.limit_value, updated_at = now()`,
    [q.tenant, q.user ?? "", q.kind, q.period, q.limit.toString()],
  );
};

export const deleteQuota = async (pool: Pool, q: Omit<QuotaSpec, "limit">): Promise<boolean> =>
  ((await pool.query("delete from quotas where tenant = $1 and user_key = $2 and kind = $3 and period = $4", [q.tenant, q.user ?? "", q.kind, q.period])).rowCount ?? 0) > 0;

const toState = (r: Record<string, any>): QuotaState => ({
  user: r.user_key === "" ? null : r.user_key,
  kind: r.kind,
  period: r.period,
  limit: String(r.limit_value),
  used: String(r.used),
  remaining: (BigInt(r.limit_value) - BigInt(r.used) > 0n ? BigInt(r.limit_value) - BigInt(r.used) : 0n).toString(),
  periodStart: new Date(r.period_start).toISOString(),
});

/** The tenant's quotas with usage of the current period (a past period reads as 0 used). */
export const listQuotas = async (pool: Pool, tenant: string, now: Date = new Date()): Promise<QuotaState[]> =>
  (
    await pool.query(
      `select user_key, kind, period, limit_value,
              case when period_start = date_trunc(period, $2::timestamptz at time zone 'UTC') at time zone 'UTC' then used else 0 end as used,
              date_trunc(period, $2::timestamptz at time zone 'UTC') at time zone 'UTC' as period_start
         from quotas where tenant = $1 order by user_key, kind, period`,
      [tenant, now],
    )
  ).rows.map(toState);

const CHECK_SQL = `
with cand as (
  select q.tenant, q.user_key, q.kind, q.period, q.limit_value,
         date_trunc(q.period, $5::timestamptz at time zone 'UTC') at time zone 'UTC' as cur_start,
         case when q.period_start = date_trunc(q.period, $5::timestamptz at time zone 'UTC') at time zone 'UTC' then q.used else 0 end as current_used,
         case q.kind when 'tokens' then $3::bigint else $4::bigint end as amount
    from quotas q
   where q.tenant = $1 and q.user_key in ('', $2)
   order by q.user_key, q.kind, q.period
   for update of q
),
verdict as (select coalesce(bool_and(current_used + amount <= limit_value), true) as ok from cand),
spend as (
  update quotas q set used = c.current_used + c.amount, period_start = c.cur_start, updated_at = now()
    from cand c, verdict v
   where v.ok and not $6::boolean
     and q.tenant = c.tenant and q.user_key = c.user_key and q.kind = c.kind and q.period = c.period
  returning q.user_key
)
select c.user_key, c.kind, c.period, c.limit_value, c.cur_start as period_start,
       case when v.ok and not $6::boolean then c.current_used + c.amount else c.current_used end as used,
       v.ok, (select count(*) from spend)::int as spent
  from cand c, verdict v`;

export const checkQuota = async (
  pool: Pool,
  req: { tenant: string; user?: string; tokens: bigint; costMinor: bigint; dryRun?: boolean; now?: Date },
): Promise<QuotaCheck> => {
  const result = await pool.query(CHECK_SQL, [req.tenant, req.user ?? "", req.tokens.toString(), req.costMinor.toString(), req.now ?? new Date(), req.dryRun ?? false]);
  const allowed = result.rows.length === 0 ? true : result.rows[0].ok;
  return { allowed, spent: result.rows.length > 0 && result.rows[0].spent > 0, quotas: result.rows.map(toState) };
};
