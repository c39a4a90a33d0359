/**
 * Turns aggregated ledger quantities into invoice lines with exact amounts (money.ts rule).
 */
import { componentCostNumerator, COST_DENOMINATOR, listPrice, priceFor, type CostComponent } from "../pricebook/cost";
import { allocate, formatPrice, roundHalfAwayFromZero } from "../pricebook/money";
import type { PriceBook, PriceVersion } from "../pricebook/pricebook";

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

/** Ledger origin -> the usage source it stands for, as written into invoice lineage. */
const BILLED_FROM: Record<string, string> = { events: "usage events", collector: "gateway counters", "access-log": "gateway access logs" };

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

/**
 * The invoice total of lines whose exact numerators add up to `exactSum` (over COST_DENOMINATOR):
 * the same rounding `priceGroups` applies to its lines (`allocate`). Numerators are linear in the
 * quantities (cost.ts), so a caller that only needs the total (the quota view, refreshed every
 * second) may add row numerators without building lines, and gets the draft invoice's total.
 * That total is allocate()'s: the exact sum rounded half away from zero (money.ts, the rounding
 * rule), computed here without allocate's per-line arrays (the view rounds 2,000 figures a second).
 */
export const totalMinorOfNumerator = (exactSum: bigint): bigint => roundHalfAwayFromZero(exactSum, COST_DENOMINATOR);

/** Prices `tenant`'s usage groups (its contract entries override the list: cost.ts `priceFor`). */
export const priceGroups = (book: PriceBook, tenant: string, groups: readonly UsageGroup[]): { lines: PricedLine[]; totalMinor: bigint } => {
  const byId = new Map<string, PriceVersion>(book.versions.map((v) => [v.id, v]));
  const drafts: Array<Omit<PricedLine, "amountMinor" | "lineNo"> & { numerator: bigint; list?: Record<string, string> }> = [];
  const missing: string[] = [];
  for (const g of groups) {
    const version = byId.get(g.priceVersionId);
    const price = version && priceFor(version, { tenant, tier: g.tier, model: g.model });
    if (!version || !price) {
      missing.push(`tier ${JSON.stringify(g.tier)} model ${JSON.stringify(g.model)} in version ${g.priceVersionId}`);
      continue;
    }
    const lineage = {
      priceVersionId: g.priceVersionId,
      // A contract entry names its tenant, so the lineage says which price was applied.
      priceEntry: { ...(price.tenant ? { tenant: price.tenant } : {}), tier: price.tier, model: price.model },
      ledgerRows: g.ledgerRows,
      origins: g.origins,
      // Which usage source was billed (docs/usage-sources.md: the platform's billableSource picks
      // access logs or the gateway counters; events come from their own senders).
      billedFrom: (g.origins ?? []).map((o) => BILLED_FROM[o] ?? o),
      firstWindow: g.firstWindow,
      lastWindow: g.lastWindow,
      dataQuality: { counterResets: g.resets, scrapeGaps: g.gaps },
    };
    // Under a contract, what the list would have charged (FOCUS ListUnitPrice/ListCost); informational.
    const list = price.tenant !== undefined ? listPrice(version, g.tier, g.model) : undefined;
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
        ...(list
          ? {
              list: {
                listUnitPrice: formatPrice({ input_tokens: list.inputPerMillion, output_tokens: list.outputPerMillion, requests: list.perRequest }[component]),
                listAmountMinor: roundHalfAwayFromZero(componentCostNumerator(component, quantity, list, book.minorUnitDigits), COST_DENOMINATOR).toString(),
              },
            }
          : {}),
      });
    }
  }
  if (missing.length > 0) throw new UnpricedUsageError(`the price book has no price for: ${missing.join("; ")}`);
  const { totalMinor, linesMinor } = allocate(
    drafts.map((d) => d.numerator),
    COST_DENOMINATOR,
  );
  const lines = drafts.map(({ numerator, list, ...d }, i) => ({
    ...d,
    lineNo: i + 1,
    amountMinor: linesMinor[i],
    lineage: { ...d.lineage, exactAmountMinor: `${numerator}/${COST_DENOMINATOR}`, ...list },
  }));
  return { lines, totalMinor };
};
