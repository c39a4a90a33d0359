/**
 * The one pricing rule: the exact cost of usage at a price, as a numerator over COST_DENOMINATOR
 * in minor units (prices are scaled by 10^12 and quoted per million tokens or per request).
 * Invoices (invoices/pricing.ts), quota estimates (quota/cost.ts) and the cost metrics
 * (ops/metrics.ts) all price through here, so they cannot drift apart; they differ only in how
 * they round (money.ts `allocate` for invoices and metrics, up for quota estimates).
 * `priceFor` is the one price lookup, so a tenant's contract price reaches every one of them.
 */
import { PRICE_SCALE } from "./money";
import type { Price, PriceVersion } from "./pricebook";

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

/**
 * The cost numerator of ONE unit of each component at `price`: usageCostNumerator is linear in the
 * quantities (integer products, no rounding until a total is rounded), so
 * usageCostNumerator(u, price) === costNumeratorOf(u, costFactors(price)) exactly. For callers that
 * price many usages at few prices (the quota view's refresh, every second): three products a usage
 * instead of resolving the scale each time.
 */
export interface CostFactors {
  readonly input: bigint;
  readonly output: bigint;
  readonly request: bigint;
}

export const costFactors = (price: Price, minorUnitDigits: number): CostFactors => ({
  input: componentCostNumerator("input_tokens", 1n, price, minorUnitDigits),
  output: componentCostNumerator("output_tokens", 1n, price, minorUnitDigits),
  request: componentCostNumerator("requests", 1n, price, minorUnitDigits),
});

export const costNumeratorOf = (inputTokens: bigint, outputTokens: bigint, requests: bigint, f: CostFactors): bigint =>
  inputTokens * f.input + outputTokens * f.output + requests * f.request;

/** Whose usage, of which tier and model, is being priced. */
export interface PriceKey {
  readonly tenant: string;
  readonly tier: string;
  readonly model: string;
}

const byFallback = (entries: readonly Price[], tier: string, model: string): Price | undefined => {
  for (const [t, m] of [
    [tier, model],
    [tier, "*"],
    ["*", model],
    ["*", "*"],
  ] as const) {
    const hit = entries.find((p) => p.tier === t && p.model === m);
    if (hit) return hit;
  }
  return undefined;
};

/**
 * The price of `key`'s usage in `version`: the tenant's contract entries first (any of them, even
 * `*`/`*`, beats a list entry: a contract is the tenant's price), then the list entries; within each,
 * exact (tier, model), then the tier's `*` model, then `*` tier with the model, then `*`/`*`.
 */
export const priceFor = (version: PriceVersion, key: PriceKey): Price | undefined =>
  byFallback(version.prices.filter((p) => p.tenant === key.tenant), key.tier, key.model) ?? listPrice(version, key.tier, key.model);

/** The list price of (tier, model), ignoring every contract: what is shown to all tenants. */
export const listPrice = (version: PriceVersion, tier: string, model: string): Price | undefined =>
  byFallback(version.prices.filter((p) => p.tenant === undefined), tier, model);

/** The list entries of a version and the contract entries of `tenant` (what that tenant may see). */
export const pricesVisibleTo = (version: PriceVersion, tenant: string | undefined): Price[] =>
  version.prices.filter((p) => p.tenant === undefined || p.tenant === tenant);
