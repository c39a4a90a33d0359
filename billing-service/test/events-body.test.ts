/**
 * The events route's body validation (routes/events-body.ts) skips the zod parse for batches of
 * plainly valid events. It must answer exactly what the route's zod schema answers, for any body:
 * the same value when valid, an error when not (then the schema's own error, naming the event's
 * index and field). Events are generated at and past every edge of the schema: each field missing,
 * undefined, of the wrong type; lengths 0, 1, 256, 257, NUL, surrogate pairs and lone surrogates;
 * times of every form (no seconds, lower-case, no offset, +0100, +15:00, +14:59, Feb 29/30, hour
 * 24, second 60, long fractions, years 0000/1969/1970/1971/9998/9999/10000 at both extreme
 * offsets); counts negative, -0, fractional, 2^53-1, 2^53, huge, NaN, Infinity, strings; extra
 * keys, __proto__, other prototypes, batch sizes 0 and 10,001, extra keys beside `events`.
 */
import fc from "fast-check";
import { validatorCompiler } from "fastify-type-provider-zod";
import { describe, expect, it } from "vitest";
import { event as benchEvent } from "../bench/ingest";
import { eventBatchSchema, MAX_BATCH } from "../src/events/schema";
import { eventsValidatorCompiler, plainBatch } from "../src/routes/events-body";

const route = { schema: eventBatchSchema, httpPart: "body", method: "POST", url: "/v1/events" } as const;
const viaSchema = validatorCompiler(route);
const composed = eventsValidatorCompiler(route) as typeof viaSchema;

type Result = { value?: unknown; error?: unknown };

const text = fc.oneof(
  fc.constantFrom("", "a", "acme", "a".repeat(255), "a".repeat(256), "a".repeat(257), "é".repeat(256), "x\u0000", "\u0000", "🙂".repeat(128), "🙂".repeat(129), "\ud800", "a\udc00b", "字"),
  fc.string({ maxLength: 20 }),
  fc.string({ minLength: 250, maxLength: 260 }),
  fc.string({ unit: "binary", maxLength: 10 }),
);

const year = fc.constantFrom("0000", "0001", "1969", "1970", "1971", "2024", "2026", "9998", "9999");
const offset = fc.constantFrom("Z", "z", "+00:00", "-00:00", "+14:00", "-14:00", "+14:59", "-14:59", "+15:00", "-15:00", "+23:59", "+24:00", "+0100", "+01", "", "+1:00");
const fraction = fc.constantFrom("", ".0", ".123", ".999999999", ".1234567890123456789012345", ".", ".x");
const date = fc.constantFrom("-01-01", "-02-28", "-02-29", "-02-30", "-04-31", "-12-31", "-13-01", "-00-10", "-1-01");
const clock = fc.constantFrom("T00:00:00", "T23:59:59", "T24:00:00", "T12:00:60", "T12:00", "t12:00:00", " 12:00:00", "T1:00:00");
const two = (n: number) => String(n).padStart(2, "0");
/** Times at the range's ends (1970 and 9999 UTC) at any clock and offset up to +-15:59: where the fast path's year bounds matter. */
const nearBounds = fc
  .tuple(fc.constantFrom("1969-12-31", "1970-01-01", "1970-01-01", "1971-01-01", "9998-12-31", "9999-01-01", "9999-12-31", "9999-12-31"), fc.nat(23), fc.nat(59), fc.nat(59), fc.constantFrom("Z", "+", "-"), fc.nat(15), fc.nat(59))
  .map(([d, h, m, sec, sign, oh, om]) => `${d}T${two(h)}:${two(m)}:${two(sec)}${sign === "Z" ? "Z" : `${sign}${two(oh)}:${two(om)}`}`);
const timeText = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(year, date, clock, fraction, offset).map((p) => p.join("")) },
  { weight: 10, arbitrary: nearBounds },
  { weight: 2, arbitrary: fc.date({ min: new Date(-1e14), max: new Date(3e14), noInvalidDate: true }).map((d) => d.toISOString()) },
  { weight: 1, arbitrary: fc.constantFrom("+010000-01-01T00:00:00Z", "2026-05-01", "2026-05-01T00:00:00", "1778000000", "", "2026-05-01T00:00:00Z ", " 2026-05-01T00:00:00Z", "2026-05-01T00:00:00\u0000Z") },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
);
const countValue = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 1.5, 2 ** 53 - 1, 2 ** 53, 1e300, -1e300, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MIN_VALUE),
  fc.integer(),
  fc.nat(),
  fc.double(),
);
const wrong = fc.constantFrom<unknown>(null, undefined, true, [], {}, ["a"], { a: 1 }, "1", 1);

