/**
 * Invoices of a tenant. Tenants read their own; creating and finalizing is admin-only.
 */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Pool } from "pg";
import { z } from "zod";
import { invoicesToFocus, invoiceToCsv } from "../invoices/render";
import { createInvoice, finalizeInvoice, getInvoice, listInvoices } from "../invoices/store";
import type { PriceBook } from "../pricebook/pricebook";
import { errorBody, invoiceBody, invoiceListBody, invoiceParams, period, tenantParams } from "../schemas";

const notFound = errorBody.describe("no such invoice of this tenant");


export const registerInvoiceRoutes = (base: FastifyInstance, pool: Pool, priceBook: () => PriceBook): void => {
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.get(
    "/v1/tenants/:tenant/invoices",
    {
      config: { scope: { tenant: "params", action: "invoices.read" } },
      schema: {
        summary: "List a tenant's invoices (optionally of one period)",
        params: tenantParams,
        querystring: z.object({ period: period.optional() }),
        response: { 200: invoiceListBody },
      },
    },
    async (request) => ({ invoices: await listInvoices(pool, request.params.tenant, request.query.period) }),
  );
  app.post(
    "/v1/tenants/:tenant/invoices",
    {
      config: { scope: { tenant: "params", action: "invoices.update" } },
      schema: {
        summary: "Build the draft invoice of a period (an adjustment if the period is already final)",
        params: tenantParams,
        body: z.object({ period, splitBy: z.literal("key").optional().describe("key: one invoice line per API key (access-log usage)") }),
        response: {
          200: z.object({ created: z.literal(false), reason: z.string() }).describe("nothing to adjust: no usage changed since the final invoice"),
          201: invoiceBody,
          422: errorBody.describe("usage the price book has no price for"),
        },
      },
    },
    async (request, reply) => {
      const result = await createInvoice(pool, priceBook(), request.params.tenant, request.body.period, request.body.splitBy ? { splitBy: request.body.splitBy } : {});
      if (!result.created) return reply.code(200).send({ created: false, reason: result.reason });
      return reply.code(201).send(result.invoice);
    },
  );
  app.get(
    "/v1/tenants/:tenant/invoices/:invoice",
    {
      config: { scope: { tenant: "params", action: "invoices.read" } },
      schema: {
        summary: "One invoice as JSON, CSV or FOCUS CSV",
        params: invoiceParams,
        querystring: z.object({ format: z.enum(["json", "csv", "focus"]).default("json") }),
        response: { 200: z.union([invoiceBody, z.string().describe("format=csv or focus: text/csv")]), 404: notFound },
      },
    },
    async (request, reply) => {
      const invoice = await getInvoice(pool, request.params.tenant, request.params.invoice);
      if (request.query.format === "csv") return reply.type("text/csv").send(invoiceToCsv(invoice));
      if (request.query.format === "focus") return reply.type("text/csv").send(invoicesToFocus([invoice]));
      return invoice;
    },
  );
  app.post(
    "/v1/tenants/:tenant/invoices/:invoice/finalize",
    {
      config: { scope: { tenant: "params", action: "invoices.update" } },
      schema: {
        summary: "Finalize a draft: it becomes immutable (later usage goes to an adjustment)",
        description:
          "A draft carrying a blocking flag (meteringShortfall: the gateway counted fewer tokens than the model server served) is refused with 409 unless the body accepts that flag with a reason; the acceptance is sealed into the invoice (flags.acceptedFlags).",
        params: invoiceParams,
        body: z
          .object({
            acceptFlags: z.array(z.enum(["meteringShortfall"])).min(1).describe("blocking flags the admin accepts"),
            reason: z.string().trim().min(1).max(2000).describe("why: recorded in the invoice"),
          })
          .strict()
          .nullish()
          .describe("omit (no body) to finalize a draft without blocking flags"),
        response: { 200: invoiceBody, 404: notFound, 409: errorBody.describe("the invoice is not a draft, carries a blocking flag not accepted, or its ledger changed since the draft was built (rebuild the draft)") },
      },
    },
    async (request) =>
      finalizeInvoice(pool, request.params.tenant, request.params.invoice, {
        ...(request.body ? { accept: { flags: request.body.acceptFlags, reason: request.body.reason, by: request.principal?.name ?? "unknown" } } : {}),
      }),
  );
};
