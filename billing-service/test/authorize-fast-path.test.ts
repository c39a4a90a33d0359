/**
 * The gateway's quota check answered in front of fastify (src/routes/authorize-fast-path.ts), over
 * real HTTP on a real PostgreSQL:
 *  - for every request (credentials, bodies at and past the schema's edges, JSON attacks, content
 *    types, framing, paths), the app with the fast path answers byte for byte what the app without
 *    it answers (status, headers but Date, body), and the fast path answers exactly the gateway's
 *    plain checks (fastify sees every other request); the request metrics count alike;
 *  - a stale view is answered by the route (503), not by the fast path;
 *  - attacks: an address blocked for failed authentications is refused even with the gateway's
 *    credential; an unknown token costs one lookup (not one in the fast path and one in fastify),
 *    and counts as one failure;
 *  - shutdown: once the server is closing, a gateway connection kept busy gets fastify's 503 and
 *    `connection: close`, so the drain (serve's SIGTERM) ends instead of waiting for the gateway.
 */
import net from "node:net";
import type { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App, type AppDeps } from "../src/app";
import { newToken, StaticTokenAuthenticator } from "../src/auth/static";
import type { Authenticator } from "../src/auth/types";
import { createServiceMetrics } from "../src/ops/metrics";
import { setQuota } from "../src/quota/store";
import { FAST_PATH_MAX_BODY } from "../src/routes/authorize-fast-path";
import { startBillingDb, testPriceBook, type BillingTestDb } from "./support/billing-db";

const gateway = newToken("platform-gateway", { quotaGateway: true });
const acme = newToken("acme-app", { tenant: "acme" });
const admin = newToken("ops", { admin: true });
const NOW = new Date();

let db: BillingTestDb;
const started: App[] = [];

/** An authenticator that counts its lookups (a TokenReview each, in Kubernetes mode). */
const countingAuthenticator = () => {
  const inner = new StaticTokenAuthenticator([gateway.entry, acme.entry, admin.entry]);
  const counter = { lookups: 0 };
  const authenticator: Authenticator = {
    authenticate: (token) => {
      counter.lookups += 1;
      return inner.authenticate(token);
    },
    boundSources: () => inner.boundSources(),
  };
  return { authenticator, counter };
};

interface Served {
  app: App;
  port: number;
  registry: Registry;
  /** Requests fastify's own pipeline answered (an onResponse hook). */
  fastifySaw: { count: number };
}

const serve = async (over: Partial<AppDeps> & { refresh?: boolean } = {}): Promise<Served> => {
  const book = testPriceBook();
  const metrics = createServiceMetrics(db.pool, () => book);
  const app = await buildApp({
    pool: db.pool,
    priceBook: () => book,
    metrics,
    authenticator: over.authenticator ?? new StaticTokenAuthenticator([gateway.entry, acme.entry, admin.entry]),
    // One clock for every app: the answers' stateAgeMs are equal (0).
    quota: { now: () => NOW, autoRefresh: false },
    // The tenant registry the gateway's namespace bodies are mapped with (the collector settings').
    accessLogs: { tenants: REGISTRY },
    limits: { requestsPerMinute: 100_000, failedAuth: { max: 100_000, windowMs: 60_000 }, ...over.limits },
    ...(over.authorizeFastPath === undefined ? {} : { authorizeFastPath: over.authorizeFastPath }),
  });
  started.push(app);
  // onResponse: runs for every answer of fastify's, denials and errors included (an onRequest hook
  // added here would run after the auth hook, which may answer first). It runs on the response's
  // 'finish', before the connection's close reaches the client (send() waits for that, and a turn more).
  const fastifySaw = { count: 0 };
  app.addHook("onResponse", async () => {
    fastifySaw.count += 1;
  });
  const url = new URL(await app.listen({ port: 0, host: "127.0.0.1" }));
  if (over.refresh !== false) await app.quota.view.refresh();
  return { app, port: Number(url.port), registry: metrics.registry, fastifySaw };
};

