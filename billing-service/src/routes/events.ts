/** POST /v1/events: a batch of usage events, all stored or none (validation fails the whole batch). */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Pool } from "pg";
import { z } from "zod";
import { ingestEvents } from "../events/ingest";
import { eventBatchSchema, type UsageEvent } from "../events/schema";
import { InvalidRequestError, unknownValues, type Vocabulary } from "../events/vocabulary";
import type { ServiceMetrics } from "../ops/metrics";
import { errorBody } from "../schemas";
import { eventsValidatorCompiler } from "./events-body";
import { IngestUnavailableError, type IngestOutcome } from "../spool";

/** How a valid batch is stored: straight to PostgreSQL, or through the durable spool (src/spool). */
export type EventIngest = (events: readonly UsageEvent[]) => Promise<IngestOutcome>;

export const registerEventRoutes = (base: FastifyInstance, pool: Pool, metrics: ServiceMetrics, vocabulary: () => Vocabulary, ingest?: EventIngest): void => {
  const store: EventIngest = ingest ?? (async (events) => ({ stored: "database", ...(await ingestEvents(pool, events)) }));
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.post(
    "/v1/events",
    {
      config: { scope: { tenant: "events", action: "events.create" } },
      schema: {
        summary: "Ingest a batch of usage events (idempotent on tenant+source+id)",
        description:
          "Either every event is valid and the batch is stored (re-sent events count as duplicates), or the answer is 400 listing each invalid event's index and field and nothing is stored. Tier and model must be names the price book (or MAAS_BILLING_MODELS) knows. 403 when an event names a tenant the token may not write, or a source bound to another sender's token.",
        body: eventBatchSchema,
        response: {
          200: z.object({ accepted: z.number().int(), duplicates: z.number().int() }),
          202: z.object({ spooled: z.number().int() }).describe("database unavailable: the batch is fsynced to the local spool and will be stored in order"),
          503: errorBody.describe("not stored (spool full or unwritable): retry after Retry-After seconds"),
        },
      },
      // The body check: batches of plainly valid events by typeof, length and regex tests, anything
      // else by the zod schema above (same value, same 400 naming the field): events-body.ts.
      validatorCompiler: eventsValidatorCompiler,
    },
    async (request, reply) => {
      const unknown = unknownValues(vocabulary(), request.body.events, true);
      if (unknown.length > 0) throw new InvalidRequestError(unknown);
      let result: IngestOutcome;
      try {
        result = await store(request.body.events);
      } catch (e) {
        if (!(e instanceof IngestUnavailableError)) throw e;
        return reply.code(503).header("retry-after", String(e.retryAfterSeconds)).send({ error: "unavailable", message: e.message });
      }
      if (result.stored === "spool") {
        metrics.eventsIngested.inc({ result: "spooled" }, result.spooled);
        return reply.code(202).send({ spooled: result.spooled });
      }
      metrics.eventsIngested.inc({ result: "accepted" }, result.accepted);
      metrics.eventsIngested.inc({ result: "duplicate" }, result.duplicates);
      return { accepted: result.accepted, duplicates: result.duplicates };
    },
  );
};
