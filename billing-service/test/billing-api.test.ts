/**
 * The HTTP API on a real PostgreSQL: idempotent event ingest, per-event validation errors with a
 * batch that stores nothing, usage reports, the invoice flow over HTTP, operational endpoints,
 * and tenant isolation on EVERY route of the OpenAPI document (a new route without a
 * cross-tenant case below fails the test).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertCollectorRow, startBillingDb, usageEvent, type BillingTestDb } from "./support/billing-db";
import { startTestApi, type TestApi } from "./support/billing-app";

let db: BillingTestDb;
let api: TestApi;

const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const count = async (sql: string): Promise<number> => Number((await db.pool.query(sql)).rows[0].n);

beforeAll(async () => {
  db = await startBillingDb();
  api = await startTestApi(db);
});
afterAll(async () => {
  await api?.app.close();
  await api?.metricsApp.close();
  await db?.stop();
});

describe("POST /v1/events", () => {
  const batch = [
    usageEvent({ id: "a1", time: "2026-04-02T10:00:00Z", user: "alice", inputTokens: 100, outputTokens: 50 }),
    usageEvent({ id: "a2", time: "2026-04-02T11:00:00Z", user: "bob", model: "mistral", inputTokens: 200, outputTokens: 20, requests: 2 }),
    usageEvent({ id: "a3", time: "2026-04-03T11:00:00Z", tier: "free", inputTokens: 5, outputTokens: 5 }),
  ];

  it("stores a batch once: re-sending it (or repeating an id inside it) is a no-op", async () => {
    const first = await api.app.inject({ method: "POST", url: "/v1/events", headers: auth(api.tokens.admin), payload: { events: batch } });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ accepted: 3, duplicates: 0 });
    const again = await api.app.inject({ method: "POST", url: "/v1/events", headers: auth(api.tokens.acme), payload: { events: [...batch, batch[0]] } });
    expect(again.json()).toEqual({ accepted: 0, duplicates: 4 });
    const sameIdOtherSource = usageEvent({ id: "a1", source: "//other", time: "2026-04-04T00:00:00Z", inputTokens: 1, outputTokens: 1 });
    const third = await api.app.inject({ method: "POST", url: "/v1/events", headers: auth(api.tokens.acme), payload: { events: [sameIdOtherSource, sameIdOtherSource] } });
    expect(third.json()).toEqual({ accepted: 1, duplicates: 1 });
    expect(await count("select count(*) as n from usage_events where tenant = 'acme'")).toBe(4);
    expect(await count("select sum(input_tokens + output_tokens) as n from usage_hourly_current where tenant = 'acme'")).toBe(100 + 50 + 200 + 20 + 10 + 2);
  });

  it("rejects a batch with invalid events naming each index and field, and stores none of it", async () => {
    const before = await count("select count(*) as n from usage_events");
    const bad = [
      usageEvent({ id: "ok-1", time: "2026-04-05T00:00:00Z", inputTokens: 1 }),
      { ...usageEvent({ id: "bad-1" }), inputTokens: -5 },
      { ...usageEvent({ id: "bad-2" }), time: "yesterday", colour: "blue" },
      { ...usageEvent({ id: "bad-3" }), outputTokens: 1.5, model: undefined },
    ];
    const res = await api.app.inject({ method: "POST", url: "/v1/events", headers: auth(api.tokens.admin), payload: { events: bad } });
    expect(res.statusCode).toBe(400);
    const issues = res.json().issues as Array<{ index: number; field: string }>;
    expect(issues.map((i) => [i.index, i.field]).sort()).toEqual(
      [
        [1, "inputTokens"],
        [2, "time"],
        [2, "colour"],
        [3, "outputTokens"],
        [3, "model"],
      ].sort(),
    );
    expect(await count("select count(*) as n from usage_events")).toBe(before);
  });
});

describe("usage reports", () => {
  it("sum events and the collector's billable rows, grouped as asked", async () => {
    await insertCollectorRow(db.pool, { key: "gw/acme/apr", tenant: "acme", windowStart: "2026-04-02T12:00:00Z", input: 1000, output: 500, requests: 4 });
    await insertCollectorRow(db.pool, { key: "vllm/acme/apr", tenant: "acme", windowStart: "2026-04-02T12:00:00Z", input: 9999, output: 9999, requests: 9, billable: false });
    const res = await api.app.inject({
      method: "GET",
      url: "/v1/tenants/acme/usage?from=2026-04-01T00:00:00Z&to=2026-05-01T00:00:00Z&groupBy=tier,model",
      headers: auth(api.tokens.acme),
    });
    expect(res.statusCode).toBe(200);
    const report = res.json();
    expect(report.totalTokens).toBe(String(100 + 50 + 200 + 20 + 10 + 2 + 1500));
    expect(report.rows.map((r: Record<string, string>) => [r.tier, r.model, r.totalTokens, r.requests])).toEqual([
      ["free", "llama", "10", "1"],
      ["premium", "llama", String(150 + 2 + 1500), String(1 + 1 + 4)],
      ["premium", "mistral", "220", "2"],
    ]);
    const csv = await api.app.inject({ method: "GET", url: "/v1/tenants/acme/usage?from=2026-04-01T00:00:00Z&to=2026-05-01T00:00:00Z&groupBy=user&format=csv", headers: auth(api.tokens.acme) });
    expect(csv.headers["content-type"]).toContain("text/csv");
    expect(csv.body.split("\n")[0]).toBe("tenant,user,inputTokens,outputTokens,totalTokens,requests,ledgerRows,costMinor,currency");
  });
});

describe("invoices over HTTP", () => {
  it("admin creates and finalizes; the tenant reads its invoice as JSON, CSV and FOCUS", async () => {
    const created = await api.app.inject({ method: "POST", url: "/v1/tenants/acme/invoices", headers: auth(api.tokens.admin), payload: { period: "2026-04" } });
    expect(created.statusCode).toBe(201);
    const invoice = created.json();
    expect(invoice.status).toBe("draft");
    expect(invoice.totalMinor).toBe("2"); // hand-computed in the metrics test below
    const asTenant = await api.app.inject({ method: "POST", url: "/v1/tenants/acme/invoices", headers: auth(api.tokens.acme), payload: { period: "2026-04" } });
    expect(asTenant.statusCode).toBe(403);
    const final = await api.app.inject({ method: "POST", url: `/v1/tenants/acme/invoices/${invoice.id}/finalize`, headers: auth(api.tokens.admin) });
    expect(final.json().status).toBe("final");
    const twice = await api.app.inject({ method: "POST", url: `/v1/tenants/acme/invoices/${invoice.id}/finalize`, headers: auth(api.tokens.admin) });
    expect(twice.statusCode).toBe(409);
    const read = await api.app.inject({ method: "GET", url: `/v1/tenants/acme/invoices/${invoice.number}`, headers: auth(api.tokens.acme) });
    expect(read.json().totalMinor).toBe(invoice.totalMinor);
    const csv = await api.app.inject({ method: "GET", url: `/v1/tenants/acme/invoices/${invoice.id}?format=csv`, headers: auth(api.tokens.acme) });
    expect(csv.body.trim().split("\n")).toHaveLength(1 + invoice.lines.length);
    const focus = await api.app.inject({ method: "GET", url: `/v1/tenants/acme/invoices/${invoice.id}?format=focus`, headers: auth(api.tokens.acme) });
    expect(focus.body.split("\n")[0]).toContain("BilledCost,EffectiveCost");
    // Another tenant's invoice id under one's own tenant is simply not found.
    const foreign = await api.app.inject({ method: "GET", url: `/v1/tenants/globex/invoices/${invoice.id}`, headers: auth(api.tokens.globex) });
    expect(foreign.statusCode).toBe(404);
  });
});

describe("operations", () => {
  it("serves health, readiness and the OpenAPI document without credentials, and metrics on the scrape-only listener", async () => {
    expect((await api.app.inject({ url: "/healthz" })).statusCode).toBe(200);
    expect((await api.app.inject({ url: "/readyz" })).json()).toEqual({ status: "ready" });
    expect((await api.app.inject({ url: "/metrics" })).statusCode).toBe(404);
    const metrics = (await api.metricsApp.inject({ url: "/metrics" })).body;
    expect(metrics).toContain('maas_billing_usage_tokens_total{tenant="acme",model="llama",tier="premium",direction="input"} 1101');
    // Label order is not part of the format: find a sample by its exact label set.
    const sample = (name: string, labels: Record<string, string>): string | undefined =>
      metrics
        .split("\n")
        .filter((l) => l.startsWith(`${name}{`))
        .find((l) => {
          const set = Object.fromEntries([...l.slice(l.indexOf("{") + 1, l.indexOf("}")).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
          return JSON.stringify(Object.entries(set).sort()) === JSON.stringify(Object.entries(labels).sort());
        })
        ?.split(" ")[1];
    const price = "maas_billing_price_per_million_tokens_minor";
    // Prices in force now (the test book's second version): premium/llama output 12.50 per million = 1250 cents.
    expect(sample(price, { tier: "premium", model: "llama", direction: "output", currency: "USD" })).toBe("1250");
    // The book's wildcard entry, and what a concrete model seen in the ledger resolves to (1.00 = 100 cents),
    // also as the tenant's own copy for tenant=-enforcing federation.
    expect(sample(price, { tier: "*", model: "*", direction: "input", currency: "USD" })).toBe("100");
    expect(sample(price, { tier: "free", model: "llama", direction: "input", currency: "USD" })).toBe("100");
    expect(sample(price, { tier: "free", model: "llama", direction: "input", currency: "USD", tenant: "acme" })).toBe("100");
    expect(sample("maas_billing_price_per_request_minor", { tier: "premium", model: "llama", currency: "USD", tenant: "acme" })).toBe("0.3");
    // All of acme's usage is in April 2026 (first price version). In cents: premium/llama input 1,101 x 2.50/M
    // = 0.27525, output 551 x 10.00/M = 0.551, 6 requests x 0.002 = 1.2; premium/mistral ("*": 1.00/2.00/0)
    // 0.02 + 0.004; free/llama 0.0005 + 0.001 -> 2.05175 -> 2 (the April invoice below says the same).
    expect(sample("maas_billing_cost_minor_units_total", { tenant: "acme", currency: "USD" })).toBe("2");
    expect(metrics).toContain("maas_billing_cost_minor_units_total");
    expect((await api.app.inject({ url: "/openapi.json" })).json().openapi).toMatch(/^3\./);
    expect((await api.app.inject({ url: "/docs" })).body).toContain("/v1/events");
  });
});

/**
 * One cross-tenant request per operation: a credential of tenant acme aimed at tenant globex.
 * Every operation of the OpenAPI document must be listed here.
 */
