/**
 * The portal in Kubernetes auth mode behind an OAuth proxy: the user's token arrives in
 * X-Forwarded-Access-Token and is checked by the same authenticator and tenant scopes as a bearer
 * token; without that mode the header is ignored (a portal request is then signed in by its cookie
 * only), and a state change still needs the CSRF token derived from the forwarded token.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/app";
import { newToken, StaticTokenAuthenticator } from "../src/auth/static";
import { FORWARDED_TOKEN_HEADER } from "../src/portal/guard";
import { csrfTokenFor } from "../src/portal/sessions";
import { startBillingDb, testPriceBook, type BillingTestDb } from "./support/billing-db";

let db: BillingTestDb;
const acme = newToken("acme-user", { tenant: "acme" });
const build = (trust: boolean): Promise<App> =>
  buildApp({ pool: db.pool, priceBook: testPriceBook, authenticator: new StaticTokenAuthenticator([acme.entry]), portalTrustsForwardedToken: trust });

beforeAll(async () => {
  db = await startBillingDb();
}, 120_000);

afterAll(async () => {
  await db?.stop();
});

describe("portal behind an OAuth proxy (Kubernetes auth mode)", () => {
  it("signs the user in with the forwarded token, within its tenant only", async () => {
    const app = await build(true);
    const headers = { [FORWARDED_TOKEN_HEADER]: acme.token };
    expect((await app.inject({ url: "/portal/t/acme/prices", headers })).statusCode).toBe(200);
    const other = await app.inject({ url: "/portal/t/globex/prices", headers });
    expect(other.statusCode).toBe(403);
    expect(other.body).not.toContain("globex");
    // An unknown forwarded token is no sign-in.
    expect((await app.inject({ url: "/portal/t/acme/prices", headers: { [FORWARDED_TOKEN_HEADER]: "mb_forged" } })).statusCode).toBe(401);
    await app.close();
  });

  it("ignores the header when the service is not in that mode", async () => {
    const app = await build(false);
    const r = await app.inject({ url: "/portal/t/acme/prices", headers: { [FORWARDED_TOKEN_HEADER]: acme.token } });
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe("/portal/sign-in");
    // Nor does a bearer header sign a portal page in: the portal takes the cookie (or the proxy's header) only.
    const bearer = await app.inject({ url: "/portal/t/acme/prices", headers: { authorization: `Bearer ${acme.token}` } });
    expect(bearer.statusCode).toBe(303);
    await app.close();
  });

  it("needs the CSRF token of the forwarded token for a state change, then sends the user to the proxy's sign-out", async () => {
    const app = await build(true);
    const post = (csrf: string) =>
      app.inject({ method: "POST", url: "/portal/sign-out", headers: { [FORWARDED_TOKEN_HEADER]: acme.token, "content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "same-origin" }, payload: `_csrf=${encodeURIComponent(csrf)}` });
    expect((await post("guess")).statusCode).toBe(403);
    const ok = await post(csrfTokenFor(acme.token));
    expect(ok.statusCode).toBe(303);
    expect(ok.headers.location).toBe("/oauth/sign_out");
    await app.close();
  });
});
