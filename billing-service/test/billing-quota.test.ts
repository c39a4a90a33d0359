/**
 * Quotas fed by the ledger, on a real PostgreSQL and two real service instances (two replicas on
 * one database) over HTTP: usage arriving as events and through the collector's writer moves the
 * quotas; a concurrent burst at the edge of a quota across both replicas allows exactly what
 * fits; a request reserved by a check and later reported (event) or collected counts once;
 * reservations expire; tier defaults, requests and cost quotas; the gateway's check from memory
 * refuses with a message naming the quota and its reset; the delete route.
 */
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/app";
import { vocabularySource } from "../src/events/vocabulary";
import { newToken, StaticTokenAuthenticator } from "../src/auth/static";
import { writeChunk } from "../src/collector/store";
import { createInvoice } from "../src/invoices/store";
import { estimateCostMinor } from "../src/quota/cost";
import { parseTierDefaults } from "../src/quota/defaults";
import type { LedgerRow } from "../src/collector/reconcile";
import { startBillingDb, testPriceBook, usageEvent, type BillingTestDb } from "./support/billing-db";

let db: BillingTestDb;
const book = testPriceBook();
let clock = new Date("2026-05-20T10:00:00Z");
const admin = newToken("ops", { admin: true });
const acmeReader = newToken("acme-reader", { tenant: "acme" });
const gateway = newToken("platform-gateway", { quotaGateway: true });
const replicas: Array<{ app: App; url: string }> = [];

