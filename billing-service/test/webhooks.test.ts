/**
 * Signed outbound webhooks (Standard Webhooks) on a real PostgreSQL, the real API and a real HTTP
 * receiver that verifies every signature with the `standardwebhooks` library. The receiver is
 * down for a while (first answering 503, then not listening at all); the dispatcher is driven
 * step by step with a fake clock (no timing reliance), and every event still arrives at least
 * once, in outbox order per tenant, with the same webhook-id on every retry.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/app";
import { newToken, StaticTokenAuthenticator } from "../src/auth/static";
import { createInvoice, finalizeInvoice } from "../src/invoices/store";
import { createWebhookDispatcher } from "../src/webhooks/dispatcher";
import { parseEgressAllowList } from "../src/net/egress";
import { startBillingDb, testPriceBook, usageEvent, type BillingTestDb } from "./support/billing-db";

let db: BillingTestDb;
let app: App;
let clock = new Date("2026-06-03T10:00:00Z");
const book = testPriceBook();
const admin = newToken("ops", { admin: true });
const acme = newToken("acme-admin", { tenant: "acme" });
const globex = newToken("globex-admin", { tenant: "globex" });

/** A receiver that verifies signatures; `mode` says whether it is up, failing, or not listening. */
const received: Array<{ tenant: string; id: string; type: string; verified: boolean; body: any }> = [];
let mode: "up" | "503" = "up";
const secrets = new Map<string, string>();
let receiver: http.Server;
let port = 0;
const startReceiver = () =>
  new Promise<void>((resolve) => {
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        if (mode === "503") {
          res.writeHead(503).end();
          return;
        }
        const tenant = (req.url ?? "").split("/").pop()!;
        const body = Buffer.concat(chunks).toString("utf8");
        let verified = false;
        try {
          new Webhook(secrets.get(tenant)!).verify(body, req.headers as Record<string, string>);
          verified = true;
        } catch {
          verified = false;
        }
        received.push({ tenant, id: String(req.headers["webhook-id"]), type: JSON.parse(body).type, verified, body: JSON.parse(body) });
        res.writeHead(verified ? 204 : 400).end();
      });
    });
    receiver.listen(port, "127.0.0.1", () => {
      port = (receiver.address() as AddressInfo).port;
      resolve();
    });
  });
const stopReceiver = () => new Promise<void>((resolve) => receiver.close(() => resolve()));

const call = (method: "GET" | "PUT" | "POST" | "DELETE", url: string, token: string, payload?: unknown) =>
  app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload === undefined ? {} : { payload: payload as object }) });

beforeAll(async () => {
  db = await startBillingDb();
  app = await buildApp({
    pool: db.pool,
    priceBook: () => book,
    authenticator: new StaticTokenAuthenticator([admin.entry, acme.entry, globex.entry]),
    quota: { now: () => clock, autoRefresh: false },
  });
  await app.ready();
  await startReceiver();
}, 120_000);
afterAll(async () => {
  await app?.close();
  if (receiver?.listening) await stopReceiver();
  await db?.stop();
});

