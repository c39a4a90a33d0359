/** Cost of a prospective request for the currency quota, rounded UP to the minor unit (never under-counts). */
import { PRICE_SCALE } from "../pricebook/money";
import { findPrice, versionAt, type PriceBook } from "../pricebook/pricebook";

export const estimateCostMinor = (
  book: PriceBook,
  at: Date,
  usage: { tier: string; model: string; inputTokens: bigint; outputTokens: bigint; requests: bigint },
): bigint | undefined => {
  const version = versionAt(book, at);
  const price = version && findPrice(version, usage.tier, usage.model);
  if (!price) return undefined;
  const numerator =
    (usage.inputTokens * price.inputPerMillion + usage.outputTokens * price.outputPerMillion + usage.requests * price.perRequest * 1_000_000n) *
    10n ** BigInt(book.minorUnitDigits);
  const denominator = PRICE_SCALE * 1_000_000n;
  return (numerator + denominator - 1n) / denominator;
};
