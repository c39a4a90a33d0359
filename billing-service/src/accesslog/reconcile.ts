/**
 * Three-way reconciliation per tenant, model and window: tokens in the gateway's access logs
 * (access_log_usage, every record with usage), at the gateway's Limitador counters and at the model
 * servers' vLLM counters (both from the collector, collector_reconciliation), with the pairwise
 * differences and a flag when any pair of sources that both report the tenant differs beyond the
 * tolerance. A source that reports nothing for a tenant over the whole range is "absent" there (not
 * deployed), not a disagreement; a source that reports the tenant but not a window is (0 tokens).
 *
 * Windows: the collector's (`window`, default 1 h, UTC-aligned). An access-log record falls in the
 * window of its start time; Limitador counts a response when it is reported and vLLM when it
 * generates, so a request across a window edge can land in neighbouring windows: that is what the
 * tolerance is for.
 */
import type { Pool } from "pg";

export type UsageSource = "access-log" | "gateway" | "model-server";
export const USAGE_SOURCES: readonly UsageSource[] = ["access-log", "gateway", "model-server"];

export interface ThreeWayRow {
  readonly tenant: string;
  /** "" when the source did not know the model (gateway request counts carry none). */
  readonly model: string;
  readonly windowStart: string;
  readonly windowEnd: string;
  /** Tokens per source; null when the source is absent for this tenant in the range. */
  readonly tokens: Readonly<Record<UsageSource, string | null>>;
  /** |a - b| / max(a, b) for each pair of present sources, e.g. "access-log/gateway". */
  readonly diffRatios: Readonly<Record<string, number>>;
  readonly flagged: boolean;
}

export interface ThreeWayReport {
  readonly tenant: string;
  readonly from: string;
  readonly to: string;
  readonly windowSeconds: number;
  readonly tolerance: number;
  /** The source invoices bill (the platform's billableSource). */
  readonly billableSource: "access-log" | "gateway";
  /** Sources with any data for the tenant in the range. */
  readonly present: UsageSource[];
  readonly rows: ThreeWayRow[];
  readonly flaggedWindows: number;
}

export interface ThreeWayOptions {
  readonly tenant: string;
  readonly from: Date;
  readonly to: Date;
  readonly windowSeconds: number;
  readonly tolerance: number;
  readonly billableSource: "access-log" | "gateway";
}

const SQL = `
with al as (
  select model, to_timestamp(floor(extract(epoch from event_time) / $4) * $4) as window_start,
         sum(input_tokens + output_tokens)::bigint as tokens
    from access_log_usage
   where tenant = $1 and event_time >= $2 and event_time < $3
   group by 1, 2
), cr as (
  select coalesce(model, '') as model, to_timestamp(floor(extract(epoch from window_start) / $4) * $4) as window_start,
         sum(gateway_tokens)::bigint as gateway, sum(model_input_tokens + model_output_tokens)::bigint as model_server
    from collector_reconciliation
   where tenant = $1 and window_start >= $2 and window_start < $3
   group by 1, 2
)
select coalesce(al.model, cr.model) as model, coalesce(al.window_start, cr.window_start) as window_start,
       al.tokens::text as access_log, cr.gateway::text as gateway, cr.model_server::text as model_server
  from al full join cr on al.model = cr.model and al.window_start = cr.window_start
 order by 2, 1`;

const PRESENT = `
select exists (select 1 from access_log_usage where tenant = $1 and event_time >= $2 and event_time < $3) as access_log,
       exists (select 1 from collector_reconciliation where tenant = $1 and window_start >= $2 and window_start < $3 and gateway_tokens > 0) as gateway,
       exists (select 1 from collector_reconciliation where tenant = $1 and window_start >= $2 and window_start < $3 and model_input_tokens + model_output_tokens > 0) as model_server`;

export const reconcileThreeWay = async (pool: Pool, o: ThreeWayOptions): Promise<ThreeWayReport> => {
  const args = [o.tenant, o.from, o.to];
  const p = (await pool.query(PRESENT, args)).rows[0];
  const present = USAGE_SOURCES.filter((s) => (s === "access-log" ? p.access_log : s === "gateway" ? p.gateway : p.model_server) === true);
  const result = await pool.query(SQL, [...args, o.windowSeconds]);
  const rows: ThreeWayRow[] = result.rows.map((r) => {
    const value = (s: UsageSource, v: string | null): string | null => (present.includes(s) ? (v ?? "0") : null);
    const tokens = { "access-log": value("access-log", r.access_log), gateway: value("gateway", r.gateway), "model-server": value("model-server", r.model_server) };
    const diffRatios: Record<string, number> = {};
    let flagged = false;
    for (let i = 0; i < USAGE_SOURCES.length; i++) {
      for (let j = i + 1; j < USAGE_SOURCES.length; j++) {
        const [a, b] = [tokens[USAGE_SOURCES[i]], tokens[USAGE_SOURCES[j]]];
        if (a === null || b === null) continue;
        const [x, y] = [BigInt(a), BigInt(b)];
        const max = x > y ? x : y;
        const ratio = max === 0n ? 0 : Number(((x > y ? x - y : y - x) * 1_000_000n) / max) / 1_000_000;
        diffRatios[`${USAGE_SOURCES[i]}/${USAGE_SOURCES[j]}`] = ratio;
        if (ratio > o.tolerance) flagged = true;
      }
    }
    const start = new Date(r.window_start);
    return { tenant: o.tenant, model: r.model, windowStart: start.toISOString(), windowEnd: new Date(start.getTime() + o.windowSeconds * 1000).toISOString(), tokens, diffRatios, flagged };
  });
  return {
    tenant: o.tenant,
    from: o.from.toISOString(),
    to: o.to.toISOString(),
    windowSeconds: o.windowSeconds,
    tolerance: o.tolerance,
    billableSource: o.billableSource,
    present,
    rows,
    flaggedWindows: rows.filter((r) => r.flagged).length,
  };
};