describe("webhooks", () => {
  it("registers endpoints per tenant; the generated secret is shown once; a tenant manages only its own", async () => {
    for (const [tenant, token] of [["acme", acme.token], ["globex", globex.token]] as const) {
      const r = await call("PUT", `/v1/tenants/${tenant}/webhooks/finance`, token, { url: `http://127.0.0.1:${port}/hooks/${tenant}` });
      expect(r.statusCode).toBe(200);
      expect(r.json().secret).toMatch(/^whsec_/);
      secrets.set(tenant, r.json().secret);
      expect(JSON.stringify((await call("GET", `/v1/tenants/${tenant}/webhooks`, token)).json())).not.toContain("whsec_");
    }
    expect((await call("PUT", "/v1/tenants/globex/webhooks/steal", acme.token, { url: "http://127.0.0.1:1/x" })).statusCode).toBe(403);
    expect((await call("GET", "/v1/tenants/globex/webhooks/deliveries", acme.token)).statusCode).toBe(403);
    const bad = await call("PUT", "/v1/tenants/acme/webhooks/bad", acme.token, { url: "https://user:pw@hooks.example.com/x" });
    expect(bad.statusCode).toBe(400);
    expect(JSON.stringify(bad.json())).toContain("must not carry credentials");
  });

  it("delivers every event at least once, in order per tenant, through an outage, with verified signatures", async () => {
    // Events of both tenants: quota thresholds (80 % then 100 %), invoice created and finalized.
    await call("PUT", "/v1/tenants/acme/quotas", admin.token, { kind: "tokens", period: "month", limit: 1000 });
    await call("POST", "/v1/events", admin.token, { events: [usageEvent({ id: "w1", tenant: "acme", time: "2026-06-01T00:00:00Z", inputTokens: 850 })] });
    await app.quota.view.refresh(); // 85 %: quota.threshold 80
    await app.quota.view.refresh(); // nothing new: each threshold is announced once
    await call("POST", "/v1/events", admin.token, { events: [usageEvent({ id: "w2", tenant: "acme", time: "2026-06-02T00:00:00Z", inputTokens: 200 })] });
    await app.quota.view.refresh(); // 105 %: quota.threshold 100
    await call("POST", "/v1/events", admin.token, { events: [usageEvent({ id: "w3", tenant: "globex", time: "2026-05-02T00:00:00Z", inputTokens: 10 })] });
    const draft = await createInvoice(db.pool, book, "globex", "2026-05");
    if (!draft.created) throw new Error("no draft");
    await finalizeInvoice(db.pool, "globex", draft.invoice.id);
    const outbox = (await db.pool.query("select tenant, event_id, event_type from webhook_outbox order by id")).rows;
    expect(outbox.map((r) => [r.tenant, r.event_type])).toEqual([
      ["acme", "quota.threshold"],
      ["acme", "quota.threshold"],
      ["globex", "invoice.created"],
      ["globex", "invoice.finalized"],
    ]);

    // The receiver stands in for an in-cluster one, allowed explicitly (loopback is refused by default: webhook-ssrf.test.ts).
    const dispatcher = createWebhookDispatcher(db.pool, {
      now: () => clock,
      backoff: { baseMs: 10_000, maxMs: 60_000 },
      timeoutMs: 5_000,
      egress: parseEgressAllowList("127.0.0.1/32"),
    });
    // Down, answering 503: one attempt per endpoint (the head), nothing behind it.
    mode = "503";
    expect(await dispatcher.runOnce()).toEqual({ delivered: 0, failed: 2 });
    // Not due yet (backoff 10 s): no attempt at all.
    expect(await dispatcher.runOnce()).toEqual({ delivered: 0, failed: 0 });
    // Down, not even listening: connection refused.
    await stopReceiver();
    clock = new Date(clock.getTime() + 10_000);
    expect(await dispatcher.runOnce()).toEqual({ delivered: 0, failed: 2 });
    // Back up; after the backoff (20 s now) everything goes, in order.
    mode = "up";
    await startReceiver();
    clock = new Date(clock.getTime() + 20_000);
    expect(await dispatcher.runOnce()).toEqual({ delivered: 4, failed: 0 });
    expect(await dispatcher.runOnce()).toEqual({ delivered: 0, failed: 0 });

    expect(received.every((r) => r.verified)).toBe(true);
    for (const tenant of ["acme", "globex"]) {
      expect(received.filter((r) => r.tenant === tenant).map((r) => r.id)).toEqual(outbox.filter((o) => o.tenant === tenant).map((o) => o.event_id));
    }
    const thresholds = received.filter((r) => r.type === "quota.threshold").map((r) => r.body.data);
    expect(thresholds.map((d) => [d.threshold, d.quota.kind, d.quota.used, d.quota.limit, d.quota.resetsAt])).toEqual([
      [80, "tokens", "850", "1000", "2026-07-01T00:00:00.000Z"],
      [100, "tokens", "1050", "1000", "2026-07-01T00:00:00.000Z"],
    ]);
    // The invoice events carry the invoice's own total, to the minor unit.
    const finalized = received.find((r) => r.type === "invoice.finalized")!.body.data;
    expect(finalized).toMatchObject({ number: draft.invoice.number, totalMinor: draft.invoice.totalMinor, currency: "USD", status: "final" });

    // The delivery log shows the failed attempts and the success, same webhook-id each time.
    const log = (await call("GET", "/v1/tenants/acme/webhooks/deliveries", acme.token)).json().attempts;
    const head = log.filter((a: any) => a.eventId === outbox[0].event_id);
    expect(head.map((a: any) => [a.attempt, a.status, a.delivered])).toEqual([
      [3, 204, true],
      [2, null, true],
      [1, 503, true],
    ]);
    expect(head[1].error).toMatch(/fetch failed|ECONNREFUSED/);
  });

  it("the check can fail: a receiver with the wrong secret, or a tampered body, does not verify", () => {
    const id = "msg_1";
    const at = new Date();
    const body = JSON.stringify({ type: "invoice.created", timestamp: at.toISOString(), data: { totalMinor: "100" } });
    const signature = new Webhook(secrets.get("acme")!).sign(id, at, body);
    const headers = { "webhook-id": id, "webhook-timestamp": String(Math.floor(at.getTime() / 1000)), "webhook-signature": signature };
    expect(() => new Webhook(secrets.get("acme")!).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(secrets.get("globex")!).verify(body, headers)).toThrow();
    expect(() => new Webhook(secrets.get("acme")!).verify(body.replace('"100"', '"1"'), headers)).toThrow();
  });
});
