/**
 * Decides a batch of quota checks against the locked quota rows, one after the other in arrival
 * order, exactly as if each had run the single-statement check alone: a check spends its amount
 * from every applicable row (tenant-wide and its user's) or from none, and a row whose stored
 * period is over counts as 0 used. Pure: the caller holds the row locks and writes `rows` back.
 */
import type { QuotaCheck, QuotaKind, QuotaPeriod } from "./store";

export interface LockedQuotaRow {
  userKey: string;
  kind: QuotaKind;
  period: QuotaPeriod;
  limit: bigint;
  used: bigint;
  periodStart: Date;
  /** Set when a decision spent from this row, so only changed rows are written back. */
  changed: boolean;
}

export interface QuotaCheckRequest {
  tenant: string;
  user?: string;
  tokens: bigint;
  costMinor: bigint;
  dryRun?: boolean;
  now?: Date;
}

/** Start of the UTC day or month holding `at`, like `date_trunc(period, at at time zone 'UTC')`. */
export const periodStartOf = (period: QuotaPeriod, at: Date): Date =>
  new Date(period === "day" ? Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()) : Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));

/** Decides one check, mutating the rows it spends from. `rows` must be in key order (user, kind, period). */
export const decideCheck = (rows: LockedQuotaRow[], req: QuotaCheckRequest, now: Date): QuotaCheck => {
  const applicable = rows.filter((r) => r.userKey === "" || r.userKey === (req.user ?? ""));
  const view = applicable.map((row) => {
    const start = periodStartOf(row.period, now);
    const currentUsed = row.periodStart.getTime() === start.getTime() ? row.used : 0n;
    const amount = row.kind === "tokens" ? req.tokens : req.costMinor;
    return { row, start, currentUsed, amount };
  });
  const allowed = view.every((v) => v.currentUsed + v.amount <= v.row.limit);
  const spend = allowed && !req.dryRun && view.length > 0;
  if (spend) {
    for (const v of view) {
      v.row.used = v.currentUsed + v.amount;
      v.row.periodStart = v.start;
      v.row.changed = true;
    }
  }
  return {
    allowed,
    spent: spend,
    quotas: view.map(({ row, start, currentUsed }) => {
      const used = spend ? row.used : currentUsed;
      return {
        user: row.userKey === "" ? null : row.userKey,
        kind: row.kind,
        period: row.period,
        limit: row.limit.toString(),
        used: used.toString(),
        remaining: (row.limit - used > 0n ? row.limit - used : 0n).toString(),
        periodStart: start.toISOString(),
      };
    }),
  };
};
