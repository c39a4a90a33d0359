/** GET /v1/tenants/:tenant/usage: the tenant's usage over a range, optionally grouped. */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Pool } from "pg";
import { UnpricedUsageError } from "../invoices/pricing";
import type { PriceBook } from "../pricebook/pricebook";
import { z } from "zod";
import { errorBody, tenantParams, usageReportBody } from "../schemas";
import { GROUP_FIELD_PATTERN, parseGroupBy, queryUsage, usageToCsv } from "../usage/query";

export const registerUsageRoutes = (base: FastifyInstance, pool: Pool, priceBook: () => PriceBook): void => {
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.get(
    "/v1/tenants/:tenant/usage",
    {
      config: { scope: { tenant: "params", action: "usage.read" } },
      schema: {
        summary: "Usage of a tenant in [from, to), optionally grouped by user, model and/or tier",
        params: tenantParams,
        querystring: z.object({
          from: z.iso.datetime({ offset: true }),
          to: z.iso.datetime({ offset: true }),
          groupBy: z
            .string()
            .regex(new RegExp(`^${GROUP_FIELD_PATTERN}(,${GROUP_FIELD_PATTERN})*$`))
            .optional()
            .describe("comma-separated: user, model, tier and/or attribute labels of the usage (e.g. organization_id,cost_center)"),
          format: z.enum(["json", "csv"]).default("json"),
        }),
        response: {
          200: z.union([usageReportBody, z.string().describe("format=csv: text/csv, one row per group")]),
          422: errorBody.describe("usage the price book has no price for"),
        },
      },
    },
    async (request, reply) => {
      const q = request.query;
      let report;
      try {
        // Cost per row (e.g. per user), priced and rounded like the invoice.
        report = await queryUsage(pool, request.params.tenant, new Date(q.from), new Date(q.to), parseGroupBy(q.groupBy), priceBook());
      } catch (e) {
        if (e instanceof UnpricedUsageError) return reply.code(422).send({ error: "unpriced usage", message: e.message });
        throw e;
      }
      if (q.format === "csv") return reply.type("text/csv").send(usageToCsv(report));
      return report;
    },
  );
};
