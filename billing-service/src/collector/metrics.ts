/**
 * The collector's Prometheus metrics (names from docs/contract.md). They count findings, not
 * collections: re-collecting a window adds only resets and gaps it did not record before.
 */
import { Counter, Gauge, type Registry } from "prom-client";

export interface CollectorMetrics {
  readonly lagSeconds: Gauge<"source">;
  readonly counterResets: Counter<"tenant" | "source">;
  readonly gaps: Counter<"tenant" | "source">;
  readonly reconciliationDiffRatio: Gauge<"tenant" | "model">;
  readonly unattributedTokens: Counter<"source">;
}

export const createCollectorMetrics = (registry: Registry): CollectorMetrics => ({
  lagSeconds: new Gauge({
    name: "maas_billing_collector_lag_seconds",
    help: "Seconds between now and the end of the last collected window, per source.",
    labelNames: ["source"],
    registers: [registry],
  }),
  counterResets: new Counter({
    name: "maas_billing_collector_counter_resets_total",
    help: "Counter resets (a value drop: Limitador or vLLM restarted) found in collected windows.",
    labelNames: ["tenant", "source"],
    registers: [registry],
  }),
  gaps: new Counter({
    name: "maas_billing_collector_gaps_total",
    help: "Stretches without samples longer than the gap threshold found in collected windows.",
    labelNames: ["tenant", "source"],
    registers: [registry],
  }),
  reconciliationDiffRatio: new Gauge({
    name: "maas_billing_reconciliation_diff_ratio",
    help: "(gateway tokens - model-server tokens) / max of both, for the newest collected window.",
    labelNames: ["tenant", "model"],
    registers: [registry],
  }),
  unattributedTokens: new Counter({
    name: "maas_billing_unattributed_tokens_total",
    help: "Tokens of series that map to no tenant (reported, never billed to anyone).",
    labelNames: ["source"],
    registers: [registry],
  }),
});
