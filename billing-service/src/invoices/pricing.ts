/**
 * Turns aggregated ledger quantities into invoice lines with exact amounts (money.ts rule).
 */
import { componentCostNumerator, COST_DENOMINATOR, type CostComponent } from "../pricebook/cost";
import { allocate, formatPrice } from "../pricebook/money";
import { findPrice, type PriceBook, type PriceVersion } from "../pricebook/pricebook";

export type Component = CostComponent;

/** One (tier, model, price version) group of ledger rows. */
export interface UsageGroup {
  readonly tier: string;
  readonly model: string;
  /** Attribute labels of the usage (organization_id, cost_center, ...); {} or absent = none. */
  readonly dimensions?: Readonly<Record<string, string>>;
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

/** A group priced only for its amounts (metrics, usage reports): no invoice lineage. */
export const amountOnlyGroup = (
  g: Pick<UsageGroup, "tier" | "model" | "dimensions" | "priceVersionId" | "inputTokens" | "outputTokens" | "requests">,
): UsageGroup => ({ ...g, ledgerRows: 0, origins: [], resets: 0, gaps: 0, firstWindow: "", lastWindow: "" });

export interface PricedLine {
  readonly lineNo: number;
  readonly tier: string;
  readonly model: string;
  readonly component: Component;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly priceVersionId: string;
  readonly quantity: bigint;
  readonly unit: string;
  readonly unitPrice: string;
  readonly amountMinor: bigint;
  readonly lineage: Record<string, unknown>;
}

export class UnpricedUsageError extends Error {}

export const priceGroups = (book: PriceBook, groups: readonly UsageGroup[]): { lines: PricedLine[]; totalMinor: bigint } => {
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
    const components: Array<[Component, bigint, bigint, string]> = [
      ["input_tokens", g.inputTokens, price.inputPerMillion, "1M tokens"],
      ["output_tokens", g.outputTokens, price.outputPerMillion, "1M tokens"],
      ["requests", g.requests, price.perRequest, "request"],
    ];
    for (const [component, quantity, scaledPrice, unit] of components) {
      if (quantity === 0n) continue;
      drafts.push({
        tier: g.tier,
        model: g.model,
        component,
        dimensions: g.dimensions ?? {},
        priceVersionId: g.priceVersionId,
        quantity,
        unit,
        unitPrice: formatPrice(scaledPrice),
        lineage,
        numerator: componentCostNumerator(component, quantity, price, book.minorUnitDigits),
      });
    }
  }
  if (missing.length > 0) throw new UnpricedUsageError(`the price book has no price for: ${missing.join("; ")}`);
  const { totalMinor, linesMinor } = allocate(
    drafts.map((d) => d.numerator),
    COST_DENOMINATOR,
  );
  const lines = drafts.map(({ numerator, ...d }, i) => ({
    ...d,
    lineNo: i + 1,
    amountMinor: linesMinor[i],
    lineage: { ...d.lineage, exactAmountMinor: `${numerator}/${COST_DENOMINATOR}` },
  }));
  return { lines, totalMinor };
};
