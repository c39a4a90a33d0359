/**
 * Turns aggregated ledger quantities into invoice lines with exact amounts (money.ts rule).
 */
import { allocate, formatPrice, formatScaled, PRICE_SCALE } from "../pricebook/money";
import { findPrice, type PriceBook, type PriceVersion } from "../pricebook/pricebook";

export type Component = "input_tokens" | "output_tokens" | "requests";

/** One (tier, model, price version) group of ledger rows. */
export interface UsageGroup {
  readonly tier: string;
  readonly model: string;
  readonly priceVersionId: string;
  readonly inputTokens: bigint;
  readonly outputTokens: bigint;
  readonly requests: bigint;
  readonly ledgerRows: number;
  readonly origins: string[];
  readonly resets: number;
  readonly gaps: number;
  readonly firstWindow: string;
  readonly lastWindow: string;
}

export interface PricedLine {
  readonly lineNo: number;
  readonly tier: string;
  readonly model: string;
  readonly component: Component;
  readonly priceVersionId: string;
  readonly quantity: bigint;
  readonly unit: string;
  readonly unitPrice: string;
  readonly amountMinor: bigint;
  readonly lineage: Record<string, unknown>;
}

/** All exact amounts are numerators over this denominator, in minor units. */
const DENOMINATOR = PRICE_SCALE * 1_000_000n;

export class UnpricedUsageError extends Error {}

export const priceGroups = (book: PriceBook, groups: readonly UsageGroup[]): { lines: PricedLine[]; totalMinor: bigint } => {
  const digits = 10n ** BigInt(book.minorUnitDigits);
  const byId = new Map<string, PriceVersion>(book.versions.map((v) => [v.id, v]));
  const drafts: Array<Omit<PricedLine, "amountMinor" | "lineNo"> & { numerator: bigint }> = [];
  const missing: string[] = [];
  for (const g of groups) {
    const version = byId.get(g.priceVersionId);
    const price = version && findPrice(version, g.tier, g.model);
    if (!version || !price) {
      missing.push(`tier ${JSON.stringify(g.tier)} model ${JSON.stringify(g.model)} in version ${g.priceVersionId}`);
      continue;
    }
    const lineage = {
      priceVersionId: g.priceVersionId,
      priceEntry: { tier: price.tier, model: price.model },
      ledgerRows: g.ledgerRows,
      origins: g.origins,
      firstWindow: g.firstWindow,
      lastWindow: g.lastWindow,
      dataQuality: { counterResets: g.resets, scrapeGaps: g.gaps },
    };
    const components: Array<[Component, bigint, bigint, string, string, bigint]> = [
      ["input_tokens", g.inputTokens, price.inputPerMillion, "1M tokens", price.text.inputPerMillionTokens, 1n],
      ["output_tokens", g.outputTokens, price.outputPerMillion, "1M tokens", price.text.outputPerMillionTokens, 1n],
      ["requests", g.requests, price.perRequest, "request", price.text.perRequest, 1_000_000n],
    ];
    for (const [component, quantity, scaledPrice, unit, , perUnitFactor] of components) {
      if (quantity === 0n) continue;
      drafts.push({
        tier: g.tier,
        model: g.model,
        component,
        priceVersionId: g.priceVersionId,
        quantity,
        unit,
        unitPrice: formatPrice(scaledPrice),
        lineage,
        numerator: quantity * scaledPrice * digits * perUnitFactor,
      });
    }
  }
  if (missing.length > 0) throw new UnpricedUsageError(`the price book has no price for: ${missing.join("; ")}`);
  const { totalMinor, linesMinor } = allocate(
    drafts.map((d) => d.numerator),
    DENOMINATOR,
  );
  const lines = drafts.map(({ numerator, ...d }, i) => ({
    ...d,
    lineNo: i + 1,
    amountMinor: linesMinor[i],
    lineage: { ...d.lineage, exactAmountMinor: `${numerator}/${DENOMINATOR}` },
  }));
  return { lines, totalMinor };
};

export const formatMinor = (amount: bigint, book: Pick<PriceBook, "minorUnitDigits">): string => formatScaled(amount, book.minorUnitDigits);