const field = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 8, arbitrary: arb }, { weight: 1, arbitrary: wrong });

const eventArb = fc.oneof(
  // Each field present or not, of its type at and past its edges or of a wrong type.
  {
    weight: 6,
    arbitrary: fc.record(
      {
        specversion: field(fc.constantFrom("1.0", "1", "", "1.0 ")),
        type: field(fc.oneof(text, fc.constant("io.maas.usage"))),
        id: field(text),
        source: field(text),
        time: field(timeText),
        tenant: field(text),
        user: field(text),
        model: field(text),
        tier: field(text),
        inputTokens: field(countValue),
        outputTokens: field(countValue),
        requests: field(countValue),
        extra: field(text),
      },
      { requiredKeys: [] },
    ),
  },
  // A valid bench event with one field changed, removed or added: close to the fast path's edges.
  {
    weight: 6,
    arbitrary: fc
      .tuple(
        fc.nat(1_000_000),
        fc.constantFrom("specversion", "type", "id", "source", "time", "tenant", "user", "model", "tier", "inputTokens", "outputTokens", "requests", "extra", "__proto__", "constructor"),
        fc.oneof(text, timeText, countValue, wrong),
        fc.constantFrom("set", "delete", "keep"),
      )
      .map(([i, key, value, op]) => {
        const e: Record<string, unknown> = { ...benchEvent(i) };
        if (op === "delete") delete e[key];
        else if (op === "set") Object.defineProperty(e, key, { value, enumerable: true, writable: true, configurable: true });
        return e;
      }),
  },
  // A valid bench event with one label or count at its edges, where only that field decides.
  { weight: 4, arbitrary: fc.tuple(fc.nat(1_000_000), fc.constantFrom("id", "source", "tenant", "user", "model", "tier", "type"), text).map(([i, key, value]) => ({ ...benchEvent(i), [key]: value })) },
  { weight: 2, arbitrary: fc.tuple(fc.nat(1_000_000), fc.constantFrom("inputTokens", "outputTokens", "requests"), countValue).map(([i, key, value]) => ({ ...benchEvent(i), [key]: value })) },
  // A valid bench event at another time: every time form, where only the time decides.
  { weight: 6, arbitrary: fc.tuple(fc.nat(1_000_000), timeText).map(([i, time]) => ({ ...benchEvent(i), time })) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, "event", 1, [], Object.assign(Object.create(null) as object, benchEvent(1))) },
  { weight: 1, arbitrary: fc.nat().map((i) => Object.assign(Object.create({ inherited: 1 }) as object, benchEvent(i))) },
  // JSON's own form of odd keys: "__proto__" as an own key.
  { weight: 1, arbitrary: fc.nat().map((i) => JSON.parse(JSON.stringify(benchEvent(i)).replace("{", '{"__proto__":{"x":1},')) as unknown) },
);

const batchArb = fc.oneof(
  { weight: 10, arbitrary: fc.array(eventArb, { minLength: 1, maxLength: 4 }).map((events) => ({ events })) },
  // Mostly valid batches with one generated event among them: the fast path must not stop at the first.
  { weight: 4, arbitrary: fc.tuple(fc.array(fc.nat(), { minLength: 1, maxLength: 5 }), eventArb).map(([ids, odd]) => ({ events: [...ids.map((i) => benchEvent(i)), odd] })) },
  { weight: 1, arbitrary: fc.record({ events: fc.array(eventArb, { maxLength: 2 }), extra: text }, { requiredKeys: ["events"] }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, [], {}, { events: [] }, { events: {} }, { events: null }, "events", [{ events: [benchEvent(1)] }]) },
);

/** Both checks on copies of one body (the fast path completes its input in place). */
const both = (body: unknown): { want: Result; got: Result } => ({
  want: viaSchema(structuredCloneKeepingProto(body)) as Result,
  got: composed(structuredCloneKeepingProto(body)) as Result,
});

/** A deep copy that keeps prototypes and own "__proto__" keys, unlike structuredClone (which keeps neither). */
function structuredCloneKeepingProto(x: unknown): unknown {
  if (typeof x !== "object" || x === null) return x;
  if (Array.isArray(x)) return x.map(structuredCloneKeepingProto);
  const copy = Object.create(Object.getPrototypeOf(x) as object | null) as Record<string, unknown>;
  for (const key of Object.keys(x)) Object.defineProperty(copy, key, { value: structuredCloneKeepingProto((x as Record<string, unknown>)[key]), enumerable: true, writable: true, configurable: true });
  return copy;
}

