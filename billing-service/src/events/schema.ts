/**
 * A usage event as posted to POST /v1/events: CloudEvents-style identity (id, source, time) with
 * the usage attributes flat beside it. (tenant, source, id) is the idempotency key.
 */
import { z } from "zod";
import { count, pgText } from "../schemas";

const label = pgText();

/** An offset within +-14:59 (or Z): PostgreSQL refuses +-16:00 and beyond; real ones are within +-14:00. */
export const TIME_OFFSET = /(Z|[+-](0\d|1[0-4]):[0-5]\d)$/;

export const usageEventSchema = z
  .object({
    specversion: z.literal("1.0").optional().describe("CloudEvents spec version, if the sender sets it"),
    type: z.string().max(256).optional().describe("CloudEvents type, e.g. io.maas.usage (informational)"),
    id: label.describe("unique per tenant and source; re-sending the same (tenant, source, id) is a no-op"),
    source: label.describe("who produced the event, e.g. //gateway/maas; a source bound to a sender token may be written only with that token"),
    time: z.iso
      .datetime({ offset: true, abort: true })
      // What PostgreSQL would refuse (a 500 otherwise): offsets beyond +-15:59 (real ones are within
      // +-14:00) and year 0; usage before 1970 or after 9999 is a sender's bug anyway.
      .refine((t) => TIME_OFFSET.test(t) && Date.parse(t) >= 0 && Date.parse(t) < Date.UTC(10000, 0, 1), "time must be between 1970 and 9999 with an offset within -14:00..+14:00")
      .describe("when the usage happened (RFC 3339)"),
    tenant: label,
    user: label.optional(),
    model: label,
    tier: label.describe("tier or subscription the request was served under"),
    inputTokens: count,
    outputTokens: count,
    requests: count.default(1),
  })
  .strict();

export type UsageEvent = z.output<typeof usageEventSchema>;

export const MAX_BATCH = 10_000;

export const eventBatchSchema = z.object({
  events: z.array(usageEventSchema).min(1).max(MAX_BATCH),
});