const crossTenant: Record<string, { url: string; payload?: unknown; allowedWith?: "sender" }> = {
  "POST /v1/events": { url: "/v1/events", payload: { events: [usageEvent({ id: "x1", tenant: "globex" })] } },
  // Sender credentials only: the admin token is refused too, a sender's is not.
  "POST /v1/logs": {
    url: "/v1/logs",
    payload: { resourceLogs: [{ scopeLogs: [{ logRecords: [{ timeUnixNano: "1793000000000000000", attributes: [{ key: "tenant", value: { stringValue: "globex" } }] }] }] }] },
    allowedWith: "sender",
  },
  "GET /v1/tenants/{tenant}/reconciliation": { url: "/v1/tenants/globex/reconciliation?from=2026-04-01T00:00:00Z&to=2026-05-01T00:00:00Z" },
  "GET /v1/tenants/{tenant}/usage": { url: "/v1/tenants/globex/usage?from=2026-04-01T00:00:00Z&to=2026-05-01T00:00:00Z" },
  "GET /v1/tenants/{tenant}/invoices": { url: "/v1/tenants/globex/invoices" },
  "POST /v1/tenants/{tenant}/invoices": { url: "/v1/tenants/globex/invoices", payload: { period: "2026-04" } },
  "GET /v1/tenants/{tenant}/invoices/{invoice}": { url: "/v1/tenants/globex/invoices/1" },
  "POST /v1/tenants/{tenant}/invoices/{invoice}/finalize": { url: "/v1/tenants/globex/invoices/1/finalize" },
  "GET /v1/tenants/{tenant}/quotas": { url: "/v1/tenants/globex/quotas" },
  "PUT /v1/tenants/{tenant}/quotas": { url: "/v1/tenants/globex/quotas", payload: { kind: "tokens", period: "day", limit: 10 } },
  "DELETE /v1/tenants/{tenant}/quotas": { url: "/v1/tenants/globex/quotas?kind=tokens&period=day" },
  "POST /v1/quota/check": { url: "/v1/quota/check", payload: { tenant: "globex", inputTokens: 1 } },
  "POST /v1/quota/authorize": { url: "/v1/quota/authorize", payload: { tenant: "globex" } },
  "GET /v1/quota/remaining": { url: "/v1/quota/remaining?tenant=globex" },
  "PUT /v1/tenants/{tenant}/webhooks/{name}": { url: "/v1/tenants/globex/webhooks/hook", payload: { url: "https://hooks.example.com/x" } },
  "GET /v1/tenants/{tenant}/webhooks": { url: "/v1/tenants/globex/webhooks" },
  "DELETE /v1/tenants/{tenant}/webhooks/{name}": { url: "/v1/tenants/globex/webhooks/hook" },
  "GET /v1/tenants/{tenant}/webhooks/deliveries": { url: "/v1/tenants/globex/webhooks/deliveries" },
};

