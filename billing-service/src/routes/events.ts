/** POST /v1/events: a batch of usage events, all stored or none (validation fails the whole batch). */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Pool } from "pg";
import { z } from "zod";
import { ingestEvents } from "../events/ingest";
import { eventBatchSchema } from "../events/schema";
import type { ServiceMetrics } from "../ops/metrics";

export const registerEventRoutes = (base: FastifyInstance, pool: Pool, metrics: ServiceMetrics): void => {
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.post(
    "/v1/events",
    {
      config: { scope: { tenant: "events" } },
      schema: {
        summary: "Ingest a batch of usage events (idempotent on source+id)",
        description:
          "Either every event is valid and the batch is stored (re-sent events count as duplicates), or the answer is 400 listing each invalid event's index and field and nothing is stored.",
        body: eventBatchSchema,
        response: {
          200: z.object({ accepted: z.number().int(), duplicates: z.number().int() }),
        },
      },
    },
    async (request) => {
      const result = await ingestEvents(pool, request.body.events);
      metrics.eventsIngested.inc({ result: "accepted" }, result.accepted);
      metrics.eventsIngested.inc({ result: "duplicate" }, result.duplicates);
      return result;
    },
  );
};
