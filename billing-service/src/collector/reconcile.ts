/**
 * Reconciliation of gateway and model-server usage, and the input/output split of gateway tokens.
 *
 * The gateway (Limitador `authorized_hits` under a TokenRateLimitPolicy) knows who used tokens
 * (user, tier) but only their total; the model server (vLLM) knows prompt and generation tokens
 * but not who sent them. Per tenant, model and window the two totals are compared (the difference
 * is a metric, and a flag beyond the tolerance), and the model server's input/output ratio is
 * apportioned onto the gateway totals with integer largest-remainder shares, so every gateway row
 * gets whole input and output tokens that add up to its total. How each split was made is kept as
 * lineage on the row.
 */
import { distribute } from "../pricebook/money";
import type { UsageRow } from "./aggregate";
import { MAX_OF_COUNTERS_SOURCE, type RowSource } from "./meters";

export interface Reconciliation {
  readonly tenant: string;
  /** null for gateway tokens without a model label (split from the tenant's totals, not compared). */
  readonly model: string | null;
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  readonly gatewayTokens: number;
  readonly modelInputTokens: number;
  readonly modelOutputTokens: number;
  /** gateway - (model input + output). */
  readonly diffTokens: number;
  /** diff / max(gateway, model total); 0 when both are 0. */
  readonly diffRatio: number;
  /** |diffRatio| beyond the tolerance (never set for model null). */
  readonly flagged: boolean;
  /** Where the split came from: this model's counters, the tenant's counters over all models, or none. */
  readonly splitBasis: "model" | "tenant" | "none";
  /** Gateway tokens of the group booked as input after apportioning. */
  readonly apportionedInputTokens: number;
  readonly apportionedOutputTokens: number;
}

/**
 * A ledger row. Gateway rows are billable (they know user and tier), with their tokens split into
 * input and output; model-server rows are kept for reconciliation and audit, never billed (that
 * would count the same tokens twice).
 */
export interface LedgerRow {
  readonly row: Omit<UsageRow, "source"> & { readonly source: RowSource };
  readonly billable: boolean;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly totalTokens: number;
  readonly requests: number;
  readonly limitedRequests: number;
  /** Key of the reconciliation group whose split was used (null when the row has no tokens). */
  readonly reconciliationKey: string | null;
}

const compareNullable = (a: string | null, b: string | null): number =>
  a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : 1;

export const reconciliationKey = (tenant: string, model: string | null, windowStartMs: number): string =>
  `${tenant}|${model ?? ""}|${new Date(windowStartMs).toISOString()}`;

const big = (n: number): bigint => BigInt(Math.round(n));

