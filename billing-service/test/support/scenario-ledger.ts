/**
 * Reads what the collector stored, in the shape of the scenario's truth, and compares them.
 */
import type pg from "pg";
import { truthKey, type TruthRow, type UsageCounts } from "./scenario";

export interface StoredUsage extends UsageCounts {
  key: string;
  resets: number;
  gaps: number;
  reconciliationKey: string | null;
}

/** Stored rows of one source (gateway rows are the billable ones). */
export const readStoredUsage = async (pool: pg.Pool, source: "gateway" | "model-server" = "gateway"): Promise<Map<string, StoredUsage>> => {
  const res = await pool.query(
    `select source, tenant, user_id, tier, model, window_start, total_tokens, requests, limited_requests,
            input_tokens, output_tokens, resets, gaps, reconciliation_key
       from collector_usage where content_hash <> 'zeroed' and source = $1`,
    [source],
  );
  const out = new Map<string, StoredUsage>();
  for (const r of res.rows) {
    const key = truthKey(r.source, r.tenant, r.user_id, r.tier, r.model, (r.window_start as Date).getTime());
    out.set(key, {
      key,
      tokens: Number(r.total_tokens),
      requests: Number(r.requests),
      limitedRequests: Number(r.limited_requests),
      inputTokens: Number(r.input_tokens),
      outputTokens: Number(r.output_tokens),
      resets: r.resets,
      gaps: r.gaps,
      reconciliationKey: r.reconciliation_key,
    });
  }
  return out;
};

export interface StoredReconciliation {
  tenant: string;
  model: string | null;
  windowStartMs: number;
  gatewayTokens: number;
  modelInputTokens: number;
  modelOutputTokens: number;
  diffTokens: number;
  flagged: boolean;
  apportionedInputTokens: number;
}

export const readStoredReconciliations = async (pool: pg.Pool): Promise<StoredReconciliation[]> => {
  const res = await pool.query(`select * from collector_reconciliation order by window_start, tenant, model`);
  return res.rows.map((r) => ({
    tenant: r.tenant,
    model: r.model,
    windowStartMs: (r.window_start as Date).getTime(),
    gatewayTokens: Number(r.gateway_tokens),
    modelInputTokens: Number(r.model_input_tokens),
    modelOutputTokens: Number(r.model_output_tokens),
    diffTokens: Number(r.diff_tokens),
    flagged: r.flagged,
    apportionedInputTokens: Number(r.apportioned_input_tokens),
  }));
};

/** Gateway truth in the stored shape (what the ledger must equal), rows with no usage left out. */
export const gatewayTruth = (truth: Map<string, TruthRow>): Map<string, { tokens: number; requests: number; limitedRequests: number }> => {
  const out = new Map<string, { tokens: number; requests: number; limitedRequests: number }>();
  for (const [k, r] of truth) {
    if (r.source !== "gateway" || r.tokens + r.requests + r.limitedRequests === 0) continue;
    out.set(k, { tokens: r.tokens, requests: r.requests, limitedRequests: r.limitedRequests });
  }
  return out;
};

/** Per (tenant, model, window): gateway tokens and model-server input/output from the truth. */
export const reconciliationTruth = (truth: Map<string, TruthRow>) => {
  const out = new Map<string, { gateway: number; input: number; output: number }>();
  for (const r of truth.values()) {
    if (r.model === null) continue;
    const k = JSON.stringify([r.tenant, r.model, r.windowStartMs]);
    const t = out.get(k) ?? { gateway: 0, input: 0, output: 0 };
    if (r.source === "gateway") t.gateway += r.tokens;
    else {
      t.input += r.inputTokens;
      t.output += r.outputTokens;
    }
    out.set(k, t);
  }
  for (const [k, t] of out) if (t.gateway + t.input + t.output === 0) out.delete(k);
  return out;
};
