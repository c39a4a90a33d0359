/**
 * What the service logs for the gateway's quota check (src/ops/request-logging.ts), over real HTTP
 * on a real PostgreSQL, with the log captured: the per-request success lines are left out (they
 * cost more CPU than the check), but an operator still sees the check's failures: a 503 from a
 * stale quota view and a 500 from a thrown handler, each with the request's URL and status.
 * Every other route keeps fastify's "incoming request" / "request completed" lines.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/app";
import { newToken, StaticTokenAuthenticator } from "../src/auth/static";
import type { Authenticator } from "../src/auth/types";
import { QUOTA_AUTHORIZE_PATH } from "../src/routes/quotas";
import { capturedLogger } from "./support/billing-app";
import { startBillingDb, testPriceBook, type BillingTestDb } from "./support/billing-db";

const gateway = newToken("platform-gateway", { quotaGateway: true });
const admin = newToken("ops", { admin: true });
/** A credential whose lookup throws (a TokenReview that fails): the request is answered 500. */
const BROKEN = "mb_lookup-throws";

let db: BillingTestDb;
let app: App;
let base: string;
let logLines: string[];

interface Line {
  level: number;
  msg: string;
  req?: { url?: string };
  res?: { statusCode?: number };
  err?: { message?: string };
}

const lines = (): Line[] => logLines.map((l) => JSON.parse(l) as Line);
/** The lines naming `url` (fastify's request lines carry it in `req`). */
const linesOf = (url: string, from: number): Line[] => lines().slice(from).filter((l) => l.req?.url === url);

const check = async (token: string): Promise<number> =>
  (
    await fetch(`${base}${QUOTA_AUTHORIZE_PATH}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ tenant: "acme", user: "alice", tier: "premium" }),
    })
  ).status;

beforeAll(async () => {
  db = await startBillingDb();
  const book = testPriceBook();
  const captured = capturedLogger();
  logLines = captured.logLines;
  const inner = new StaticTokenAuthenticator([gateway.entry, admin.entry]);
  const authenticator: Authenticator = {
    authenticate: async (token) => {
      if (token === BROKEN) throw new Error("token review unavailable");
      return inner.authenticate(token);
    },
    boundSources: () => inner.boundSources(),
  };
  // No automatic refresh: the view is stale until the test refreshes it.
  app = await buildApp({ pool: db.pool, priceBook: () => book, authenticator, logger: captured.logger, quota: { autoRefresh: false } });
  base = await app.listen({ port: 0, host: "127.0.0.1" });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await db?.stop();
});

describe("request logging of the gateway's quota check", () => {
  it("writes a stale view's 503 and a thrown handler's 500 as error lines naming the request; no line for a 200", async () => {
    // Never refreshed: the view is stale, the route answers 503.
    let from = logLines.length;
    expect(await check(gateway.token)).toBe(503);
    const stale = linesOf(QUOTA_AUTHORIZE_PATH, from);
    expect(stale).toHaveLength(1);
    expect(stale[0]).toMatchObject({ level: 50, msg: "request completed", res: { statusCode: 503 } });

    await app.quota.view.refresh();
    from = logLines.length;
    expect(await check(gateway.token)).toBe(200);
    expect(await check(gateway.token)).toBe(200);
    expect(logLines.slice(from)).toEqual([]);

    // The lookup throws: the error handler answers 500 and logs the error; fastify's completion
    // line names the request and its status.
    from = logLines.length;
    expect(await check(BROKEN)).toBe(500);
    const failed = lines().slice(from);
    expect(failed.find((l) => l.msg === "request failed")).toMatchObject({ level: 50, err: { message: "token review unavailable" } });
    expect(linesOf(QUOTA_AUTHORIZE_PATH, from)).toEqual([expect.objectContaining({ level: 50, res: { statusCode: 500 } })]);
  }, 60_000);

  it("keeps fastify's request lines on every other route (the captured log does see them)", async () => {
    const from = logLines.length;
    const res = await fetch(`${base}/v1/tenants/acme/quotas`, { headers: { authorization: `Bearer ${admin.token}` } });
    expect(res.status).toBe(200);
    expect(lines().slice(from).map((l) => l.msg)).toEqual(["incoming request", "request completed"]);
  }, 60_000);
});