interface RawRequest {
  method?: string;
  path?: string;
  token?: string | null;
  authorization?: string;
  contentType?: string | null;
  body: string;
  chunked?: boolean;
}

/** Sends the request as raw bytes (connection: close) and answers the raw response. */
const send = (port: number, r: RawRequest): Promise<string> =>
  new Promise((resolve, reject) => {
    const body = Buffer.from(r.body, "utf8");
    const lines = [`${r.method ?? "POST"} ${r.path ?? "/v1/quota/authorize"} HTTP/1.1`, "host: 127.0.0.1", "connection: close"];
    const authorization = r.authorization ?? (r.token === null || r.token === undefined ? undefined : `Bearer ${r.token}`);
    if (authorization !== undefined) lines.push(`authorization: ${authorization}`);
    if (r.contentType !== null) lines.push(`content-type: ${r.contentType ?? "application/json"}`);
    const framed = r.chunked ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from("\r\n0\r\n\r\n")]) : body;
    lines.push(r.chunked ? "transfer-encoding: chunked" : `content-length: ${body.length}`);
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (c) => chunks.push(c));
    socket.on("error", reject);
    socket.on("end", () => setImmediate(() => resolve(Buffer.concat(chunks).toString("utf8"))));
    socket.write(Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`), framed]));
  });

/**
 * The response without what may differ between two servers answering the same request: the Date,
 * and the seconds to the rate-limit window's end (each app's window starts at its own first request).
 */
const comparable = (raw: string): string => raw.replace(/^date: .*\r\n/im, "").replace(/^(x-ratelimit-reset): \d+/im, "$1: <s>");

const statusOf = (raw: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);

const counted = async (registry: Registry, name: string): Promise<string> =>
  (await registry.getSingleMetricAsString(name))
    .split("\n")
    // The histogram's count, not its buckets and sum (durations are the machine's).
    .filter((l) => l.includes('route="/v1/quota/authorize"') && !l.startsWith("#") && !l.includes("_bucket{") && !l.includes("_sum{"))
    .join("\n");

const REGISTRY = [
  { name: "acme", namespaces: ["acme-models", "acme-dev"] },
  { name: "globex", namespaces: ["globex-models"] },
];

const BODIES: Record<string, string> = {
  plain: JSON.stringify({ tenant: "acme", user: "alice", tier: "premium" }),
  // The platform's gateway names the key's namespace; the registry maps it.
  nsPlain: JSON.stringify({ namespace: "acme-models", user: "alice", tier: "premium" }),
  nsRefused: JSON.stringify({ namespace: "acme-dev", user: "bob" }),
  nsGatewayNone: JSON.stringify({ namespace: "acme-models", user: "", tier: "" }),
  nsOtherTenant: JSON.stringify({ namespace: "globex-models", user: "x" }),
  nsUnknown: JSON.stringify({ namespace: "elsewhere", user: "alice" }),
  nsTenantName: JSON.stringify({ namespace: "acme" }),
  nsEmpty: JSON.stringify({ namespace: "", user: "alice" }),
  nsAndTenant: JSON.stringify({ tenant: "acme", namespace: "globex-models" }),
  nsAndUnknown: JSON.stringify({ tenant: "acme", namespace: "elsewhere" }),
  nsNumber: '{"namespace":7}',
  nsNull: '{"namespace":null,"tenant":"acme"}',
  refused: JSON.stringify({ tenant: "acme", user: "bob" }),
  gatewayNone: JSON.stringify({ tenant: "acme", user: "", tier: "" }),
  tenantOnly: JSON.stringify({ tenant: "acme" }),
  otherTenant: JSON.stringify({ tenant: "globex", user: "x" }),
  spaced: ' { "tenant" : "acme" , "user" : "alice" } ',
  unicode: JSON.stringify({ tenant: "acme", user: "ål😀ce" }),
  extraKey: JSON.stringify({ tenant: "acme", extra: 1 }),
  protoPoison: '{"tenant":"acme","__proto__":{"admin":true}}',
  constructorPoison: '{"tenant":"acme","constructor":{"prototype":{"admin":true}}}',
  bom: `\uFEFF${JSON.stringify({ tenant: "acme" })}`,
  badJson: '{"tenant":"acme"',
  empty: "",
  emptyObject: "{}",
  array: '[{"tenant":"acme"}]',
  nul: "null",
  string: '"acme"',
  emptyTenant: '{"tenant":""}',
  nulInTenant: JSON.stringify({ tenant: "ac\u0000me" }),
  longTenant: JSON.stringify({ tenant: "x".repeat(257) }),
  maxTenant: JSON.stringify({ tenant: "x".repeat(256) }),
  numberUser: '{"tenant":"acme","user":7}',
  nullTier: '{"tenant":"acme","tier":null}',
  duplicateKey: '{"tenant":"globex","tenant":"acme"}',
  big: JSON.stringify({ tenant: "acme", user: "alice" }) + " ".repeat(FAST_PATH_MAX_BODY),
};

/** The requests the fast path must answer itself: the gateway's plain checks. */
const PLAIN = new Set(["plain", "refused", "gatewayNone", "tenantOnly", "otherTenant", "spaced", "unicode", "maxTenant", "duplicateKey", "nsPlain", "nsRefused", "nsGatewayNone", "nsOtherTenant", "nsUnknown", "nsTenantName", "nsEmpty"]);

beforeAll(async () => {
  db = await startBillingDb();
  await setQuota(db.pool, { tenant: "acme", user: "bob", kind: "requests", period: "day", limit: 0n });
}, 120_000);

afterAll(async () => {
  for (const app of started) await app.close();
  await db?.stop();
});

describe("the gateway's quota check in front of fastify", () => {
  it("answers every request byte for byte as the route does, and answers only the gateway's plain checks itself", async () => {
    const fast = await serve();
    const route = await serve({ authorizeFastPath: false });
    const requests: Array<{ name: string; r: RawRequest; fastExpected: boolean }> = [];
    for (const [who, token] of Object.entries({ gateway: gateway.token, tenant: acme.token, admin: admin.token, unknown: "mb_not-a-token", none: null })) {
      for (const [name, body] of Object.entries(BODIES)) requests.push({ name: `${who} ${name}`, r: { token, body }, fastExpected: who === "gateway" && PLAIN.has(name) });
    }
    const plain = BODIES.plain;
    for (const contentType of ["application/json; charset=utf-8", "APPLICATION/JSON", "application/json;charset=utf-8", "text/plain", "application/x-www-form-urlencoded", null]) {
      requests.push({ name: `content-type ${contentType}`, r: { token: gateway.token, body: plain, contentType }, fastExpected: contentType === "application/json; charset=utf-8" });
    }
    requests.push({ name: "chunked", r: { token: gateway.token, body: plain, chunked: true }, fastExpected: false });
    requests.push({ name: "query string", r: { token: gateway.token, body: plain, path: "/v1/quota/authorize?x=1" }, fastExpected: false });
    requests.push({ name: "trailing slash", r: { token: gateway.token, body: plain, path: "/v1/quota/authorize/" }, fastExpected: false });
    requests.push({ name: "GET", r: { token: gateway.token, body: "", method: "GET" }, fastExpected: false });
    requests.push({ name: "PUT", r: { token: gateway.token, body: plain, method: "PUT" }, fastExpected: false });
    requests.push({ name: "lower-case bearer", r: { authorization: `bearer ${gateway.token}`, body: plain }, fastExpected: true });
    requests.push({ name: "basic auth", r: { authorization: `Basic ${Buffer.from(`x:${gateway.token}`).toString("base64")}`, body: plain }, fastExpected: false });
    requests.push({ name: "two tokens", r: { authorization: `Bearer ${gateway.token} ${gateway.token}`, body: plain }, fastExpected: false });

    const mismatches: string[] = [];
    const routing: string[] = [];
    let fastAnswered = 0;
    for (const { name, r, fastExpected } of requests) {
      const before = fast.fastifySaw.count;
      const a = await send(fast.port, r);
      const viaFastify = fast.fastifySaw.count > before;
      const b = await send(route.port, r);
      if (comparable(a) !== comparable(b)) mismatches.push(`${name}:\n--- fast path app\n${a}\n--- route only\n${b}`);
      if (viaFastify === fastExpected) routing.push(`${name}: ${viaFastify ? "fastify answered" : "the fast path answered"}`);
      if (!viaFastify) fastAnswered += 1;
    }
    expect(mismatches).toEqual([]);
    expect(routing).toEqual([]);
    expect(fastAnswered).toBeGreaterThanOrEqual(PLAIN.size);
    // The route-only app saw every request in fastify.
    expect(route.fastifySaw.count).toBe(requests.length);
    // Allowed and refused answers were among them (not only errors).
    const refused = await send(fast.port, { token: gateway.token, body: BODIES.refused });
    expect(statusOf(refused)).toBe(200);
    expect(refused).toContain('"allowed":false,"exceeded":{');
    expect(await send(route.port, { token: gateway.token, body: BODIES.refused })).toContain('"allowed":false,"exceeded":{');

    // The request metrics count the fast path's answers as the route's.
    for (const name of ["maas_billing_http_requests_total", "maas_billing_http_request_duration_seconds"]) {
      expect(await counted(fast.registry, name)).toEqual(await counted(route.registry, name));
    }
    expect(await counted(fast.registry, "maas_billing_http_requests_total")).toMatch(/status="200"\} \d+/);
    // A namespace is checked as its tenant: bob's quota in acme-dev (acme's) refuses, as by tenant.
    expect(await send(fast.port, { token: gateway.token, body: BODIES.nsRefused })).toContain('"allowed":false,"exceeded":{');
    // A namespace no tenant lists, and "" (an identity without one): allowed=false, never a 400 (a
    // fail-open gateway lets an answer without `allowed` through: threat model B3N).
    for (const body of [BODIES.nsUnknown, BODIES.nsEmpty]) {
      const answer = await send(fast.port, { token: gateway.token, body });
      expect(statusOf(answer)).toBe(200);
      expect(answer).toContain('"allowed":false,"message":"API key stored outside every tenant namespace: ');
    }
  }, 120_000);

  it("leaves a stale view to the route: 503, as without the fast path", async () => {
    const fast = await serve({ refresh: false });
    const route = await serve({ authorizeFastPath: false, refresh: false });
    const a = await send(fast.port, { token: gateway.token, body: BODIES.plain });
    const b = await send(route.port, { token: gateway.token, body: BODIES.plain });
    expect(statusOf(a)).toBe(503);
    expect(comparable(a)).toBe(comparable(b));
    expect(fast.fastifySaw.count).toBe(1);
  }, 60_000);

  it("refuses an address blocked for failed authentications, even with the gateway's credential (429)", async () => {
    const fast = await serve({ limits: { failedAuth: { max: 3, windowMs: 60_000 } } });
    const statuses: number[] = [];
    // Unknown tokens with the gateway's request: the fast path hands them on; each counts once.
    for (let i = 0; i < 3; i++) statuses.push(statusOf(await send(fast.port, { token: `mb_guess-${i}`, body: BODIES.plain })));
    statuses.push(statusOf(await send(fast.port, { token: gateway.token, body: BODIES.plain })));
    expect(statuses).toEqual([401, 401, 401, 429]);
  }, 60_000);

  it("looks an unknown token up once per request, and counts it as one failure", async () => {
    const { authenticator, counter } = countingAuthenticator();
    const fast = await serve({ authenticator, limits: { failedAuth: { max: 2, windowMs: 60_000 } } });
    const before = counter.lookups;
    expect(statusOf(await send(fast.port, { token: "mb_guess-a", body: BODIES.plain }))).toBe(401);
    expect(counter.lookups - before).toBe(1);
    expect(statusOf(await send(fast.port, { token: "mb_guess-b", body: BODIES.plain }))).toBe(401);
    expect(counter.lookups - before).toBe(2);
    // Two failures: the third request is refused before any lookup.
    expect(statusOf(await send(fast.port, { token: "mb_guess-c", body: BODIES.plain }))).toBe(429);
    expect(counter.lookups - before).toBe(2);
    // The gateway's own checks: one lookup each, too.
    const fresh = countingAuthenticator();
    const other = await serve({ authenticator: fresh.authenticator });
    for (let i = 0; i < 5; i++) expect(statusOf(await send(other.port, { token: gateway.token, body: BODIES.plain }))).toBe(200);
    expect(fresh.counter.lookups).toBe(5);
    // A body the route answers (400): still one lookup.
    expect(statusOf(await send(other.port, { token: gateway.token, body: BODIES.emptyTenant }))).toBe(400);
    expect(fresh.counter.lookups).toBe(6);
  }, 60_000);

  it("hands the gateway's checks to fastify once the server is closing, so a busy keep-alive connection is closed and the drain ends", async () => {
    const fast = await serve();
    started.splice(started.indexOf(fast.app), 1);
    const head = Buffer.from(
      [`POST /v1/quota/authorize HTTP/1.1`, "host: 127.0.0.1", `authorization: Bearer ${gateway.token}`, "content-type: application/json", `content-length: ${Buffer.byteLength(BODIES.plain)}`, "", ""].join("\r\n"),
    );
    const body = Buffer.from(BODIES.plain);
    // The gateway's connection is never idle: each write is one request's body and the next
    // request's head, so the server always holds a request in progress (waiting for its body).
    // close() starts when the server has the 21st request in progress, so it cannot close the
    // connection as idle: only the answers can.
    let closing: Promise<void> | undefined;
    let seen = 0;
    fast.app.server.on("request", () => {
      seen += 1;
      if (seen === 21) closing = fast.app.close();
    });
    const socket = net.connect(fast.port, "127.0.0.1");
    const answers: Array<{ status: number; connection: string | undefined }> = [];
    let pending = Buffer.alloc(0);
    let answersAfterClose = 0;
    const done = new Promise<string>((resolve) => {
      socket.on("close", () => resolve("socket closed"));
      socket.on("error", () => undefined);
      socket.on("data", (chunk) => {
        pending = Buffer.concat([pending, chunk]);
        for (;;) {
          const end = pending.indexOf("\r\n\r\n");
          if (end < 0) return;
          const text = pending.subarray(0, end).toString("latin1");
          const length = Number(/^content-length: (\d+)/im.exec(text)?.[1] ?? 0);
          if (pending.length < end + 4 + length) return;
          pending = pending.subarray(end + 4 + length);
          answers.push({ status: statusOf(text), connection: /^connection: (.*)$/im.exec(text)?.[1]?.trim() });
          if (closing !== undefined) answersAfterClose += 1;
          // Without the check the fast path answers 200 forever: give up after plenty.
          if (answersAfterClose > 2_000) return resolve("still answering after close() began");
          if (!socket.destroyed) socket.write(Buffer.concat([body, head]));
        }
      });
      socket.write(Buffer.concat([head, body, head]));
    });
    expect(await done).toBe("socket closed");
    expect(closing).toBeDefined();
    await closing;
    expect(answers.at(-1)).toEqual({ status: 503, connection: "close" });
    // Everything before the last answer was a check answered normally.
    expect(answers.length).toBeGreaterThan(20);
    expect(answers.slice(0, -1).every((a) => a.status === 200)).toBe(true);
  }, 120_000);
});
