/**
 * The FOCUS export follows FOCUS 1.2: every column of the spec's column list is present, custom
 * columns carry the x_ prefix, the version is stated in every row, input and output tokens are
 * separate SKUs with their meter and price details (model identity), and the billed cost adds up
 * to the invoice total. Column list: FOCUS 1.2, https://focus.finops.org/focus-specification/v1-2/
 * (column IDs of specification/columns/ in github.com/FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createInvoice, finalizeInvoice } from "../src/invoices/store";
import { FOCUS_VERSION, invoicesToFocus } from "../src/invoices/render";
import { ingestEvents } from "../src/events/ingest";
import { startBillingDb, testPriceBook, usageEvent, type BillingTestDb } from "./support/billing-db";

/** FOCUS 1.2's 57 columns, written out here independently of the exporter (alphabetical). */
const FOCUS_1_2 = [
  "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingAccountType", "BillingCurrency",
  "BillingPeriodEnd", "BillingPeriodStart", "CapacityReservationId", "CapacityReservationStatus", "ChargeCategory",
  "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
  "CommitmentDiscountCategory", "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountQuantity",
  "CommitmentDiscountStatus", "CommitmentDiscountType", "CommitmentDiscountUnit", "ConsumedQuantity", "ConsumedUnit",
  "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "InvoiceId", "InvoiceIssuerName", "ListCost", "ListUnitPrice",
  "PricingCategory", "PricingCurrency", "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost",
  "PricingCurrencyListUnitPrice", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "RegionId",
  "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName", "ServiceSubcategory",
  "SkuId", "SkuMeter", "SkuPriceDetails", "SkuPriceId", "SubAccountId", "SubAccountName", "SubAccountType", "Tags",
];
/** Mandatory in FOCUS 1.2: never null. */
const MANDATORY = ["BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeDescription", "ChargePeriodEnd", "ChargePeriodStart", "ContractedCost", "EffectiveCost", "ListCost", "ServiceName"];

/** Minimal RFC 4180 reader (quoted cells with doubled quotes), enough for this export. */
const parseCsv = (text: string): string[][] => {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") row.push(cell), (cell = "");
    else if (c === "\n") row.push(cell), rows.push(row), (row = []), (cell = "");
    else cell += c;
  }
  return rows;
};

let db: BillingTestDb;
beforeAll(async () => {
  db = await startBillingDb();
});
afterAll(async () => {
  await db?.stop();
});

describe("FOCUS 1.2 export", () => {
  it("has every FOCUS 1.2 column, x_-prefixed custom columns, the version, and separate input/output SKUs with model identity", async () => {
    const book = testPriceBook();
    await ingestEvents(db.pool, [
      { ...usageEvent({ id: "f1", time: "2026-05-02T10:00:00Z", inputTokens: 1_000_000, outputTokens: 250_000, requests: 3 }) },
      { ...usageEvent({ id: "f2", time: "2026-05-03T10:00:00Z", model: "granite", tier: "free", inputTokens: 500, outputTokens: 0 }) },
    ] as never);
    const created = await createInvoice(db.pool, book, "acme", "2026-05");
    if (!created.created) throw new Error("no invoice");
    const invoice = await finalizeInvoice(db.pool, "acme", created.invoice.id);
    const [header, ...rows] = parseCsv(invoicesToFocus([invoice]));
    const custom = header.filter((c) => !FOCUS_1_2.includes(c));
    expect(FOCUS_1_2.filter((c) => !header.includes(c))).toEqual([]);
    expect(custom.every((c) => c.startsWith("x_"))).toBe(true);
    expect(new Set(header).size).toBe(header.length);
    const records = rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
    expect(records.length).toBe(invoice.lines.length);
    for (const r of records) {
      for (const column of MANDATORY) expect(r[column], column).not.toBe("");
      expect(r.x_FocusVersion).toBe(FOCUS_VERSION);
      expect(FOCUS_VERSION).toBe("1.2");
    }
    const llamaIn = records.find((r) => r.SkuId === "premium/llama/input_tokens")!;
    const llamaOut = records.find((r) => r.SkuId === "premium/llama/output_tokens")!;
    expect(llamaIn.SkuMeter).toBe("Input Tokens");
    expect(llamaOut.SkuMeter).toBe("Output Tokens");
    expect(JSON.parse(llamaIn.SkuPriceDetails)).toEqual({ Model: "llama", Tier: "premium", TokenDirection: "Input", PricingUnit: "1M Tokens" });
    expect(JSON.parse(llamaOut.SkuPriceDetails)).toMatchObject({ Model: "llama", TokenDirection: "Output" });
    expect(Object.keys(JSON.parse(llamaIn.SkuPriceDetails)).every((k) => /^[A-Z][A-Za-z]*$/.test(k) && !k.startsWith("F_"))).toBe(true);
    expect(records.find((r) => r.SkuId === "premium/llama/requests")!.SkuMeter).toBe("Requests");
    expect(llamaIn.InvoiceId).toBe(invoice.number);
    // Billed cost adds up to the invoice total, to the minor unit (no floats: decimal strings).
    const minor = (s: string) => BigInt(s.replace(".", ""));
    expect(records.reduce((a, r) => a + minor(r.BilledCost), 0n)).toBe(BigInt(invoice.totalMinor));
  });
});
