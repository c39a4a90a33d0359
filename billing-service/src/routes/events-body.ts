/**
 * The body check of POST /v1/events: a batch whose every event is plainly valid (only the schema's
 * keys, short labels, an RFC 3339 time of the usual form, safe whole counts) is accepted by typeof,
 * length and regex tests; ANY other body goes to the route's zod schema (events/schema.ts), which
 * answers: the same value, or the same 400 naming the event's index and field. The fast path
 * accepts only what the schema accepts and returns what the schema would (with `requests` 1 when
 * absent, the schema's default): test/events-body.test.ts holds the composed check equal to the
 * schema's for generated batches at and past every edge. Per event on top of JSON.parse (loaded
 * machine, bench/ingest-validate.ts): zod 8.5-9.7 us, ajv's compiled schema 4.1-5.9 us, this
 * check 0.4-1.4 us; serve's CPU per event in the events row fell from 10.0-13.5 to 6.7-8.4 us
 * (docs/reliability.md, session 8).
 */
import type { FastifyRouteSchemaDef, FastifyValidationResult } from "fastify/types/schema";
import { validatorCompiler } from "fastify-type-provider-zod";
import type { $ZodType } from "zod/v4/core";
import { MAX_BATCH, TIME_OFFSET, usageEventSchema, type UsageEvent } from "../events/schema";
import { isPlainPgText } from "../schemas";

const isLabel = isPlainPgText;
/** The schema's `type`: any text of at most 256 characters (UTF-16 units here: a subset, as for labels). */
const MAX_TYPE = 256;
/** count (schemas.ts): a whole number 0..2^53-1. */
const isCount = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 0;

/** The very regex the schema's z.iso.datetime tests (its own instance, not a copy); were it ever absent, no time is plain and zod checks every batch. */
const DATETIME: RegExp = usageEventSchema.shape.time._zod.def.pattern ?? /(?!)/;

/**
 * Years 1971..9998 with an offset of at most 14:59 are within 1970..9999 UTC whatever the rest, so
 * the schema's Date.parse range test needs no Date.parse here; year 1970 and 9999 go to zod.
 */
const isPlainTime = (x: unknown): boolean => {
  if (typeof x !== "string" || !DATETIME.test(x) || !TIME_OFFSET.test(x)) return false;
  const year = (x.charCodeAt(0) - 48) * 1000 + (x.charCodeAt(1) - 48) * 100 + (x.charCodeAt(2) - 48) * 10 + (x.charCodeAt(3) - 48);
  return year >= 1971 && year <= 9998;
};

const KEYS = new Set(["specversion", "type", "id", "source", "time", "tenant", "user", "model", "tier", "inputTokens", "outputTokens", "requests"]);

/** One event of the usual shape, exactly: a plain object with only the schema's keys, each valid (an absent optional key is absent, not undefined). */
const isPlainEvent = (data: unknown): boolean => {
  if (typeof data !== "object" || data === null || Array.isArray(data) || Object.getPrototypeOf(data) !== Object.prototype) return false;
  const e = data as Record<string, unknown>;
  // for-in sees own and inherited enumerable keys; the prototype is Object.prototype (none).
  for (const key in e) if (!KEYS.has(key) || e[key] === undefined) return false;
  return (
    isLabel(e.id) &&
    isLabel(e.source) &&
    isLabel(e.tenant) &&
    isLabel(e.model) &&
    isLabel(e.tier) &&
    isPlainTime(e.time) &&
    isCount(e.inputTokens) &&
    isCount(e.outputTokens) &&
    (e.requests === undefined || isCount(e.requests)) &&
    (e.user === undefined || isLabel(e.user)) &&
    (e.specversion === undefined || e.specversion === "1.0") &&
    (e.type === undefined || (typeof e.type === "string" && e.type.length <= MAX_TYPE))
  );
};

/** `{ events: [...] }` with nothing else, 1..MAX_BATCH plain events. */
const isPlainBatch = (data: unknown): data is { events: Record<string, unknown>[] } => {
  if (typeof data !== "object" || data === null || Array.isArray(data) || Object.getPrototypeOf(data) !== Object.prototype) return false;
  for (const key in data) if (key !== "events") return false;
  const events = (data as { events?: unknown }).events;
  if (!Array.isArray(events) || events.length < 1 || events.length > MAX_BATCH) return false;
  for (let i = 0; i < events.length; i++) if (!isPlainEvent(events[i])) return false;
  return true;
};

/**
 * The schema's output for a plain batch: the same events with `requests` defaulted to 1. The body
 * is the request's own freshly parsed JSON, so it is completed in place instead of copied.
 */
export const plainBatch = (data: unknown): { events: UsageEvent[] } | undefined => {
  if (!isPlainBatch(data)) return undefined;
  for (const e of data.events) if (e.requests === undefined) e.requests = 1;
  return data as unknown as { events: UsageEvent[] };
};

/** The route's validatorCompiler: the fast path for the body, zod for the rest (and for every other part). */
export const eventsValidatorCompiler = <S>(route: FastifyRouteSchemaDef<S>): FastifyValidationResult => {
  // Each part's schema is a zod schema (the route's schema); fastify types it as the whole route schema.
  const zod = validatorCompiler(route as unknown as FastifyRouteSchemaDef<$ZodType>);
  if (route.httpPart !== "body") return zod;
  return (data) => {
    const value = plainBatch(data);
    return value !== undefined ? { value } : zod(data);
  };
};
