/**
 * The gateway check's body validation (routes/authorize-body.ts) skips the zod parse for the
 * gateway's plain bodies. It must answer exactly what the route's zod schema answers, for any
 * body: the same value when valid, an error when not (then the schema's own error, naming the
 * field). Bodies are generated at and past every edge of the schema: lengths 0, 1, 256, 257, NUL
 * characters, "" for user and tier but not tenant, extra keys, wrong types, non-objects, objects
 * with another prototype.
 */
import fc from "fast-check";
import { validatorCompiler } from "fastify-type-provider-zod";
import { describe, expect, it } from "vitest";
import { authorizeValidatorCompiler, isPlainAuthorizeBody } from "../src/routes/authorize-body";
import { quotaAuthorizeRequest } from "../src/schemas";

const route = { schema: quotaAuthorizeRequest, httpPart: "body", method: "POST", url: "/v1/quota/authorize" } as const;
const viaSchema = validatorCompiler(route);
const composed = authorizeValidatorCompiler(route) as typeof viaSchema;

const text = fc.oneof(
  fc.constantFrom("", "a", "acme", "a".repeat(255), "a".repeat(256), "a".repeat(257), "é".repeat(256), "x\u0000", "\u0000", "🙂".repeat(128), "🙂".repeat(129)),
  fc.string({ maxLength: 300 }),
  fc.string({ minLength: 250, maxLength: 260 }),
);
const value = fc.oneof({ arbitrary: text, weight: 6 }, fc.constantFrom(null, 0, 1, true, [], {}, ["a"], { a: 1 }));
const body = fc.oneof(
  { arbitrary: fc.record({ tenant: value, user: value, tier: value, extra: value }, { requiredKeys: [] }), weight: 8 },
  // The gateway's namespace form: namespace instead of tenant, or both (refused), or neither.
  { arbitrary: fc.record({ namespace: value, tenant: value, user: value, tier: value }, { requiredKeys: [] }), weight: 8 },
  { arbitrary: fc.record({ namespace: text, user: value, tier: value }, { requiredKeys: ["namespace"] }), weight: 4 },
  fc.constantFrom(null, "acme", 1, [], [{ tenant: "acme" }], Object.assign(Object.create(null) as object, { tenant: "acme" })),
  fc.record({ tenant: text }).map((b) => Object.assign(Object.create({ inherited: 1 }) as object, b)),
);

describe("authorize body: the fast path answers what the zod schema answers", () => {
  it("same value or an error, for any body", () => {
    fc.assert(
      fc.property(body, (b) => {
        const want = viaSchema(b) as { value?: unknown; error?: unknown };
        const got = composed(b) as { value?: unknown; error?: unknown };
        expect(got.error === undefined).toBe(want.error === undefined);
        if (want.error === undefined) expect(got.value).toEqual(want.value);
        else expect(got).toEqual(want); // the schema's own error
        // The fast path never accepts what the schema refuses.
        if (isPlainAuthorizeBody(b)) expect(want.error).toBeUndefined();
      }),
      { numRuns: 3000 },
    );
  });

  it("the gateway's bodies take the fast path (the check can tell the paths apart)", () => {
    for (const b of [{ tenant: "acme" }, { tenant: "acme", user: "alice", tier: "" }, { tenant: "acme", user: "", tier: "premium" }, { tenant: "a".repeat(256), user: "b".repeat(256) }, { namespace: "acme-models", user: "alice", tier: "" }, { namespace: "n" }, { namespace: "" }]) {
      expect(isPlainAuthorizeBody(b)).toBe(true);
    }
    for (const b of [{ tenant: "" }, { tenant: "a".repeat(257) }, { tenant: "x\u0000" }, { tenant: "acme", other: 1 }, { tenant: "acme", user: null }, { user: "alice" }, { tenant: "acme", namespace: "acme-models" }, { namespace: "acme-models", tenant: undefined }]) {
      expect(isPlainAuthorizeBody(b)).toBe(false);
    }
  });

  it("other parts (none on this route today) are checked by the schema alone", () => {
    const query = authorizeValidatorCompiler({ ...route, httpPart: "querystring" }) as typeof viaSchema;
    expect((query({ tenant: "" }) as { error?: unknown }).error).toBeDefined();
  });
});