describe("events body: the fast path answers what the zod schema answers", () => {
  it("same value or the same error, for any batch", () => {
    fc.assert(
      fc.property(batchArb, (body) => {
        const { want, got } = both(body);
        expect(got.error === undefined).toBe(want.error === undefined);
        if (want.error === undefined) expect(got.value).toStrictEqual(want.value);
        else expect(got).toEqual(want); // the schema's own error, naming the index and field
        // The fast path never accepts what the schema refuses.
        if (plainBatch(structuredCloneKeepingProto(body)) !== undefined) expect(want.error).toBeUndefined();
      }),
      { numRuns: 3000 },
    );
    // A bound on a loaded machine only (about 3 s here when quiet), never a measurement.
  }, 120_000);

  it("the bench's and the gateway's batches take the fast path (the check can tell the paths apart)", () => {
    const events = Array.from({ length: 1000 }, (_, i) => benchEvent(i));
    expect(plainBatch({ events })).toBeDefined();
    const minimal = { id: "e1", source: "//gateway/maas", time: "2026-05-01T12:00:00+02:00", tenant: "acme", model: "llama", tier: "free", inputTokens: 1, outputTokens: 0 };
    expect(plainBatch({ events: [{ ...minimal }] })?.events[0]?.requests).toBe(1); // the schema's default
    expect(plainBatch({ events: [{ ...minimal, specversion: "1.0", type: "io.maas.usage", user: "alice", requests: 3 }] })).toBeDefined();
    for (const odd of [{ ...minimal, time: "1970-01-01T00:00:00Z" }, { ...minimal, time: "9999-01-01T00:00:00Z" }, { ...minimal, extra: 1 }, { ...minimal, user: undefined }, { ...minimal, inputTokens: -1 }]) {
      expect(plainBatch({ events: [odd] })).toBeUndefined();
    }
    // The fast path's own defences, fixed (review S2: the random property found their breakage
    // only in some runs): fractional, tiny, unsafe and non-finite counts; NUL in every label;
    // offsets and dates the schema refuses. Each is refused by the schema and never fast-pathed.
    const refused: Record<string, unknown>[] = [
      ...["inputTokens", "outputTokens", "requests"].flatMap((key) => [1.5, 5e-324, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY].map((v) => ({ ...minimal, [key]: v }))),
      ...["id", "source", "tenant", "user", "model", "tier"].map((key) => ({ ...minimal, [key]: "x\u0000" })),
      { ...minimal, time: "2026-05-01T12:00:00+15:00" },
      { ...minimal, time: "2026-05-01T12:00:00z" },
      { ...minimal, time: "2026-02-30T12:00:00Z" },
    ];
    for (const odd of refused) {
      expect(plainBatch({ events: [structuredCloneKeepingProto(odd)] }), JSON.stringify(odd)).toBeUndefined();
      expect(both({ events: [odd] }).want.error, JSON.stringify(odd)).toBeDefined();
    }
    // -0 is accepted by both (stored as 0), with the same value.
    const negativeZero = both({ events: [{ ...minimal, outputTokens: -0 }] });
    expect(negativeZero.want.error).toBeUndefined();
    expect(negativeZero.got).toStrictEqual(negativeZero.want);
    expect(plainBatch({ events: Array.from({ length: MAX_BATCH + 1 }, (_, i) => benchEvent(i)) })).toBeUndefined();
  });

  it("a bad event in a large batch: the schema's 400 names its index and field", () => {
    const events: Record<string, unknown>[] = Array.from({ length: 1000 }, (_, i) => benchEvent(i));
    events[737] = { ...events[737], time: "2026-05-01T00:00:00+15:00" };
    const { want, got } = both({ events });
    expect(got).toEqual(want);
    const issues = (got.error as { instancePath: string }[]).map((v) => v.instancePath);
    expect(issues).toEqual(["/events/737/time"]);
  });

  it("other parts (none on this route today) are checked by the schema alone", () => {
    const query = eventsValidatorCompiler({ ...route, httpPart: "querystring" }) as typeof viaSchema;
    expect((query({ events: [benchEvent(1)], extra: 1 }) as Result).error).toBeUndefined(); // zod strips; the fast path would not take it
    expect((query({ events: [] }) as Result).error).toBeDefined();
  });
});
