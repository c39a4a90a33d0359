/**
 * Every API route declares its response bodies, so /openapi.json documents what it answers (and
 * fastify serializes through the same schemas). No database is needed to render the document.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/app";
import { StaticTokenAuthenticator } from "../src/auth/static";
import { testPriceBook } from "./support/billing-db";

let app: App;
let pool: pg.Pool;
beforeAll(async () => {
  // Never connected: rendering the document runs no query.
  pool = new pg.Pool({ connectionString: "postgres://nobody@127.0.0.1:1/none" });
  const book = testPriceBook();
  app = await buildApp({ pool, priceBook: () => book, authenticator: new StaticTokenAuthenticator([]) });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await pool?.end();
});

type Operation = { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> };

describe("/openapi.json", () => {
  it("lists a success response body for every operation", async () => {
    const spec = (await app.inject({ url: "/openapi.json" })).json() as { paths: Record<string, Record<string, Operation>> };
    const operations = Object.entries(spec.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, op })));
    expect(operations.length).toBeGreaterThanOrEqual(9);
    const undocumented = operations
      .filter(({ op }) => !Object.entries(op.responses ?? {}).some(([code, r]) => /^2\d\d$/.test(code) && r.content?.["application/json"]?.schema))
      .map(({ name }) => name);
    expect(undocumented).toEqual([]);
  });

  it("documents the invoice errors the one error mapping answers", async () => {
    const spec = (await app.inject({ url: "/openapi.json" })).json() as { paths: Record<string, Record<string, Operation>> };
    const finalize = spec.paths["/v1/tenants/{tenant}/invoices/{invoice}/finalize"].post;
    expect(Object.keys(finalize.responses ?? {})).toEqual(expect.arrayContaining(["200", "404", "409"]));
  });
});
