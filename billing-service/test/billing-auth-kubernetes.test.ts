/**
 * Kubernetes auth mode attacked over HTTP: the real API (buildApp, listening on a kernel-picked port)
 * with a KubernetesAuthenticator that talks HTTP to a recording stand-in for the API server
 * (support/fake-kube-api.ts). Each block is an attack of issue #14 hole 5 and fails with its defence
 * removed: no audience in the TokenReview, one "get tenants" check for every action, "no name" as
 * admin, a cache flushed whole when full, no limit on failed authentications.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/app";
import { BILLING_API_GROUP, KubernetesAuthenticator, kubernetesApi } from "../src/auth/kubernetes";
import { API_SERVER_AUDIENCE, fakeKubeApi, type FakeKubeApi } from "./support/fake-kube-api";
import { startBillingDb, testPriceBook, usageEvent, type BillingTestDb } from "./support/billing-db";

let db: BillingTestDb;
let kube: FakeKubeApi;
let app: App;
let url: string;

const tokens = {
  // A token meant for the API server (the default audience): whoever sees it could replay it there.
  "api-server-token": { user: "system:serviceaccount:acme:gateway", audiences: [API_SERVER_AUDIENCE] },
  "acme-reader": { user: "acme-reader", audiences: ["maas-billing"] },
  "acme-sender": { user: "acme-sender", audiences: ["maas-billing"] },
  "all-tenants-reader": { user: "all-tenants-reader", audiences: ["maas-billing"] },
  "billing-admin": { user: "billing-admin", audiences: ["maas-billing"] },
};
const rules = {
  "system:serviceaccount:acme:gateway": [{ verbs: ["*"], resources: ["*"] }],
  "acme-reader": [{ verbs: ["get"], resources: ["usage", "invoices", "quotas", "tenants"], resourceNames: ["acme"] }],
  "acme-sender": [{ verbs: ["create"], resources: ["events"], resourceNames: ["acme"] }],
  // The old model's "read every tenant" grant (get on tenants, no resourceNames) made its holder admin.
  "all-tenants-reader": [{ verbs: ["get"], resources: ["tenants", "usage", "invoices", "quotas"] }],
  "billing-admin": [{ verbs: ["update"], resources: ["admin/quotas", "admin/invoices"] }],
};

const call = (method: string, path: string, token: string, body?: unknown): Promise<Response> =>
  fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
const usagePath = "/v1/tenants/acme/usage?from=2026-04-01T00:00:00Z&to=2026-05-01T00:00:00Z";
const sars = () => kube.reviews.filter((r) => r.kind === "SubjectAccessReview").map((r) => r.body.spec.resourceAttributes);

beforeAll(async () => {
  db = await startBillingDb();
  kube = await fakeKubeApi(tokens, rules);
  const book = testPriceBook();
  app = await buildApp({
    pool: db.pool,
    priceBook: () => book,
    authenticator: new KubernetesAuthenticator(kubernetesApi({ url: kube.url, token: () => "billing-service-sa-token" })),
    limits: { failedAuth: { max: 5, windowMs: 10 * 60_000 } },
  });
  url = await app.listen({ port: 0, host: "127.0.0.1" });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await kube?.close();
  await db?.stop();
});

describe("TokenReview with the maas-billing audience", () => {
  it("refuses a token issued for the API server, and asks for audience maas-billing", async () => {
    const res = await call("GET", usagePath, "api-server-token");
    expect(res.status).toBe(401);
    const review = kube.reviews.find((r) => r.kind === "TokenReview" && r.body.spec.token === "api-server-token");
    expect(review?.body.spec.audiences).toEqual(["maas-billing"]);
    expect((await call("GET", usagePath, "acme-reader")).status).toBe(200);
  });
});

describe("one (verb, resource) per action", () => {
  it("a reader of acme reads usage but cannot post acme's events", async () => {
    expect((await call("GET", usagePath, "acme-reader")).status).toBe(200);
    const post = await call("POST", "/v1/events", "acme-reader", { events: [usageEvent({ id: "r1", tenant: "acme" })] });
    expect(post.status).toBe(403);
    expect(sars()).toContainEqual({ group: BILLING_API_GROUP, resource: "events", verb: "create", name: "acme" });
    expect(sars()).toContainEqual({ group: BILLING_API_GROUP, resource: "usage", verb: "get", name: "acme" });
  });

  it("a sender of acme posts events but cannot read acme's usage", async () => {
    const post = await call("POST", "/v1/events", "acme-sender", { events: [usageEvent({ id: "s1", tenant: "acme" })] });
    expect(post.status).toBe(200);
    expect((await call("GET", usagePath, "acme-sender")).status).toBe(403);
  });

  it("reading every tenant is not billing admin: setting a quota needs update on admin/quotas", async () => {
    const quota = { kind: "tokens", period: "month", limit: 1000 };
    expect((await call("GET", usagePath, "all-tenants-reader")).status).toBe(200);
    expect((await call("PUT", "/v1/tenants/acme/quotas", "all-tenants-reader", quota)).status).toBe(403);
    expect((await call("PUT", "/v1/tenants/acme/quotas", "acme-reader", quota)).status).toBe(403);
    expect((await call("PUT", "/v1/tenants/acme/quotas", "billing-admin", quota)).status).toBe(200);
    expect(sars()).toContainEqual({ group: BILLING_API_GROUP, resource: "admin", subresource: "quotas", verb: "update" });
    // The admin grant is not a tenant-data grant either.
    expect((await call("GET", usagePath, "billing-admin")).status).toBe(403);
  });
});

describe("decision cache", () => {
  it("keeps recently used tokens when full (LRU): no full flush, no TokenReview storm for known callers", async () => {
    const counted = { reviews: 0 };
    const auth = new KubernetesAuthenticator(
      {
        review: async (path, body) => {
          if (path.endsWith("/tokenreviews") && (body as any).spec.token === "acme-reader") counted.reviews++;
          return kube.answer(path, body as Record<string, any>);
        },
      },
      { cacheEntries: 10_000 },
    );
    // 12,000 unknown tokens (past the old 10,000-entry flush), the known caller every 100.
    for (let i = 0; i < 12_000; i++) {
      if (i % 100 === 0) expect(await auth.authenticate("acme-reader")).toBeDefined();
      expect(await auth.authenticate(`unknown-${i}`)).toBeUndefined();
    }
    expect(counted.reviews).toBe(1);
    expect(auth.cacheSizes().tokens).toBeLessThanOrEqual(10_000);
  }, 120_000);
});

describe("failed authentications per client", () => {
  it("answers 429 after 5 unknown tokens from one address, without asking the API server again", async () => {
    // Its own app: the limit is per address and the other tests share 127.0.0.1.
    const limited = await buildApp({
      pool: db.pool,
      priceBook: testPriceBook,
      authenticator: new KubernetesAuthenticator(kubernetesApi({ url: kube.url, token: () => "billing-service-sa-token" })),
      limits: { failedAuth: { max: 5, windowMs: 10 * 60_000 } },
    });
    const limitedUrl = await limited.listen({ port: 0, host: "127.0.0.1" });
    try {
      const before = kube.reviews.filter((r) => r.kind === "TokenReview").length;
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const res = await fetch(`${limitedUrl}${usagePath}`, { headers: { authorization: `Bearer guess-${i}` } });
        statuses.push(res.status);
      }
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
      expect(kube.reviews.filter((r) => r.kind === "TokenReview").length - before).toBe(5);
    } finally {
      await limited.close();
    }
  });
});
