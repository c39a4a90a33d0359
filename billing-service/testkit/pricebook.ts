/**
 * Price books for the tests, demo and benchmarks, as YAML text the service's own parser reads
 * (src/pricebook/pricebook.ts). Most fixtures need the same two rows, a premium/llama price and a
 * `*` fallback; a second version models a price change.
 */
import { stringify } from "yaml";

export interface KitPrice {
  /** A tenant's contract price (overrides the list for that tenant); omitted: list price. */
  readonly tenant?: string;
  readonly tier: string;
  readonly model: string;
  /** Decimal strings, as in a real price book: money is never a float. */
  readonly inputPerMillionTokens: string;
  readonly outputPerMillionTokens: string;
  readonly perRequest: string;
}

export interface KitPriceVersion {
  /** ISO-8601 instant from which these prices apply. */
  readonly effectiveFrom: string;
  readonly prices: readonly KitPrice[];
}

/** One price row: input and output per million tokens, and per request. */
export const kitPrice = (tier: string, model: string, input: string, output: string, perRequest: string): KitPrice => ({
  tier,
  model,
  inputPerMillionTokens: input,
  outputPerMillionTokens: output,
  perRequest,
});

/** premium/llama at 2.50 / 10.00 per million tokens and 0.002 per request; everything else 1.00 / 2.00, requests free. */
export const BASE_PRICES: readonly KitPrice[] = [kitPrice("premium", "llama", "2.50", "10.00", "0.002"), kitPrice("*", "*", "1.00", "2.00", "0")];

/** premium/llama raised to 4.00 / 12.50 and 0.003; everything else as in BASE_PRICES. */
export const RAISED_PRICES: readonly KitPrice[] = [kitPrice("premium", "llama", "4.00", "12.50", "0.003"), BASE_PRICES[1]];

/** The price book YAML with these versions (USD with 2 minor-unit digits unless told). */
export function priceBookYaml(versions: readonly KitPriceVersion[], currency = "USD", minorUnitDigits = 2): string {
  // Shared rows written out in full, not as YAML aliases: a reader sees every price where it applies.
  return stringify({ currency, minorUnitDigits, versions }, { aliasDuplicateObjects: false });
}