export const reconcile = (
  rows: Iterable<UsageRow>,
  tolerance: number,
  /** Bill max(gateway, model server) in shortfall windows, at this tier (collector setting `shortfallBilling`). */
  shortfallBilling?: { readonly tier: string },
): { ledger: LedgerRow[]; reconciliations: Reconciliation[] } => {
  const gatewayGroups = new Map<string, UsageRow[]>();
  const gatewayOnlyRequests: UsageRow[] = [];
  const modelTotals = new Map<string, Totals>();
  const tenantTotals = new Map<string, Totals>();
  const add = (m: Map<string, Totals>, key: string, row: UsageRow, input: number, output: number) => {
    const t = m.get(key) ?? { row, input: 0, output: 0 };
    t.input += input;
    t.output += output;
    m.set(key, t);
  };
  const ledger: LedgerRow[] = [];
  for (const row of rows) {
    if (row.source === "model-server") {
      const input = row.quantities.input_tokens ?? 0;
      const output = row.quantities.output_tokens ?? 0;
      ledger.push({ row, billable: false, inputTokens: input, outputTokens: output, totalTokens: input + output, requests: 0, limitedRequests: 0, reconciliationKey: reconciliationKey(row.tenant, row.model, row.windowStartMs) });
      add(modelTotals, reconciliationKey(row.tenant, row.model, row.windowStartMs), row, input, output);
      add(tenantTotals, reconciliationKey(row.tenant, null, row.windowStartMs), row, input, output);
      continue;
    }
    if ((row.quantities.tokens ?? 0) === 0) {
      gatewayOnlyRequests.push(row);
      continue;
    }
    const key = reconciliationKey(row.tenant, row.model, row.windowStartMs);
    const group = gatewayGroups.get(key) ?? [];
    group.push(row);
    gatewayGroups.set(key, group);
  }

  ledger.push(...gatewayOnlyRequests.map((row) => ({
    row,
    billable: true,
    inputTokens: 0,
    outputTokens: 0,
    totalTokens: 0,
    requests: row.quantities.requests ?? 0,
    limitedRequests: row.quantities.limited_requests ?? 0,
    reconciliationKey: null,
  })));
  const reconciliations: Reconciliation[] = [];
  const seen = new Set<string>();

  for (const [key, unordered] of gatewayGroups) {
    seen.add(key);
    // A fixed order (user, then tier) decides who gets the remainder units, so the split never
    // depends on the order in which Prometheus returned the series.
    const group = [...unordered].sort(
      (a, b) => compareNullable(a.user, b.user) || compareNullable(a.tier, b.tier) || compareNullable(JSON.stringify(a.attributes), JSON.stringify(b.attributes)),
    );
    const { tenant, model, windowStartMs, windowEndMs } = group[0];
    const ownModel = model === null ? undefined : modelTotals.get(key);
    const tenantWide = tenantTotals.get(reconciliationKey(tenant, null, windowStartMs));
    const basisTotals =
      ownModel && ownModel.input + ownModel.output > 0 ? ownModel : tenantWide && tenantWide.input + tenantWide.output > 0 ? tenantWide : undefined;
    const splitBasis: Reconciliation["splitBasis"] =
      basisTotals === undefined ? "none" : basisTotals === ownModel ? "model" : "tenant";
    const gatewayTokens = group.reduce((a, r) => a + (r.quantities.tokens ?? 0), 0);
    // Without a basis the split is unknown; all tokens are booked as input and the group is
    // reported (splitBasis "none") rather than inventing a ratio.
    const [inputTotal] = distribute(big(gatewayTokens), basisTotals ? [big(basisTotals.input), big(basisTotals.output)] : [1n, 0n]);
    const inputs = distribute(inputTotal, group.map((r) => big(r.quantities.tokens ?? 0)));
    group.forEach((row, i) => {
      const total = row.quantities.tokens ?? 0;
      const input = Number(inputs[i]);
      ledger.push({
        row,
        billable: true,
        inputTokens: input,
        outputTokens: total - input,
        totalTokens: total,
        requests: row.quantities.requests ?? 0,
        limitedRequests: row.quantities.limited_requests ?? 0,
        reconciliationKey: key,
      });
    });
    const mi = ownModel?.input ?? 0;
    const mo = ownModel?.output ?? 0;
    reconciliations.push(
      makeReconciliation(tenant, model, windowStartMs, windowEndMs, gatewayTokens, mi, mo, tolerance, splitBasis, Number(inputTotal)),
    );
  }
  // Model-server usage with no gateway tokens at all (traffic that bypassed the gateway, or a
  // gateway without token limits) is a full difference.
  for (const [key, totals] of modelTotals) {
    if (seen.has(key)) continue;
    const { tenant, model, windowStartMs, windowEndMs } = totals.row;
    reconciliations.push(
      makeReconciliation(tenant, model, windowStartMs, windowEndMs, 0, totals.input, totals.output, tolerance, "model", 0),
    );
  }
  if (shortfallBilling) ledger.push(...maxOfCountersRows(reconciliations, shortfallBilling.tier));
  return { ledger, reconciliations };
};

/**
 * For every flagged window where the model server served more than the gateway counted, a billable
 * row with the difference: input = model input - gateway input as apportioned, output likewise (both
 * >= 0, since the gateway's tokens were split by the model server's own ratio), so gateway + this row
 * = the model server's count, per direction.
 */
const maxOfCountersRows = (reconciliations: readonly Reconciliation[], tier: string): LedgerRow[] =>
  reconciliations
    .filter((r) => r.model !== null && r.flagged && r.diffTokens < 0)
    .map((r) => {
      const input = Math.max(0, r.modelInputTokens - r.apportionedInputTokens);
      const output = Math.max(0, r.modelOutputTokens - r.apportionedOutputTokens);
      return {
        row: {
          source: MAX_OF_COUNTERS_SOURCE,
          tenant: r.tenant,
          user: null,
          tier,
          model: r.model,
          attributes: {},
          windowStartMs: r.windowStartMs,
          windowEndMs: r.windowEndMs,
          quantities: { tokens: input + output },
          resets: 0,
          gaps: 0,
          samples: 0,
          series: 0,
        },
        billable: true,
        inputTokens: input,
        outputTokens: output,
        totalTokens: input + output,
        requests: 0,
        limitedRequests: 0,
        reconciliationKey: reconciliationKey(r.tenant, r.model, r.windowStartMs),
      };
    });

interface Totals {
  /** A model-server row of the group, for its tenant, model and window. */
  readonly row: UsageRow;
  input: number;
  output: number;
}

const makeReconciliation = (
  tenant: string,
  model: string | null,
  windowStartMs: number,
  windowEndMs: number,
  gatewayTokens: number,
  modelInputTokens: number,
  modelOutputTokens: number,
  tolerance: number,
  splitBasis: Reconciliation["splitBasis"],
  apportionedInputTokens: number,
): Reconciliation => {
  const modelTotal = modelInputTokens + modelOutputTokens;
  const diffTokens = gatewayTokens - modelTotal;
  const scale = Math.max(gatewayTokens, modelTotal);
  const diffRatio = scale === 0 ? 0 : diffTokens / scale;
  return {
    tenant,
    model,
    windowStartMs,
    windowEndMs,
    gatewayTokens,
    modelInputTokens,
    modelOutputTokens,
    diffTokens,
    diffRatio,
    flagged: model !== null && Math.abs(diffRatio) > tolerance,
    splitBasis,
    apportionedInputTokens,
    apportionedOutputTokens: gatewayTokens - apportionedInputTokens,
  };
};
