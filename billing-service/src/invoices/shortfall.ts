/**
 * Metering shortfalls as invoice flags that block finalization (docs/threat-model.md B2).
 *
 * The collector reconciles, per tenant, model and window, the gateway's billable tokens (Limitador
 * counters) with the model server's (vLLM) and flags a difference beyond its tolerance
 * (collector_reconciliation.flagged). A window where the gateway counted FEWER tokens than the
 * model server served (down to none: a TokenRateLimitPolicy deleted or neutered) means usage that
 * is not on the invoice. Such windows become the draft's `meteringShortfall` flag, with windows
 * and amounts, and `finalize` refuses the draft unless an admin accepts the flag with a reason,
 * which is recorded in the sealed invoice. Windows accepted by an earlier final invoice of the
 * same period are not flagged again on its adjustments.
 */
import type { PoolClient } from "pg";
import { MAX_OF_COUNTERS_SOURCE } from "../collector/meters";

export const METERING_SHORTFALL = "meteringShortfall";
/** Informational flag: shortfall windows billed at the model server's count (collector setting shortfallBilling). */
export const METERING_SHORTFALL_BILLED = "meteringShortfallBilled";

/** A window billed at max(gateway, model server): not blocking, the excess is on the invoice. */
export interface BilledShortfallWindow {
  readonly model: string;
  readonly tier: string;
  readonly windowStart: string;
  readonly windowEnd: string;
  readonly gatewayTokens: string;
  readonly modelServerTokens: string;
  /** The billed excess (input + output of the model-server-max row). */
  readonly billedTokens: string;
}

/**
 * Windows of (tenant, period) where the collector billed the model server's excess (source
 * model-server-max), with the counters behind it: recorded in the invoice's flags, so the invoice
 * says which windows it billed at the model server's count instead of the gateway's.
 */
export const meteringShortfallBilled = async (client: PoolClient, tenant: string, start: Date, end: Date): Promise<{ windows: BilledShortfallWindow[]; billedTokens: string } | undefined> => {
  // Columns named as the flag's fields: only the times need converting.
  const rows = (
    await client.query<Omit<BilledShortfallWindow, "windowStart" | "windowEnd"> & { windowStart: Date; windowEnd: Date }>(
      `select u.model, u.tier, u.window_start as "windowStart", u.window_end as "windowEnd",
              coalesce(c.gateway_tokens, 0)::text as "gatewayTokens",
              coalesce(c.model_input_tokens + c.model_output_tokens, 0)::text as "modelServerTokens", u.total_tokens::text as "billedTokens"
         from collector_usage u
         left join collector_reconciliation c on c.tenant = u.tenant and c.model = u.model and c.window_start = u.window_start
        where u.source = '${MAX_OF_COUNTERS_SOURCE}' and u.billable and u.total_tokens > 0
          and u.tenant = $1 and u.window_start >= $2 and u.window_start < $3
        order by u.window_start, u.model`,
      [tenant, start, end],
    )
  ).rows;
  if (rows.length === 0) return undefined;
  const windows = rows.map((r): BilledShortfallWindow => ({ ...r, windowStart: r.windowStart.toISOString(), windowEnd: r.windowEnd.toISOString() }));
  return { windows, billedTokens: windows.reduce((a, w) => a + BigInt(w.billedTokens), 0n).toString() };
};

export interface ShortfallWindow {
  /** collector_reconciliation.reconciliation_key (tenant|model|window start). */
  readonly key: string;
  readonly model: string;
  readonly windowStart: string;
  readonly windowEnd: string;
  readonly gatewayTokens: string;
  readonly modelServerTokens: string;
  /** modelServerTokens - gatewayTokens (> 0). */
  readonly shortfallTokens: string;
}

export interface MeteringShortfallFlag {
  readonly windows: ShortfallWindow[];
  readonly shortfallTokens: string;
}

/** An admin's acceptance of a blocking flag, sealed into the invoice by finalize. */
export interface FlagAcceptance {
  readonly flag: string;
  readonly reason: string;
  readonly acceptedBy: string;
  readonly acceptedAt: string;
}

/** The shortfall windows of (tenant, period) not yet accepted by a final invoice of that period. */
export const meteringShortfall = async (
  client: PoolClient,
  tenant: string,
  periodLabel: string,
  start: Date,
  end: Date,
): Promise<MeteringShortfallFlag | undefined> => {
  const accepted = new Set(
    (
      await client.query<{ key: string }>(
        `select w->>'key' as key from invoices v, jsonb_array_elements(coalesce(v.flags->'${METERING_SHORTFALL}'->'windows', '[]'::jsonb)) w
          where v.tenant = $1 and v.period = $2 and v.status = 'final'`,
        [tenant, periodLabel],
      )
    ).rows.map((r) => r.key),
  );
  // Columns named as the flag's fields: only the times need converting, and the shortfall computing.
  const rows = (
    await client.query<Omit<ShortfallWindow, "windowStart" | "windowEnd" | "shortfallTokens"> & { windowStart: Date; windowEnd: Date }>(
      // A window whose excess the collector billed (shortfallBilling) is on the invoice: not a shortfall.
      `select reconciliation_key as key, model, window_start as "windowStart", window_end as "windowEnd",
              gateway_tokens::text as "gatewayTokens", (model_input_tokens + model_output_tokens)::text as "modelServerTokens"
         from collector_reconciliation c
        where tenant = $1 and window_start >= $2 and window_start < $3 and flagged and model is not null and diff_tokens < 0
          and not exists (select 1 from collector_usage u where u.source = '${MAX_OF_COUNTERS_SOURCE}' and u.billable and u.total_tokens > 0
                            and u.tenant = c.tenant and u.model = c.model and u.window_start = c.window_start)
        order by window_start, model`,
      [tenant, start, end],
    )
  ).rows.filter((r) => !accepted.has(r.key));
  if (rows.length === 0) return undefined;
  const windows = rows.map(
    (r): ShortfallWindow => ({
      ...r,
      windowStart: r.windowStart.toISOString(),
      windowEnd: r.windowEnd.toISOString(),
      shortfallTokens: (BigInt(r.modelServerTokens) - BigInt(r.gatewayTokens)).toString(),
    }),
  );
  return { windows, shortfallTokens: windows.reduce((a, w) => a + BigInt(w.shortfallTokens), 0n).toString() };
};

/** Flags of an invoice that block finalization until accepted. */
export const BLOCKING_FLAGS = [METERING_SHORTFALL] as const;

/** The blocking flags a draft carries that `accept` does not name. */
export const unacceptedBlockingFlags = (flags: Record<string, unknown>, accept: readonly string[]): string[] =>
  BLOCKING_FLAGS.filter((f) => flags[f] !== undefined && !accept.includes(f));
