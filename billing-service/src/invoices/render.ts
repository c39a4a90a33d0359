/**
 * Invoice output formats: JSON (the Invoice object), CSV (one row per line) and a FinOps FOCUS
 * 1.0 style CSV (one charge row per line) for cost tools.
 */
import { formatScaled } from "../pricebook/money";
import { toCsv } from "../export/csv";
import type { Invoice } from "./store";

const INVOICE_COLUMNS = [
  "invoice",
  "tenant",
  "period",
  "kind",
  "status",
  "line",
  "tier",
  "model",
  "component",
  "quantity",
  "unit",
  "unit_price",
  "currency",
  "amount_minor",
  "amount",
  "price_version",
  "ledger_rows",
  "counter_resets",
  "scrape_gaps",
] as const;

export const invoiceToCsv = (invoice: Invoice): string =>
  toCsv(
    invoice.lines.map((l) => {
      const quality = (l.lineage.dataQuality ?? {}) as { counterResets?: number; scrapeGaps?: number };
      return {
        invoice: invoice.number,
        tenant: invoice.tenant,
        period: invoice.period,
        kind: invoice.kind,
        status: invoice.status,
        line: l.lineNo,
        tier: l.tier,
        model: l.model,
        component: l.component,
        quantity: l.quantity,
        unit: l.unit,
        unit_price: l.unitPrice,
        currency: invoice.currency,
        amount_minor: l.amountMinor,
        amount: l.amount,
        price_version: l.priceVersionId,
        ledger_rows: l.lineage.ledgerRows,
        counter_resets: quality.counterResets ?? 0,
        scrape_gaps: quality.scrapeGaps ?? 0,
      };
    }),
    INVOICE_COLUMNS,
  );

/** The FOCUS version the export follows (also written in every row, column x_FocusVersion). */
export const FOCUS_VERSION = "1.2";

/**
 * The 57 columns of FOCUS 1.2 (https://focus.finops.org/focus-specification/v1-2/, column IDs of
 * specification/columns/*.md in github.com/FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec), in the
 * order this export always wrote its first ones, then the custom columns (x_ prefix, as the spec
 * requires for provider-defined columns). Columns that do not apply to LLM usage (regions,
 * commitments, capacity reservations) are present and null, as the spec allows for conditional
 * columns.
 */
export const FOCUS_1_2_COLUMNS = [
  "BilledCost",
  "EffectiveCost",
  "ListCost",
  "ContractedCost",
  "BillingCurrency",
  "BillingAccountId",
  "BillingAccountName",
  "BillingPeriodStart",
  "BillingPeriodEnd",
  "ChargePeriodStart",
  "ChargePeriodEnd",
  "ChargeCategory",
  "ChargeClass",
  "ChargeDescription",
  "ChargeFrequency",
  "ConsumedQuantity",
  "ConsumedUnit",
  "PricingQuantity",
  "PricingUnit",
  "PricingCategory",
  "ListUnitPrice",
  "ContractedUnitPrice",
  "InvoiceIssuerName",
  "ProviderName",
  "PublisherName",
  "ResourceId",
  "ResourceName",
  "ResourceType",
  "ServiceCategory",
  "ServiceName",
  "SkuId",
  "SkuPriceId",
  "SubAccountId",
  "SubAccountName",
  "Tags",
  "AvailabilityZone",
  "BillingAccountType",
  "CapacityReservationId",
  "CapacityReservationStatus",
  "CommitmentDiscountCategory",
  "CommitmentDiscountId",
  "CommitmentDiscountName",
  "CommitmentDiscountQuantity",
  "CommitmentDiscountStatus",
  "CommitmentDiscountType",
  "CommitmentDiscountUnit",
  "InvoiceId",
  "PricingCurrency",
  "PricingCurrencyContractedUnitPrice",
  "PricingCurrencyEffectiveCost",
  "PricingCurrencyListUnitPrice",
  "RegionId",
  "RegionName",
  "ServiceSubcategory",
  "SkuMeter",
  "SkuPriceDetails",
  "SubAccountType",
] as const;

const FOCUS_COLUMNS = [...FOCUS_1_2_COLUMNS, "x_FocusVersion", "x_InvoiceStatus", "x_Tier", "x_PriceVersionId"] as const;

const SKU_METER: Record<string, string> = { input_tokens: "Input Tokens", output_tokens: "Output Tokens", requests: "Requests" };