const startReplica = async (): Promise<{ app: App; url: string }> => {
  const app = await buildApp({
    pool: db.pool,
    priceBook: () => book,
    // The tests' tier "free" and model "granite" are priced by the book's "*" entry (#14: names must be listed).
    vocabulary: vocabularySource(() => book, { tiers: ["free"], models: ["granite"] }),
    authenticator: new StaticTokenAuthenticator([admin.entry, acmeReader.entry, gateway.entry]),
    quota: {
      now: () => clock,
      autoRefresh: false, // the tests refresh the in-memory view themselves: no timing reliance
      tierDefaults: parseTierDefaults({ free: [{ kind: "requests", period: "day", limit: 3 }, { kind: "tokens", period: "month", limit: 1000 }] }),
      reservations: { ttlMs: 15 * 60_000, settleAfterMs: 10 * 60_000 },
    },
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
};

const call = async (replica: number, method: string, path: string, body?: unknown, token = admin.token): Promise<{ status: number; json: any }> => {
  const res = await fetch(replicas[replica].url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
};

const refreshAll = () => Promise.all(replicas.map((r) => r.app.quota.view.refresh()));
const setQuota = async (tenant: string, q: Record<string, unknown>) => expect((await call(0, "PUT", `/v1/tenants/${tenant}/quotas`, q)).status).toBe(200);
const remaining = async (tenant: string, user?: string, tier?: string) =>
  (await call(1, "GET", `/v1/quota/remaining?tenant=${tenant}${user ? `&user=${user}` : ""}${tier ? `&tier=${tier}` : ""}`)).json;
const postEvents = async (events: unknown[]) => expect((await call(0, "POST", "/v1/events", { events })).status).toBeLessThan(300);

/** The collector's own writer (src/collector/store.ts) stores a window and moves the gateway watermark. */
const collect = async (fromIso: string, toIso: string, rows: Array<{ tenant: string; user: string | null; input: number; output: number; requests: number }>) => {
  const fromMs = Date.parse(fromIso);
  const toMs = Date.parse(toIso);
  const ledger: LedgerRow[] = rows.map((r) => ({
    row: { source: "gateway", tenant: r.tenant, user: r.user, tier: "premium", model: "llama", attributes: {}, windowStartMs: fromMs, windowEndMs: toMs, quantities: {}, resets: 0, gaps: 0, samples: 10, series: 1 },
    billable: true,
    inputTokens: r.input,
    outputTokens: r.output,
    totalTokens: r.input + r.output,
    requests: r.requests,
    limitedRequests: 0,
    reconciliationKey: null,
  }));
  const client = await db.pool.connect();
  try {
    await writeChunk(client, { fromMs, toMs, ledger, reconciliations: [], unattributed: [], sources: ["gateway"] });
  } finally {
    client.release();
  }
};

beforeAll(async () => {
  db = await startBillingDb({ poolSize: 16 });
  replicas.push(await startReplica(), await startReplica());
}, 120_000);
afterAll(async () => {
  for (const r of replicas) await r.app.close();
  await db?.stop();
});

describe("usage feeds quotas", () => {
  it("events move token, request and cost quotas; the month cost equals the draft invoice total", async () => {
    clock = new Date("2026-05-20T10:00:00Z");
    await setQuota("acme", { kind: "tokens", period: "month", limit: 10_000 });
    await setQuota("acme", { kind: "cost", period: "month", limit: 100_000 });
    await setQuota("acme", { user: "alice", kind: "requests", period: "day", limit: 10 });
    await postEvents([
      usageEvent({ id: "ev1", time: "2026-05-03T08:00:00Z", user: "alice", inputTokens: 1000, outputTokens: 500, requests: 2 }),
      usageEvent({ id: "ev2", time: "2026-05-20T09:00:00Z", user: "alice", inputTokens: 2000, outputTokens: 100, requests: 3 }),
      usageEvent({ id: "ev3", time: "2026-05-20T09:30:00Z", user: "bob", model: "granite", tier: "free", inputTokens: 300, outputTokens: 0, requests: 1 }),
      // April is another month: not counted.
      usageEvent({ id: "ev0", time: "2026-04-30T23:00:00Z", user: "alice", inputTokens: 99_999, outputTokens: 0 }),
    ]);
    const r = await remaining("acme", "alice");
    const by = (kind: string, user: string | null) => r.quotas.find((q: any) => q.kind === kind && q.user === user);
    expect(by("tokens", null)).toMatchObject({ used: "3900", remaining: "6100", reserved: "0", periodStart: "2026-05-01T00:00:00.000Z", resetsAt: "2026-06-01T00:00:00.000Z" });
    // alice's requests today: ev2 only (ev1 was on May 3rd).
    expect(by("requests", "alice")).toMatchObject({ used: "3", remaining: "7", resetsAt: "2026-05-21T00:00:00.000Z" });
    // The tenant's month-to-date cost is the draft invoice's total, to the minor unit (same pricing code).
    const draft = await createInvoice(db.pool, book, "acme", "2026-05");
    expect(draft.created).toBe(true);
    if (draft.created) expect(by("cost", null).used).toBe(draft.invoice.totalMinor);
  });

  it("usage collected by the collector moves quotas too", async () => {
    clock = new Date("2026-05-20T12:30:00Z");
    await setQuota("coll", { kind: "tokens", period: "day", limit: 5000 });
    await collect("2026-05-20T10:00:00Z", "2026-05-20T11:00:00Z", [{ tenant: "coll", user: "carol", input: 1200, output: 300, requests: 4 }]);
    expect((await remaining("coll")).quotas[0]).toMatchObject({ kind: "tokens", period: "day", used: "1500", remaining: "3500" });
  });

  it("a reserved-then-reported request counts once (event id = requestId)", async () => {
    clock = new Date("2026-05-20T13:00:00Z");
    await setQuota("once", { kind: "tokens", period: "day", limit: 1000 });
    const check = await call(0, "POST", "/v1/quota/check", { tenant: "once", user: "dave", requestId: "req-1", inputTokens: 300, outputTokens: 100 });
    expect(check.json).toMatchObject({ allowed: true, spent: true, requestId: "req-1" });
    expect((await remaining("once")).quotas[0]).toMatchObject({ used: "400", reserved: "400" });
    // A retry of the same check does not reserve twice.
    expect((await call(1, "POST", "/v1/quota/check", { tenant: "once", user: "dave", requestId: "req-1", inputTokens: 300, outputTokens: 100 })).json).toMatchObject({ allowed: true, spent: false });
    // Attack: another tenant's event carrying the same id must not settle (free) this reservation.
    await postEvents([usageEvent({ id: "req-1", source: "//other", tenant: "mallory", time: "2026-05-20T13:00:01Z", inputTokens: 1 })]);
    expect((await remaining("once")).quotas[0]).toMatchObject({ used: "400", reserved: "400" });
    // The real usage arrives (it differs from the estimate): the reservation is settled in the same transaction.
    await postEvents([usageEvent({ id: "req-1", tenant: "once", user: "dave", time: "2026-05-20T13:00:01Z", inputTokens: 350, outputTokens: 120 })]);
    expect((await remaining("once")).quotas[0]).toMatchObject({ used: "470", reserved: "0" });
  });

  it("a reserved-then-collected request counts once (the gateway watermark settles it)", async () => {
    clock = new Date("2026-05-21T10:05:00Z");
    await setQuota("once-c", { kind: "tokens", period: "day", limit: 1000 });
    expect((await call(1, "POST", "/v1/quota/check", { tenant: "once-c", inputTokens: 200 })).json).toMatchObject({ allowed: true, spent: true });
    // The collector catches up to the window holding the request (its watermark only moves over contiguous ranges).
    await collect("2026-05-20T11:00:00Z", "2026-05-21T10:00:00Z", []);
    expect((await remaining("once-c")).quotas[0]).toMatchObject({ used: "200", reserved: "200" });
    // The collector collects the window holding the request, but not yet 10 minutes past it: still reserved...
    await collect("2026-05-21T10:00:00Z", "2026-05-21T10:10:00Z", [{ tenant: "once-c", user: null, input: 180, output: 40, requests: 1 }]);
    expect((await remaining("once-c")).quotas[0]).toMatchObject({ used: "420", reserved: "200" });
    // ...once the watermark passes settle_after, the usage is in the ledger and the reservation is settled.
    await collect("2026-05-21T10:10:00Z", "2026-05-21T10:20:00Z", []);
    expect((await remaining("once-c")).quotas[0]).toMatchObject({ used: "220", reserved: "0" });
  });

  it("a reservation whose usage never arrives expires", async () => {
    clock = new Date("2026-05-22T08:00:00Z");
    await setQuota("exp", { kind: "tokens", period: "day", limit: 100 });
    expect((await call(0, "POST", "/v1/quota/check", { tenant: "exp", inputTokens: 100 })).json.allowed).toBe(true);
    expect((await call(0, "POST", "/v1/quota/check", { tenant: "exp", inputTokens: 1 })).json.allowed).toBe(false);
    clock = new Date("2026-05-22T08:15:01Z");
    expect((await call(0, "POST", "/v1/quota/check", { tenant: "exp", inputTokens: 1 })).json.allowed).toBe(true);
  });
});

describe("a burst at the edge of a quota, across two replicas", () => {
  it("allows exactly what fits", async () => {
    clock = new Date("2026-05-23T12:00:00Z");
    await setQuota("edge", { kind: "tokens", period: "month", limit: 10_000 });
    await setQuota("edge", { kind: "requests", period: "day", limit: 1000 });
    // 9,300 tokens already billed this month: 700 left, i.e. exactly 10 checks of 70.
    await postEvents([usageEvent({ id: "edge-1", tenant: "edge", time: "2026-05-02T00:00:00Z", inputTokens: 9000, outputTokens: 300 })]);
    const results = await Promise.all(Array.from({ length: 80 }, (_, i) => call(i % 2, "POST", "/v1/quota/check", { tenant: "edge", user: `u${i % 5}`, inputTokens: 50, outputTokens: 20 })));
    expect(results.map((r) => r.status)).toEqual(Array(80).fill(200));
    expect(results.filter((r) => r.json.allowed)).toHaveLength(10);
    const refused = results.find((r) => !r.json.allowed)!.json;
    expect(refused.exceeded).toMatchObject({ kind: "tokens", period: "month", user: null });
    expect(refused.message).toBe("tenant tokens quota per month exhausted: 10000 of 10000 used; resets at 2026-06-01T00:00:00.000Z");
    expect((await remaining("edge")).quotas.find((q: any) => q.kind === "tokens")).toMatchObject({ used: "10000", remaining: "0", reserved: "700" });
  });

  it("the gateway check from memory agrees on both replicas after a refresh, and names the quota and its reset", async () => {
    await refreshAll();
    for (const replica of [0, 1]) {
      const r = await call(replica, "POST", "/v1/quota/authorize", { tenant: "edge", user: "u1" });
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ allowed: false, message: "tenant tokens quota per month exhausted: 10000 of 10000 used; resets at 2026-06-01T00:00:00.000Z" });
      expect((await call(replica, "POST", "/v1/quota/authorize", { tenant: "acme", user: "alice" })).json).toMatchObject({ allowed: true });
    }
  });

  it("the in-memory check refuses to answer when its state is older than the staleness limit", async () => {
    const saved = clock;
    clock = new Date(clock.getTime() + 60_000);
    const r = await call(0, "POST", "/v1/quota/authorize", { tenant: "edge" });
    expect(r.status).toBe(503);
    expect(r.json.message).toMatch(/ms old/);
    clock = saved;
  });
});

describe("defaults, kinds and routes", () => {
  it("tier defaults apply per user unless the user has their own quota of that kind and period", async () => {
    clock = new Date("2026-05-24T09:00:00Z");
    const check = (user: string) => call(0, "POST", "/v1/quota/check", { tenant: "tiers", user, tier: "free", inputTokens: 1 });
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push((await check("erin")).json);
    expect(answers.map((a) => a.allowed)).toEqual([true, true, true, false]);
    expect(answers[3].exceeded).toMatchObject({ user: "erin", kind: "requests", period: "day", limit: "3", source: "tier-default" });
    await setQuota("tiers", { user: "erin", kind: "requests", period: "day", limit: 5 });
    expect((await check("erin")).json.allowed).toBe(true);
    const mine = await remaining("tiers", "erin", "free");
    expect(mine.quotas.map((q: any) => [q.kind, q.period, q.limit, q.used, q.source])).toEqual([
      ["requests", "day", "5", "4", "set"],
      ["tokens", "month", "1000", "4", "tier-default"],
    ]);
  });

  it("a cost quota is charged with the price book (the one pricing code) and refuses when spent", async () => {
    clock = new Date("2026-05-25T09:00:00Z");
    await setQuota("costly", { kind: "cost", period: "day", limit: 5 });
    const req = { tenant: "costly", tier: "premium", model: "llama", inputTokens: 1000, outputTokens: 1000 };
    const estimate = estimateCostMinor(book, clock, { tenant: "costly", tier: "premium", model: "llama", inputTokens: 1000n, outputTokens: 1000n, requests: 1n });
    expect(estimate).toBe(2n);
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await call(0, "POST", "/v1/quota/check", req)).json);
    expect(answers.map((a) => [a.allowed, a.costMinor])).toEqual([
      [true, "2"],
      [true, "2"],
      [false, "2"],
    ]);
  });

  it("deletes a quota (admin only), 404 for one that does not exist", async () => {
    await setQuota("gone", { kind: "tokens", period: "day", limit: 1 });
    expect((await call(0, "DELETE", "/v1/tenants/acme/quotas?kind=tokens&period=month", undefined, acmeReader.token)).status).toBe(403);
    const deleted = await call(0, "DELETE", "/v1/tenants/gone/quotas?kind=tokens&period=day");
    expect(deleted).toMatchObject({ status: 200, json: { quotas: [] } });
    expect((await call(0, "DELETE", "/v1/tenants/gone/quotas?kind=tokens&period=day")).status).toBe(404);
    expect((await call(0, "POST", "/v1/quota/check", { tenant: "gone", inputTokens: 5 })).json).toMatchObject({ allowed: true, spent: false, quotas: [] });
  });

  it("the gateway's token checks any tenant's quota and can do nothing else (a leaked one reads no usage)", async () => {
    clock = new Date("2026-05-23T12:00:00Z"); // while the burst's reservations hold the edge tenant at its limit
    await refreshAll();
    // As the gateway sends it: an identity without user or tier annotations arrives as "".
    const r = await call(0, "POST", "/v1/quota/authorize", { tenant: "edge", user: "", tier: "" }, gateway.token);
    expect(r).toMatchObject({ status: 200, json: { allowed: false } });
    expect((await call(0, "POST", "/v1/quota/authorize", { tenant: "acme", user: "alice", tier: "premium" }, gateway.token)).json.allowed).toBe(true);
    for (const [method, path, body] of [
      ["GET", "/v1/quota/remaining?tenant=acme", undefined],
      ["GET", "/v1/tenants/acme/usage?from=2026-05-01T00:00:00Z&to=2026-06-01T00:00:00Z", undefined],
      ["GET", "/v1/tenants/acme/invoices", undefined],
      ["POST", "/v1/quota/check", { tenant: "acme", inputTokens: 1 }],
      ["PUT", "/v1/tenants/acme/quotas", { kind: "tokens", period: "day", limit: 1 }],
      ["POST", "/v1/events", { events: [usageEvent({ id: "gw-forged" })] }],
    ] as const) {
      const denied = await call(0, method, path, body, gateway.token);
      expect(denied.status, `${method} ${path}`).toBe(403);
      expect(denied.json.message).toBe("this credential may only call POST /v1/quota/authorize");
    }
  });

  it("a tenant credential reads its own remaining quota and no other tenant's", async () => {
    expect((await call(1, "GET", "/v1/quota/remaining?tenant=acme", undefined, acmeReader.token)).status).toBe(200);
    expect((await call(1, "GET", "/v1/quota/remaining?tenant=edge", undefined, acmeReader.token)).status).toBe(403);
    expect((await call(1, "POST", "/v1/quota/authorize", { tenant: "edge" }, acmeReader.token)).status).toBe(403);
  });
});
