/**
 * The gateway's request-path check (POST /v1/quota/authorize) at the platform's request rate,
 * against the real app over HTTP on a real PostgreSQL:
 *  - the per-principal API limit must not throttle the gateway's quota credential: it carries every
 *    user's traffic, and a 429 there would make the gateway fail open (quotas not enforced) or fail
 *    closed (everyone refused). Other principals stay limited, on that route too.
 *  - the route writes no per-request log lines (they cost more CPU than the check: the bench's
 *    profile), while a denied credential on it is still logged.
 *  - its answers, written without the zod serializer (plain JSON.stringify), carry exactly the
 *    documented fields, and follow a changed quota at the next refresh (the view keeps each
 *    identity's applicable rules per refresh: a memo must never outlive the state it came from).
 */
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/app";
import { newToken, StaticTokenAuthenticator } from "../src/auth/static";
import { deleteQuota, setQuota } from "../src/quota/store";
import { errorBody, quotaAuthorizeBody } from "../src/schemas";
import { startBillingDb, testPriceBook, type BillingTestDb } from "./support/billing-db";

let db: BillingTestDb;
let app: App;
let url: string;
const lines: Array<Record<string, unknown>> = [];
const gateway = newToken("platform-gateway", { quotaGateway: true });
const acme = newToken("acme-app", { tenant: "acme" });
const LIMIT = 5;

const authorize = (token: string, tenant = "acme") =>
  fetch(`${url}/v1/quota/authorize`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ tenant, user: "alice", tier: "" }),
  });

beforeAll(async () => {
  db = await startBillingDb();
  const book = testPriceBook();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  app = await buildApp({
    pool: db.pool,
    priceBook: () => book,
    authenticator: new StaticTokenAuthenticator([gateway.entry, acme.entry]),
    logger: pino({ level: "info" }, sink),
    limits: { requestsPerMinute: LIMIT },
  });
  url = await app.listen({ port: 0, host: "127.0.0.1" });
  await app.quota.view.refresh();
}, 120_000);

afterAll(async () => {
  await app?.close();
  await db?.stop();
});

describe("the gateway's quota check at the platform's request rate", () => {
  it("is never throttled by the per-principal limit; a tenant credential on the same route is", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT * 6; i++) statuses.push((await authorize(gateway.token)).status);
    expect(statuses).toEqual(Array(LIMIT * 6).fill(200));
    const tenant: number[] = [];
    for (let i = 0; i < LIMIT + 2; i++) tenant.push((await authorize(acme.token)).status);
    expect(tenant).toEqual([...Array(LIMIT).fill(200), 429, 429]);
    // The exemption does not widen what the credential reaches.
    const other = await fetch(`${url}/v1/tenants/acme/quotas`, { headers: { authorization: `Bearer ${gateway.token}` } });
    expect(other.status).toBe(403);
  });

  it("writes no per-request log lines for the check, still logs a denied credential there", async () => {
    lines.length = 0;
    for (let i = 0; i < 3; i++) expect((await authorize(gateway.token)).status).toBe(200);
    expect((await authorize("mb_not-a-token")).status).toBe(401);
    await fetch(`${url}/v1/tenants/acme/quotas`, { headers: { authorization: `Bearer ${acme.token}` } });
    const about = (l: Record<string, unknown>) => JSON.stringify(l).includes("/v1/quota/authorize");
    expect(lines.filter((l) => about(l) && l.level === 30)).toEqual([]);
    expect(lines.filter((l) => about(l) && l.event === "auth.denied")).toHaveLength(1);
    // Other routes keep their request lines (the logger works).
    expect(lines.some((l) => JSON.stringify(l).includes("/v1/tenants/acme/quotas") && l.level === 30)).toBe(true);
  });

  it("answers with exactly the documented fields, and follows a changed quota at the next refresh", async () => {
    // parse() drops undeclared fields at every level: equality means the answer had none.
    const answer = async (tenant = "acme") => {
      const r = await authorize(gateway.token, tenant);
      const body = (await r.json()) as Record<string, unknown>;
      expect(r.headers.get("content-type")).toMatch(/^application\/json/);
      return { status: r.status, body };
    };
    const allowed = await answer();
    expect(allowed.status).toBe(200);
    expect(quotaAuthorizeBody.parse(allowed.body)).toEqual(allowed.body);
    expect(allowed.body.allowed).toBe(true);

    await setQuota(db.pool, { tenant: "acme", user: "alice", kind: "requests", period: "day", limit: 0n });
    await app.quota.view.refresh();
    const refused = await answer();
    expect(refused.status).toBe(200);
    expect(quotaAuthorizeBody.parse(refused.body)).toEqual(refused.body);
    expect(refused.body).toMatchObject({ allowed: false, exceeded: { user: "alice", kind: "requests", period: "day", limit: "0", source: "set" } });
    expect(refused.body.message).toMatch(/^user requests quota per day exhausted: 0 of 0 used; resets at \d{4}-\d\d-\d\dT00:00:00\.000Z$/);

    await deleteQuota(db.pool, { tenant: "acme", user: "alice", kind: "requests", period: "day" });
    await app.quota.view.refresh();
    expect((await answer()).body.allowed).toBe(true);

    // A refused body (400 from the error handler) goes through the same serializer: still the error shape.
    const stale = await fetch(`${url}/v1/quota/authorize`, { method: "POST", headers: { authorization: `Bearer ${gateway.token}`, "content-type": "application/json" }, body: "{}" });
    const staleBody = (await stale.json()) as Record<string, unknown>;
    expect(stale.status).toBe(400);
    expect(errorBody.parse(staleBody)).toEqual(staleBody);
  });
});
