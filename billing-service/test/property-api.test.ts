/**
 * Bad input on every API route (taken from the service's own /openapi.json, so a new route is
 * covered the day it appears): random and malformed bodies, huge and negative numbers, unknown
 * tenants, wrong content types. Every answer must be a 4xx with a readable message (never a 5xx)
 * for input that is invalid by construction, GETs with random parameters must never be a 5xx,
 * and nothing may be stored. Real fastify app (inject) on a real embedded PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import type { LightMyRequestResponse } from "fastify";
import { startBillingDb, type BillingTestDb } from "./support/billing-db";
import { startTestApi, type TestApi } from "./support/billing-app";

let db: BillingTestDb;
let api: TestApi;
let operations: { method: string; path: string; required: string[]; hasBody: boolean }[];

const TABLES = ["usage_events", "usage_hourly", "quotas", "invoices", "invoice_lines", "invoice_ledger_rows", "price_book_versions"];
const snapshot = async () =>
  Object.fromEntries(await Promise.all(TABLES.map(async (t) => [t, Number((await db.pool.query(`select count(*) as n from ${t}`)).rows[0].n)] as const)));

beforeAll(async () => {
  db = await startBillingDb();
  api = await startTestApi(db);
  const doc = JSON.parse((await api.app.inject({ url: "/openapi.json" })).body) as {
    paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: { required?: string[] } }> } }>>;
  };
  operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      hasBody: op.requestBody !== undefined,
      required: op.requestBody?.content?.["application/json"]?.schema?.required ?? [],
    })),
  );
});

afterAll(async () => {
  await api?.app.close();
  await db?.stop();
});

const send = (method: string, url: string, payload?: string, contentType = "application/json") =>
  api.app.inject({
    method: method as "GET",
    url,
    headers: { authorization: `Bearer ${api.tokens.admin}`, ...(payload !== undefined ? { "content-type": contentType } : {}) },
    ...(payload !== undefined ? { payload } : {}),
  });

/** A 4xx whose JSON body says what is wrong. */
const expectClearClientError = (res: LightMyRequestResponse, what: string) => {
  expect(res.statusCode, `${what}: ${res.body.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
  expect(res.statusCode, `${what}: ${res.body.slice(0, 300)}`).toBeLessThan(500);
  const body = JSON.parse(res.body) as { error?: unknown; message?: unknown; issues?: unknown };
  const text = [body.error, body.message].filter((x) => typeof x === "string").join(" ");
  expect(text.length, `${what}: no message in ${res.body.slice(0, 300)}`).toBeGreaterThan(0);
};

const tenantArb = fc.oneof(
  fc.constantFrom("acme", "no-such-tenant", "..", "a".repeat(300), "x%00y", "a\u0000b", " "),
  fc.string({ minLength: 1, maxLength: 40 }),
);
const fillPath = (path: string, tenant: string, invoice: string) =>
  path.replace("{tenant}", encodeURIComponent(tenant)).replace("{invoice}", encodeURIComponent(invoice)).replace("{name}", "hook");

const validEvent = (i: number) => ({ id: `valid-${i}`, source: "//prop", time: "2026-05-01T00:00:00Z", tenant: "acme", model: "llama", tier: "premium", inputTokens: 1, outputTokens: 1 });

/** Values no count field may take. */
const badCount = fc.constantFrom<unknown>(-1, -1e9, 1.5, 2 ** 53, 1e300, Number.MAX_VALUE, "12", "", null, true, [], {}, "1e3");
const badLabel = fc.constantFrom<unknown>("", "x".repeat(257), 5, null, [], {}, "a\u0000b");

/** Bodies of POST /v1/events that are invalid by construction. */
const badEventsBody = fc.oneof(
  fc.record({ field: fc.constantFrom("inputTokens", "outputTokens", "requests"), value: badCount }).map(({ field, value }) => ({ events: [validEvent(0), { ...validEvent(1), [field]: value }] })),
  fc.record({ field: fc.constantFrom("id", "source", "tenant", "model", "tier", "user"), value: badLabel }).map(({ field, value }) => ({ events: [{ ...validEvent(0), [field]: value }] })),
  fc.constantFrom<unknown>("yesterday", "2026-13-01T00:00:00Z", "2026-05-01T00:00:00+21:57", "0000-02-06T21:09:06Z", "1969-12-31T23:59:59Z", 0, "", null).map((time) => ({ events: [{ ...validEvent(0), time }] })),
  fc.constantFrom("id", "source", "time", "tenant", "model", "tier", "inputTokens").map((k) => ({ events: [Object.fromEntries(Object.entries(validEvent(0)).filter(([key]) => key !== k))] })),
  fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !(k in validEvent(0)) && !["user", "requests", "specversion", "type"].includes(k)).map((k) => ({ events: [{ ...validEvent(0), [k]: 1 }] })),
  fc.constant({ events: [] }),
  fc.constant({ events: Array.from({ length: 10_001 }, (_, i) => validEvent(i)) }),
  fc.anything().filter((v) => !(typeof v === "object" && v !== null && !Array.isArray(v) && "events" in v)),
);

const badQuotaBody = fc.oneof(
  fc.record({ kind: fc.constantFrom("tokens", "requests", "cost"), period: fc.constantFrom("day", "month"), limit: badCount }),
  fc.record({ kind: fc.string(), period: fc.constantFrom("day", "month"), limit: fc.nat() }).filter((b) => !["tokens", "requests", "cost"].includes(b.kind)),
  fc.record({ kind: fc.constantFrom("tokens"), period: fc.string(), limit: fc.nat() }).filter((b) => b.period !== "day" && b.period !== "month"),
  fc.record({ kind: fc.constantFrom("tokens"), period: fc.constantFrom("day"), limit: fc.nat(), user: badLabel.filter((u) => u !== "x".repeat(257)) }),
);

const badCheckBody = fc.oneof(
  fc.record({ field: fc.constantFrom("inputTokens", "outputTokens", "requests"), value: badCount }).map(({ field, value }) => ({ tenant: "acme", [field]: value })),
  fc.record({ tenant: badLabel.filter((t) => t !== "x".repeat(257)) }),
  fc.record({ tenant: fc.constant("acme"), dryRun: fc.constantFrom<unknown>("yes", 1, null) }),
);

const badAuthorizeBody = fc.oneof(
  fc.record({ tenant: badLabel.filter((t) => t !== "x".repeat(257)) }),
  fc.record({ namespace: badLabel.filter((t) => t !== "x".repeat(257)) }),
  // Neither, or both (exactly one of tenant and namespace).
  fc.constantFrom({}, { user: "alice" }, { tenant: "acme", namespace: "acme-models" }),
  // "" is valid for user and tier here: the gateway sends it for a key without that annotation.
  fc.record({ field: fc.constantFrom("user", "tier"), value: badLabel.filter((v) => v !== "") }).map(({ field, value }) => ({ tenant: "acme", [field]: value })),
);

const badWebhookBody = fc.oneof(
  fc.record({ url: fc.constantFrom<unknown>("", "ftp://x.example/", "not a url", "https://u:p@x.example/", 5, null) }),
  fc.record({ url: fc.constant("https://hooks.example.com/x"), secret: fc.constantFrom<unknown>("", "secret", "whsec_short", 1) }),
  fc.record({ url: fc.constant("https://hooks.example.com/x"), eventTypes: fc.constantFrom<unknown>(["invoice.paid"], "invoice.created", [1]) }),
  fc.anything().filter((v) => !(typeof v === "object" && v !== null && !Array.isArray(v) && "url" in v)),
);

const badInvoiceBody = fc.oneof(
  fc.record({ period: fc.oneof(fc.string(), fc.constantFrom<unknown>("2026-13", "2026-00", "26-05", "2026-5", 202605, null)) }).filter((b) => !/^\d{4}-(0[1-9]|1[0-2])$/.test(String(b.period))),
);

/** Bodies of POST .../finalize that are invalid: unknown flags, no flag, no or blank reason, unknown fields. */
const badFinalizeBody = fc.oneof(
  fc.record({ acceptFlags: fc.array(fc.string().filter((f) => f !== "meteringShortfall"), { minLength: 1, maxLength: 3 }), reason: fc.constant("r") }),
  fc.record({ acceptFlags: fc.constant([]), reason: fc.constant("r") }),
  fc.record({ acceptFlags: fc.constant(["meteringShortfall"]), reason: fc.constantFrom<unknown>("", "   ", 5, null) }),
  fc.record({ acceptFlags: fc.constant(["meteringShortfall"]) }),
  fc.record({ acceptFlags: fc.constant(["meteringShortfall"]), reason: fc.constant("r"), by: fc.string() }),
);

const bodyFor: Record<string, fc.Arbitrary<unknown>> = {
  "POST /v1/tenants/{tenant}/invoices/{invoice}/finalize": badFinalizeBody,
  "POST /v1/events": badEventsBody,
  "PUT /v1/tenants/{tenant}/quotas": badQuotaBody,
  "POST /v1/quota/check": badCheckBody,
  "POST /v1/quota/authorize": badAuthorizeBody,
  "PUT /v1/tenants/{tenant}/webhooks/{name}": badWebhookBody,
  "POST /v1/tenants/{tenant}/invoices": badInvoiceBody,
};

/** Text that is not JSON. */
const notJson = fc.string({ minLength: 1, maxLength: 60 }).filter((s) => {
  try {
    JSON.parse(s);
    return false;
  } catch {
    return true;
  }
});

describe("every API route under bad input", () => {
  it("covers every operation of the OpenAPI document that takes a body", () => {
    const withBody = operations.filter((o) => o.hasBody).map((o) => `${o.method} ${o.path}`);
    expect(withBody.sort()).toEqual(Object.keys(bodyFor).sort());
  });

  it("answers invalid bodies with a clear 4xx and stores nothing", async () => {
    const before = await snapshot();
    for (const op of operations.filter((o) => o.hasBody)) {
      const key = `${op.method} ${op.path}`;
      await fc.assert(
        fc.asyncProperty(tenantArb, bodyFor[key], async (tenant, body) => {
          const res = await send(op.method, fillPath(op.path, tenant, "1"), JSON.stringify(body));
          expectClearClientError(res, `${key} ${JSON.stringify(body)?.slice(0, 200)}`);
        }),
        { numRuns: 60 },
      );
      // Not JSON at all, JSON that is not an object, and objects missing a required field.
      await fc.assert(
        fc.asyncProperty(
          tenantArb,
          fc.oneof(
            notJson,
            fc.oneof(fc.integer(), fc.string(), fc.array(fc.jsonValue(), { maxLength: 3 }), fc.constant(null), fc.boolean()).map((v) => JSON.stringify(v)),
            // Only for bodies with a required field (the quota check's has none: tenant or namespace, exactly one).
            ...(op.required.length > 0 ? [fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }).filter((d) => op.required.some((k) => !(k in d))).map((d) => JSON.stringify(d))] : []),
          ),
          async (tenant, payload) => {
            expectClearClientError(await send(op.method, fillPath(op.path, tenant, "1"), payload), `${key} ${payload.slice(0, 100)}`);
          },
        ),
        { numRuns: 40 },
      );
    }
    expect(await snapshot()).toEqual(before);
  });

  it("refuses a valid batch sent with a wrong content type, and stores nothing", async () => {
    const before = await snapshot();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/octet-stream"), async (type) => {
        const res = await send("POST", "/v1/events", JSON.stringify({ events: [validEvent(0)] }), type);
        expectClearClientError(res, `content-type ${type}`);
      }),
      { numRuns: 20 },
    );
    expect(await snapshot()).toEqual(before);
  });

  it("never answers a 5xx to GETs and bodiless POSTs with random parameters and unknown tenants", async () => {
    const before = await snapshot();
    const bodiless = operations.filter((o) => !o.hasBody);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...bodiless),
        tenantArb,
        fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom("0", "-1", "99999999999999999999", "INV-2026-05-acme-1", "INV\u0000")),
        fc.dictionary(fc.constantFrom("from", "to", "groupBy", "format", "period", "x"), fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom("2026-05-01", "2026-13-45", "csv", "focus", "user,model", "-1", "1e999"))),
        async (op, tenant, invoice, query) => {
          const qs = new URLSearchParams(query).toString();
          const res = await send(op.method, `${fillPath(op.path, tenant, invoice)}${qs ? `?${qs}` : ""}`);
          expect(res.statusCode, `${op.method} ${op.path} ${qs}: ${res.body.slice(0, 300)}`).toBeLessThan(500);
          if (res.statusCode >= 400) expectClearClientError(res, `${op.method} ${op.path}`);
        },
      ),
      { numRuns: 300 },
    );
    expect(await snapshot()).toEqual(before);
  });
});