describe("tenant isolation on every route of the OpenAPI document", () => {
  it("answers 401 without a credential, 403 across tenants, and logs denials without the credential", async () => {
    const spec = (await api.app.inject({ url: "/openapi.json" })).json() as { paths: Record<string, Record<string, unknown>> };
    const operations = Object.entries(spec.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(operations.length).toBeGreaterThanOrEqual(9);
    expect(operations.filter((op) => !(op in crossTenant))).toEqual([]);
    for (const op of operations) {
      const method = op.split(" ")[0] as "GET" | "POST" | "PUT" | "DELETE";
      const { url, payload, allowedWith } = crossTenant[op];
      const anonymous = await api.app.inject({ method, url, payload: payload as object });
      expect(anonymous.statusCode, `${op} without a token`).toBe(401);
      const denied = await api.app.inject({ method, url, payload: payload as object, headers: auth(api.tokens.acme) });
      expect(denied.statusCode, `${op} with tenant acme's token`).toBe(403);
      // The same request with the target tenant's or an admin's credential is not a 401/403
      // (so the 403 above is about the tenant, not a broken request).
      const allowed = await api.app.inject({ method, url, payload: payload as object, headers: auth(allowedWith === "sender" ? api.tokens.sender : api.tokens.admin) });
      expect([401, 403], `${op} with the admin token answered ${allowed.statusCode}`).not.toContain(allowed.statusCode);
    }
    // A batch mixing one's own and a foreign tenant is refused whole.
    const mixed = await api.app.inject({
      method: "POST",
      url: "/v1/events",
      headers: auth(api.tokens.acme),
      payload: { events: [usageEvent({ id: "m1" }), usageEvent({ id: "m2", tenant: "globex" })] },
    });
    expect(mixed.statusCode).toBe(403);
    expect(await count("select count(*) as n from usage_events where event_id in ('m1', 'm2', 'x1')")).toBe(1); // x1 from the admin call only
    const denials = api.logLines.filter((l) => l.includes('"auth.denied"'));
    expect(denials.length).toBeGreaterThanOrEqual(2 * operations.length);
    expect(denials.some((l) => l.includes('"principal":"acme-reader"') && l.includes('"tenant":"globex"'))).toBe(true);
    for (const token of Object.values(api.tokens)) expect(api.logLines.join("")).not.toContain(token);
  });

  it("an unknown token is 401", async () => {
    const res = await api.app.inject({ url: "/v1/tenants/acme/quotas", headers: auth("mb_not-a-token") });
    expect(res.statusCode).toBe(401);
  });
});
