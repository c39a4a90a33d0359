/**
 * quota.threshold webhooks: when a quota's consumption (ledger + open reservations) reaches a
 * threshold (default 80 % and 100 %) in a period, one event per (quota, period, threshold),
 * whichever replica sees it first (the insert into quota_threshold_events decides, in the same
 * statement as the outbox write). Called after each refresh of the in-memory view.
 */
import type { Pool } from "pg";
import type { QuotaState } from "../quota/store";

export const DEFAULT_QUOTA_THRESHOLDS = [80, 100] as const;

export interface ThresholdCrossing {
  tenant: string;
  state: QuotaState;
  threshold: number;
}

/** The thresholds `state` has reached (percent of the limit, integer arithmetic). */
export const reachedThresholds = (state: QuotaState, thresholds: readonly number[]): number[] => {
  const limit = BigInt(state.limit);
  const used = BigInt(state.used);
  return thresholds.filter((t) => (limit === 0n ? used > 0n : used * 100n >= limit * BigInt(t)));
};

const EMIT_SQL = `
with fresh as (
  insert into quota_threshold_events (tenant, user_key, kind, period, period_start, threshold)
  values ($1, $2, $3, $4, $5, $6) on conflict do nothing returning 1
)
select maas_webhook_emit($1, 'quota.threshold', $7, $8::jsonb) from fresh`;

export const createThresholdNotifier = (pool: Pool, thresholds: readonly number[] = DEFAULT_QUOTA_THRESHOLDS) => {
  // Crossings this replica already wrote (or saw written): no second database round trip for them.
  const seen = new Set<string>();
  return {
    async notify(states: Array<{ tenant: string; state: QuotaState }>): Promise<number> {
      let emitted = 0;
      for (const { tenant, state } of states) {
        for (const threshold of reachedThresholds(state, thresholds)) {
          const user = state.user ?? "";
          const key = JSON.stringify([tenant, user, state.kind, state.period, state.periodStart, threshold]);
          if (seen.has(key)) continue;
          const eventId = `quota.threshold/${tenant}/${user}/${state.kind}/${state.period}/${state.periodStart}/${threshold}`;
          const data = { tenant, threshold, quota: state };
          const r = await pool.query(EMIT_SQL, [tenant, user, state.kind, state.period, state.periodStart, threshold, eventId, JSON.stringify(data)]);
          emitted += r.rowCount ?? 0;
          seen.add(key);
        }
      }
      return emitted;
    },
  };
};
