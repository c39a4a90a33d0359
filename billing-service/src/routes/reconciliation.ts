/** GET /v1/tenants/:tenant/reconciliation: access logs vs gateway counters vs model-server counters. */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Pool } from "pg";
import { z } from "zod";
import { reconcileThreeWay } from "../accesslog/reconcile";
import { tenantParams } from "../schemas";

export interface ReconciliationSettings {
  readonly billableSource: "access-log" | "gateway";
  readonly windowSeconds: number;
  readonly tolerance: number;
}

const source = z.enum(["access-log", "gateway", "model-server"]);
const decimalOrNull = z.string().regex(/^\d+$/).nullable();

export const reconciliationBody = z.object({
  tenant: z.string(),
  from: z.string(),
  to: z.string(),
  windowSeconds: z.number(),
  tolerance: z.number(),
  billableSource: z.enum(["access-log", "gateway"]),
  present: z.array(source),
  flaggedWindows: z.number().int(),
  rows: z.array(
    z.object({
      tenant: z.string(),
      model: z.string(),
      windowStart: z.string(),
      windowEnd: z.string(),
      tokens: z.object({ "access-log": decimalOrNull, gateway: decimalOrNull, "model-server": decimalOrNull }),
      diffRatios: z.record(z.string(), z.number()),
      flagged: z.boolean(),
    }),
  ),
});

export const registerReconciliationRoutes = (base: FastifyInstance, pool: Pool, settings: ReconciliationSettings): void => {
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.get(
    "/v1/tenants/:tenant/reconciliation",
    {
      config: { scope: { tenant: "params", action: "usage.read" } },
      schema: {
        summary: "Tokens per model and window in the access logs, at the gateway (Limitador) and at the model servers (vLLM), with pairwise differences and a flag beyond the tolerance",
        params: tenantParams,
        querystring: z.object({
          from: z.iso.datetime({ offset: true }),
          to: z.iso.datetime({ offset: true }),
          tolerance: z.coerce.number().min(0).max(1).optional().describe("relative difference beyond which a window is flagged; default the collector's reconcileTolerance"),
        }),
        response: { 200: reconciliationBody },
      },
    },
    async (request) =>
      reconcileThreeWay(pool, {
        tenant: request.params.tenant,
        from: new Date(request.query.from),
        to: new Date(request.query.to),
        windowSeconds: settings.windowSeconds,
        tolerance: request.query.tolerance ?? settings.tolerance,
        billableSource: settings.billableSource,
      }),
  );
};
