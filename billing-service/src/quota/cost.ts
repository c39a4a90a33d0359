/** Cost of a prospective request for the currency quota, rounded UP to the minor unit (never under-counts). */
import { COST_DENOMINATOR, priceFor, usageCostNumerator } from "../pricebook/cost";
import { versionAt, type PriceBook } from "../pricebook/pricebook";

export const estimateCostMinor = (
  book: PriceBook,
  at: Date,
  usage: { tenant: string; tier: string; model: string; inputTokens: bigint; outputTokens: bigint; requests: bigint },
): bigint | undefined => {
  const version = versionAt(book, at);
  const price = version && priceFor(version, usage);
  if (!price) return undefined;
  const numerator = usageCostNumerator(usage, price, book.minorUnitDigits);
  return (numerator + COST_DENOMINATOR - 1n) / COST_DENOMINATOR;
};
