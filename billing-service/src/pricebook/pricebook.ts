/**
 * The price book: a YAML file of effective-dated versions, each pricing (tier, model) per million
 * input tokens, per million output tokens and per request. A version applies from its
 * effectiveFrom until the next one, so a price change never reaches back before its date.
 * An entry with `tenant` is that tenant's contract price: it overrides the list price for that
 * tenant only (lookup in cost.ts `priceFor`) and is effective-dated with its version like the rest.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { z } from "zod";
import { parseDecimal } from "./money";

const decimalText = z
  .string({ error: 'write prices as quoted decimal strings, e.g. "3.00" (YAML numbers would be floats)' })
  .regex(/^\d+(\.\d{1,12})?$/, 'expected a non-negative decimal with at most 12 places, e.g. "3.00"');

const priceSchema = z.object({
  /** Contract price of this tenant (overrides the list entries for it); omitted = list price. */
  tenant: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "expected a tenant name (lowercase letters, digits, '-')").optional(),
  tier: z.string().min(1),
  model: z.string().min(1),
  inputPerMillionTokens: decimalText,
  outputPerMillionTokens: decimalText,
  perRequest: decimalText,
});

/**
 * How Go prints a time.Time: the Pulumi CLI reads an unquoted `effectiveFrom: 2026-01-01T00:00:00Z` in a
 * stack file as a YAML timestamp and hands the program this rendering of it instead of the text.
 */
const GO_TIMESTAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)? [+-]\d{4} [A-Z]+$/;

const versionSchema = z.object({
  effectiveFrom: z.iso.datetime({
    offset: true,
    error: (issue) =>
      typeof issue.input === "string" && GO_TIMESTAMP.test(issue.input)
        ? `got "${issue.input}", which is how Pulumi passes an unquoted YAML timestamp: quote the date in Pulumi.<stack>.yaml, e.g. effectiveFrom: "2026-01-01T00:00:00Z"`
        : 'expected an ISO date-time like "2026-01-01T00:00:00Z"',
  }),
  note: z.string().optional(),
  prices: z.array(priceSchema).min(1),
});

const bookSchema = z.object({
  currency: z.string().regex(/^[A-Z]{3}$/, "expected an ISO 4217 code like USD"),
  minorUnitDigits: z.number().int().min(0).max(4).default(2),
  versions: z.array(versionSchema).min(1),
});

export type PriceBookFile = z.infer<typeof bookSchema>;

export interface Price {
  /** Set on a tenant's contract entry; undefined on list entries. */
  readonly tenant?: string;
  readonly tier: string;
  readonly model: string;
  /** Prices scaled by 10^12 (see money.ts). */
  readonly inputPerMillion: bigint;
  readonly outputPerMillion: bigint;
  readonly perRequest: bigint;
  readonly text: z.infer<typeof priceSchema>;
}

export interface PriceVersion {
  /** Stable id: effective date plus a hash of the version's content. */
  readonly id: string;
  readonly effectiveFrom: Date;
  readonly content: z.infer<typeof versionSchema>;
  readonly prices: readonly Price[];
}

export interface PriceBook {
  readonly currency: string;
  readonly minorUnitDigits: number;
  /** Sorted by effectiveFrom. */
  readonly versions: readonly PriceVersion[];
}

export class PriceBookError extends Error {}

export const parsePriceBook = (text: string, origin = "price book"): PriceBook => {
  const parsed = bookSchema.safeParse(parse(text));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${origin}: ${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new PriceBookError(lines.join("\n"));
  }
  const book = parsed.data;
  const versions = book.versions
    .map((v): PriceVersion => {
      const effectiveFrom = new Date(v.effectiveFrom);
      const hash = createHash("sha256").update(JSON.stringify({ currency: book.currency, digits: book.minorUnitDigits, v })).digest("hex").slice(0, 12);
      const seen = new Set<string>();
      for (const p of v.prices) {
        const key = `${p.tenant ? `tenant ${p.tenant}: ` : ""}${p.tier}/${p.model}`;
        if (seen.has(key)) throw new PriceBookError(`${origin}: version ${v.effectiveFrom}: ${key} priced twice`);
        seen.add(key);
      }
      return {
        id: `${effectiveFrom.toISOString()}#${hash}`,
        effectiveFrom,
        content: v,
        prices: v.prices.map((p) => ({
          ...(p.tenant ? { tenant: p.tenant } : {}),
          tier: p.tier,
          model: p.model,
          inputPerMillion: parseDecimal(p.inputPerMillionTokens),
          outputPerMillion: parseDecimal(p.outputPerMillionTokens),
          perRequest: parseDecimal(p.perRequest),
          text: p,
        })),
      };
    })
    .sort((a, b) => a.effectiveFrom.getTime() - b.effectiveFrom.getTime());
  for (let i = 1; i < versions.length; i++) {
    if (versions[i].effectiveFrom.getTime() === versions[i - 1].effectiveFrom.getTime()) {
      throw new PriceBookError(`${origin}: two versions take effect at ${versions[i].effectiveFrom.toISOString()}`);
    }
  }
  return { currency: book.currency, minorUnitDigits: book.minorUnitDigits, versions };
};

export const loadPriceBook = (file: string): PriceBook => parsePriceBook(readFileSync(file, "utf8"), file);

/** The versions in force at some instant of [from, to), oldest first. */
export const versionsInRange = (book: PriceBook, from: Date, to: Date): PriceVersion[] => {
  const result: PriceVersion[] = [];
  for (let i = 0; i < book.versions.length; i++) {
    const v = book.versions[i];
    const next = book.versions[i + 1];
    const endsAt = next ? next.effectiveFrom.getTime() : Infinity;
    if (v.effectiveFrom.getTime() < to.getTime() && endsAt > from.getTime()) result.push(v);
  }
  return result;
};

export const versionAt = (book: PriceBook, at: Date): PriceVersion | undefined =>
  versionsInRange(book, at, new Date(at.getTime() + 1))[0];
