/**
 * Quotas: set/list (admin sets, tenant reads) and POST /v1/quota/check, the fast path a gateway
 * calls before serving a request. The check spends the amount when it fits every applicable
 * quota (tenant-wide and the user's), atomically; dryRun only answers. Checks go through the
 * per-tenant batching queue (quota/batcher.ts).
 */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Pool } from "pg";
import { z } from "zod";
import type { PriceBook } from "../pricebook/pricebook";
import { estimateCostMinor } from "../quota/cost";
import { createQuotaChecker } from "../quota/batcher";
import { listQuotas, setQuota } from "../quota/store";
import { count, errorBody, pgText, quotaCheckBody, quotaListBody, tenantParams } from "../schemas";

export const registerQuotaRoutes = (base: FastifyInstance, pool: Pool, priceBook: () => PriceBook): void => {
  const app = base.withTypeProvider<ZodTypeProvider>();
  // One queue per replica: checks of a tenant are decided in batches, one transaction each.
  const quotaChecker = createQuotaChecker(pool);
  app.get(
    "/v1/tenants/:tenant/quotas",
    { config: { scope: { tenant: "params" } }, schema: { summary: "A tenant's quotas and their use in the current period", params: tenantParams, response: { 200: quotaListBody } } },
    async (request) => ({ quotas: await listQuotas(pool, request.params.tenant) }),
  );
  app.put(
    "/v1/tenants/:tenant/quotas",
    {
      config: { scope: { tenant: "params", admin: true } },
      schema: {
        summary: "Set a quota (tenant-wide, or for one user): tokens or cost in minor units, per day or month",
        params: tenantParams,
        body: z.object({
          user: pgText().optional(),
          kind: z.enum(["tokens", "cost"]),
          period: z.enum(["day", "month"]),
          limit: count.describe("tokens, or minor currency units for kind=cost"),
        }),
        response: { 200: quotaListBody },
      },
    },
    async (request) => {
      await setQuota(pool, { tenant: request.params.tenant, ...request.body, limit: BigInt(request.body.limit) });
      return { quotas: await listQuotas(pool, request.params.tenant) };
    },
  );
  app.post(
    "/v1/quota/check",
    {
      config: { scope: { tenant: "body" } },
      schema: {
        summary: "Check (and spend) tokens/cost against the tenant's and user's quotas, atomically",
        description:
          "allowed=false means at least one quota would be exceeded; nothing is spent then. Without quotas the answer is allowed. The cost is priced with the price book in force now when tier and model are given (rounded up).",
        body: z.object({
          tenant: pgText(),
          user: pgText().optional(),
          tier: z.string().min(1).optional(),
          model: z.string().min(1).optional(),
          inputTokens: count.default(0),
          outputTokens: count.default(0),
          requests: count.default(1),
          dryRun: z.boolean().default(false),
        }),
        response: { 200: quotaCheckBody, 422: errorBody.describe("no price for this tier and model") },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const tokens = BigInt(b.inputTokens) + BigInt(b.outputTokens);
      let costMinor = 0n;
      if (b.tier && b.model) {
        const cost = estimateCostMinor(priceBook(), new Date(), { tier: b.tier, model: b.model, inputTokens: BigInt(b.inputTokens), outputTokens: BigInt(b.outputTokens), requests: BigInt(b.requests) });
        if (cost === undefined) return reply.code(422).send({ error: "unpriced", message: `no price for tier ${b.tier} model ${b.model}` });
        costMinor = cost;
      }
      const result = await quotaChecker.check({ tenant: b.tenant, user: b.user, tokens, costMinor, dryRun: b.dryRun });
      return { ...result, tokens: tokens.toString(), costMinor: costMinor.toString() };
    },
  );
};
