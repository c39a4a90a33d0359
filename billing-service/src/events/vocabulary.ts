/**
 * The tier and model names the service accepts in events and quota checks. Every distinct value
 * becomes a ledger key and a label on /metrics, so an open vocabulary lets one tenant token explode
 * the series count (one 2.8 MB POST of random names added 45,000 series). A dimension is closed when
 * the price book names at least one value for it (a `*` entry is a fallback price, not a name) or
 * the operator lists the names (MAAS_BILLING_MODELS / MAAS_BILLING_TIERS, e.g. the registered model
 * routes); an unknown value is a 400 naming the field.
 */
import type { PriceBook } from "../pricebook/pricebook";

export interface Vocabulary {
  /** Accepted values per field; undefined means the field is open (nothing names its values). */
  readonly tier?: ReadonlySet<string>;
  readonly model?: ReadonlySet<string>;
}

export const vocabularyOf = (book: PriceBook, extra: { tiers?: readonly string[]; models?: readonly string[] } = {}): Vocabulary => {
  const named = (field: "tier" | "model", listed: readonly string[] = []): ReadonlySet<string> | undefined => {
    const names = new Set(listed);
    for (const v of book.versions) for (const p of v.prices) if (p[field] !== "*") names.add(p[field]);
    return names.size > 0 ? names : undefined;
  };
  return { tier: named("tier", extra.tiers), model: named("model", extra.models) };
};

/** The accepted names of the price book in force (cached per book object) plus the listed extras. */
export const vocabularySource = (getBook: () => PriceBook, extra: { tiers?: readonly string[]; models?: readonly string[] } = {}): (() => Vocabulary) => {
  const cache = new WeakMap<PriceBook, Vocabulary>();
  return () => {
    const book = getBook();
    let v = cache.get(book);
    if (!v) cache.set(book, (v = vocabularyOf(book, extra)));
    return v;
  };
};

export interface VocabularyIssue {
  readonly index?: number;
  readonly field: "tier" | "model";
  readonly message: string;
}

/** A 400 with issues shaped like the schema validation's (app.ts's error handler answers it). */
export class InvalidRequestError extends Error {
  readonly statusCode = 400;
  constructor(readonly issues: readonly VocabularyIssue[]) {
    super(issues.map((i) => `${i.index !== undefined ? `events.${i.index}.` : ""}${i.field}: ${i.message}`).join("; "));
  }
}

const MAX_ISSUES = 20;

const shown = (values: ReadonlySet<string>): string => {
  const list = [...values].sort();
  return list.length > 10 ? `${list.slice(0, 10).join(", ")}, ... (${list.length})` : list.join(", ");
};

/** Unknown tier/model values of `items` (at most 20 issues: a flood of names gets a short answer). */
export const unknownValues = (vocabulary: Vocabulary, items: ReadonlyArray<{ tier?: string; model?: string }>, indexed: boolean): VocabularyIssue[] => {
  const issues: VocabularyIssue[] = [];
  items.forEach((item, index) => {
    for (const field of ["tier", "model"] as const) {
      const allowed = vocabulary[field];
      const value = item[field];
      if (issues.length >= MAX_ISSUES || !allowed || value === undefined || allowed.has(value)) continue;
      const fix = field === "tier" ? "add it to the price book" : "add a price for it or list it in MAAS_BILLING_MODELS";
      issues.push({
        ...(indexed ? { index } : {}),
        field,
        message: `unknown ${field} ${JSON.stringify(value.slice(0, 64))}: not one of ${shown(allowed)} (${fix})`,
      });
    }
  });
  return issues;
};
