/** Cost of a prospective request for the currency quota, rounded UP to the minor unit (never under-counts). */
import { COST_DENOMINATOR, usageCostNumerator } from "../pricebook/cost";
import { findPrice, versionAt, type PriceBook } from "../pricebook/pricebook";

export const estimateCostMinor = (
  book: PriceBook,
  at: Date,
  usage: { tier: string; model: string; inputTokens: bigint; outputTokens: bigint; requests: bigint },
): bigint | undefined => {
  const version = versionAt(book, at);
  const price = version && findPrice(version, usage.tier, usage.model);
  if (!price) return undefined;
  const numerator = usageCostNumerator(usage, price, book.minorUnitDigits);
  return (numerator + COST_DENOMINATOR - 1n) / COST_DENOMINATOR;
};