/** FOCUS rows of final (or draft, if asked) invoices. Token quantities are priced per 1M tokens. */
export const invoicesToFocus = (invoices: readonly Invoice[]): string =>
  toCsv(
    invoices.flatMap((inv) =>
      inv.lines.map((l) => {
        const perMillion = l.unit === "1M tokens";
        // A contract line carries what the list would have charged (invoices/pricing.ts); else list = contracted.
        const list = l.lineage as { listUnitPrice?: string; listAmountMinor?: string };
        const pricingQuantity = perMillion ? formatScaled(BigInt(l.quantity), 6) : l.quantity;
        return {
          BilledCost: l.amount,
          EffectiveCost: l.amount,
          ListCost: list.listAmountMinor !== undefined ? formatScaled(BigInt(list.listAmountMinor), inv.minorUnitDigits) : l.amount,
          ContractedCost: l.amount,
          BillingCurrency: inv.currency,
          BillingAccountId: inv.tenant,
          BillingAccountName: inv.tenant,
          BillingPeriodStart: inv.periodStart,
          BillingPeriodEnd: inv.periodEnd,
          ChargePeriodStart: inv.periodStart,
          ChargePeriodEnd: inv.periodEnd,
          ChargeCategory: inv.kind === "adjustment" ? "Adjustment" : "Usage",
          ChargeClass: inv.kind === "adjustment" ? "Correction" : null,
          ChargeDescription: `${l.model} ${l.component.replace("_", " ")} (${l.tier})`,
          ChargeFrequency: "Usage-Based",
          ConsumedQuantity: l.quantity,
          ConsumedUnit: l.component === "requests" ? "Requests" : "Tokens",
          PricingQuantity: pricingQuantity,
          PricingUnit: perMillion ? "1M Tokens" : "Requests",
          PricingCategory: "Standard",
          ListUnitPrice: list.listUnitPrice ?? l.unitPrice,
          ContractedUnitPrice: l.unitPrice,
          InvoiceIssuerName: "maas-billing",
          ProviderName: "maas-billing",
          PublisherName: "maas-billing",
          ResourceId: l.model,
          ResourceName: l.model,
          ResourceType: "Model",
          ServiceCategory: "AI and Machine Learning",
          ServiceName: "Models as a Service",
          // One SKU per model, tier and meter: input and output tokens are separate SKUs.
          SkuId: `${l.tier}/${l.model}/${l.component}`,
          SkuPriceId: `${l.priceVersionId}/${l.tier}/${l.model}/${l.component}`,
          SubAccountId: inv.tenant,
          SubAccountName: inv.tenant,
          // The usage's attribute labels (organization_id, cost_center, ...) first, so ours win a clash.
          Tags: { ...l.dimensions, invoice: inv.number, status: inv.status, tier: l.tier },
          AvailabilityZone: null,
          BillingAccountType: "Tenant",
          CapacityReservationId: null,
          CapacityReservationStatus: null,
          CommitmentDiscountCategory: null,
          CommitmentDiscountId: null,
          CommitmentDiscountName: null,
          CommitmentDiscountQuantity: null,
          CommitmentDiscountStatus: null,
          CommitmentDiscountType: null,
          CommitmentDiscountUnit: null,
          InvoiceId: inv.number,
          PricingCurrency: inv.currency,
          PricingCurrencyContractedUnitPrice: l.unitPrice,
          PricingCurrencyEffectiveCost: l.amount,
          PricingCurrencyListUnitPrice: list.listUnitPrice ?? l.unitPrice,
          RegionId: null,
          RegionName: null,
          ServiceSubcategory: "Generative AI",
          SkuMeter: SKU_METER[l.component] ?? l.component,
          // KeyValueFormat, PascalCase keys, none starting with F_ (reserved for FOCUS-defined ones).
          SkuPriceDetails: {
            Model: l.model,
            Tier: l.tier,
            ...(l.component === "requests" ? {} : { TokenDirection: l.component === "input_tokens" ? "Input" : "Output" }),
            PricingUnit: perMillion ? "1M Tokens" : "Requests",
          },
          SubAccountType: "Tenant",
          x_FocusVersion: FOCUS_VERSION,
          x_InvoiceStatus: inv.status,
          x_Tier: l.tier,
          x_PriceVersionId: l.priceVersionId,
        };
      }),
    ),
    FOCUS_COLUMNS,
  );
