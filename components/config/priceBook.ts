import * as YAML from "yaml";
import { z } from "zod";
import { parsePriceBook } from "../../billing-service/src/pricebook/pricebook";

/*
 * The price book a platform stack hands the billing service (`platform.billing.priceBook`). It is
 * checked with the service's own parser, so a book the service would refuse at start fails
 * `npm run synth` instead of crash-looping the pods after `pulumi up`.
 */

export const priceBookSchema = z
  .union([z.string().min(1), z.record(z.string(), z.unknown())])
  .optional()
  .describe(
    "Price book of the billing service (format: docs/billing-service.md, example: billing-service/pricebook.example.yaml), as a structured object or a YAML string. Rendered into ConfigMap `maas-billing-api-pricebook` and mounted as `MAAS_BILLING_PRICE_BOOK`; a change rolls the billing pods. Omitted: the book baked into the image. Write prices as quoted decimal strings.",
  );

export type PriceBookConfig = z.infer<typeof priceBookSchema>;

/** The YAML text the service reads: a string is taken verbatim (comments kept), an object is serialized. */
export function priceBookText(book: string | Record<string, unknown>): string {
  return typeof book === "string" ? book : YAML.stringify(book);
}

/** The tiers a price book prices, read from one parse of the book. */
export interface PricedTiers {
  /**
   * The tiers priced for `tenant` (list entries and that tenant's contract entries), over all the
   * book's versions, sorted; undefined when it prices every tier (a `*` tier entry). Another
   * tenant's contract does not count.
   */
  forTenant(tenant: string): string[] | undefined;
  /** Tenants named by contract entries of the book, sorted. */
  readonly contractTenants: string[];
}

/**
 * Parses the book once and answers per tenant from that parse: a platform asks for every tenant,
 * and parsing the book per tenant made a 10,000-tenant config take about 18 s to check.
 */
export function pricedTiers(book: string | Record<string, unknown>): PricedTiers {
  const entries = parsePriceBook(priceBookText(book), "price book").versions.flatMap((v) => v.prices);
  const list = new Set<string>();
  const contracts = new Map<string, Set<string>>();
  for (const p of entries) {
    if (p.tenant === undefined) list.add(p.tier);
    else contracts.set(p.tenant, (contracts.get(p.tenant) ?? new Set<string>()).add(p.tier));
  }
  return {
    forTenant(tenant) {
      const tiers = new Set([...list, ...(contracts.get(tenant) ?? [])]);
      return tiers.has("*") ? undefined : [...tiers].sort();
    },
    contractTenants: [...contracts.keys()].sort(),
  };
}

/** Why the billing service would refuse this price book, one line per problem; empty when it is fine. */
export function priceBookProblems(book: string | Record<string, unknown>): string[] {
  try {
    parsePriceBook(priceBookText(book), "price book");
    return [];
  } catch (error) {
    return (error instanceof Error ? error.message : String(error)).split("\n").filter((line) => line.trim() !== "");
  }
}
