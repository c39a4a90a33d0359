/**
 * The one pricing rule: the exact cost of usage at a price, as a numerator over COST_DENOMINATOR
 * in minor units (prices are scaled by 10^12 and quoted per million tokens or per request).
 * Invoices (invoices/pricing.ts), quota estimates (quota/cost.ts) and the cost metrics
 * (ops/metrics.ts) all price through here, so they cannot drift apart; they differ only in how
 * they round (money.ts `allocate` for invoices and metrics, up for quota estimates).
 */
import { PRICE_SCALE } from "./money";
import type { Price } from "./pricebook";

/** Every exact amount is a numerator over this denominator, in minor units. */
export const COST_DENOMINATOR = PRICE_SCALE * 1_000_000n;

export type CostComponent = "input_tokens" | "output_tokens" | "requests";

export interface PricedUsage {
  readonly inputTokens: bigint;
  readonly outputTokens: bigint;
  readonly requests: bigint;
}

/** Exact cost numerator of `quantity` units of one component at `price`. */
export const componentCostNumerator = (component: CostComponent, quantity: bigint, price: Price, minorUnitDigits: number): bigint => {
  const minor = 10n ** BigInt(minorUnitDigits);
  switch (component) {
    case "input_tokens":
      return quantity * price.inputPerMillion * minor;
    case "output_tokens":
      return quantity * price.outputPerMillion * minor;
    case "requests":
      // Per-request prices are per unit, token prices per million: bring them to one denominator.
      return quantity * price.perRequest * 1_000_000n * minor;
  }
};

/** Exact cost numerator of a usage (all three components) at `price`. */
export const usageCostNumerator = (usage: PricedUsage, price: Price, minorUnitDigits: number): bigint =>
  componentCostNumerator("input_tokens", usage.inputTokens, price, minorUnitDigits) +
  componentCostNumerator("output_tokens", usage.outputTokens, price, minorUnitDigits) +
  componentCostNumerator("requests", usage.requests, price, minorUnitDigits);
