// Attack B3N: the gateway's quota check names the API key's namespace, and the billing service maps
// it to the tenant (docs/scaling.md step 1: the Gateway AuthPolicy then lists no tenant for the
// check). The tenant a request is checked as must stay out of reach of a tenant admin and a client:
//  - the body is what Authorino builds from the rendered `bodyParameters`: only the key Secret's
//    `metadata.namespace` (set by the API server; a tenant admin can create Secrets only in its own
//    namespaces) and its user and tier annotations; nothing from the request (headers, body, path)
//    and no annotation or label that names a tenant;
//  - the service maps the namespace with the rendered tenant registry (collector.yaml and its 16
//    shard ConfigMaps, read as the pods read them), strictly: a namespace no tenant lists, even one
//    named like a rival tenant, is nobody's (400), never "its own tenant";
//  - only the gateway's credential may name a namespace: a tenant token cannot read a rival's (or
//    learn which namespaces are registered) through the namespace form;
//  - a namespace under two tenants is refused before anything runs (the config check, the service).
// Real parts: the platform rendered by the Pulumi program, its AuthPolicy checked against the
// AuthPolicy CRD, the real billing service over HTTP on real PostgreSQL, quota state and all.
import { evaluate } from "@marcbachmann/cel-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../billing-service/src/app";
import { newToken, StaticTokenAuthenticator } from "../billing-service/src/auth/static";
import { setQuota } from "../billing-service/src/quota/store";
import { startBillingDb, testPriceBook, type BillingTestDb } from "../billing-service/test/support/billing-db";
import { gatewayAuthPolicyName, quotaPredicate } from "../components/platform/gatewayAuth";
import { TIER_ANNOTATION, USER_ANNOTATION } from "../components/shared/apiKeyIdentity";
import type { RenderResult } from "../scripts/render";
import { errorsOf } from "./support/configErrors";
import { createConformanceValidator } from "./support/conformance";
import { ofKind, renderConfig, renderedCollectorSettings, testImage } from "./support/stacks";

const tenants = [
  { name: "acme", namespaces: ["acme-models", "acme-dev"] },
  { name: "globex", namespaces: ["globex-models"] },
];
const platformConfig = (extra: Record<string, unknown> = {}) => ({ flavor: "kubernetes", platform: { billing: { image: testImage }, tenants, ...extra } });

const gateway = newToken("platform-gateway", { quotaGateway: true });
const acmeToken = newToken("acme-app", { tenant: "acme" });

let rendered: RenderResult;
let db: BillingTestDb;
let app: App;
let url: string;

/** The rendered quota rule's `metadata.http` (the policy checked against the CRD in the first case). */
const quotaHttp = (): any => {
  const policy = ofKind(rendered, "AuthPolicy").find((o) => o.object.metadata.name === gatewayAuthPolicyName);
  return (policy!.object.spec as any).overrides.rules.metadata.quota.http;
};

/**
 * Authorino's authorization JSON for a request with an API key: `auth.identity` is the key's Secret
 * as JSON (Authorino docs/features.md, "API key": "The resolved identity object ... is the
 * Kubernetes Secret resource"), `context` the request as Envoy sent it, headers and all.
 */
const authorizationJson = (secret: { namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> }, request: { headers?: Record<string, string>; body?: string } = {}) => ({
  context: { request: { http: { method: "POST", path: "/v1/chat/completions", host: "models.example.com", headers: request.headers ?? {}, body: request.body ?? "" } } },
  auth: {
    identity: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "mallory-key", namespace: secret.namespace, uid: "u-1", labels: { "kuadrant.io/apikeys-by": "rhcl", ...secret.labels }, annotations: { [USER_ANNOTATION]: "mallory", [TIER_ANNOTATION]: "free", ...secret.annotations } },
      data: { api_key: "bWFsbG9yeQ==" },
      type: "Opaque",
    },
  },
});

/** The body Authorino POSTs: each bodyParameter's CEL evaluated on the authorization JSON, serialised as JSON. */
const bodyFor = (json: object): string => JSON.stringify(Object.fromEntries(Object.entries(quotaHttp().bodyParameters as Record<string, { expression: string }>).map(([k, v]) => [k, evaluate(v.expression, json)])));

const check = async (body: string, token = gateway.token): Promise<{ status: number; json: any }> => {
  const r = await fetch(`${url}/v1/quota/authorize`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body });
  return { status: r.status, json: await r.json() };
};

beforeAll(async () => {
  [rendered, db] = await Promise.all([renderConfig("unit-quota-namespace", platformConfig()), startBillingDb()]);
  // acme is over its quota (no request left today); globex is not.
  await setQuota(db.pool, { tenant: "acme", kind: "requests", period: "day", limit: 0n });
  const book = testPriceBook();
  app = await buildApp({
    pool: db.pool,
    priceBook: () => book,
    authenticator: new StaticTokenAuthenticator([gateway.entry, acmeToken.entry]),
    // The registry as the rendered pods read it (collector.yaml + the shard files it names).
    accessLogs: { tenants: renderedCollectorSettings(rendered).tenants },
    quota: { autoRefresh: false },
  });
  url = (await app.listen({ port: 0, host: "127.0.0.1" })).replace("0.0.0.0", "127.0.0.1");
  await app.quota.view.refresh();
}, 300_000);

afterAll(async () => {
  await app?.close();
  await db?.stop();
});

describe("B3N: the quota check's tenant comes from the key Secret's namespace, mapped by the billing service", () => {
  it("renders a quota rule that names the key's namespace and lists no tenant, within the AuthPolicy CRD", async () => {
    const policy = ofKind(rendered, "AuthPolicy").find((o) => o.object.metadata.name === gatewayAuthPolicyName)!.object;
    expect(await createConformanceValidator().validate(policy)).toEqual([]);
    const http = quotaHttp();
    expect(Object.keys(http.bodyParameters).sort()).toEqual(["namespace", "tier", "user"]);
    // Nothing of the request itself (Authorino's `context`) reaches the body: only the identity.
    for (const p of Object.values(http.bodyParameters as Record<string, { expression: string }>)) {
      expect(p.expression).not.toMatch(/\bcontext\b/);
      expect(p.expression).toMatch(/\bauth\.identity\b/);
    }
    // No tenant name or namespace list in the quota rule (the registry is the service's).
    expect(JSON.stringify((policy.spec as any).overrides.rules.metadata.quota)).not.toMatch(/acme|globex/);
    // Applied after the billing pods' rollout: older pods refuse a body that names a namespace.
    const policyResource = rendered.resources.find((r) => r.name.endsWith("-gateway-auth-policy"))!;
    const deployment = rendered.resources.find((r) => r.type === "kubernetes:apps/v1:Deployment" && r.name.endsWith("-billing-deployment"));
    expect(deployment).toBeDefined();
    expect((policyResource.dependencies ?? []).filter((urn) => urn.endsWith(`kubernetes:apps/v1:Deployment::${deployment!.name}`))).toHaveLength(1);
  });

  it("an honest key is checked as its own tenant, in each of the tenant's namespaces", async () => {
    for (const ns of ["acme-models", "acme-dev"]) {
      const r = await check(bodyFor(authorizationJson({ namespace: ns })));
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ allowed: false, exceeded: { kind: "requests" } });
    }
    expect((await check(bodyFor(authorizationJson({ namespace: "globex-models" })))).json.allowed).toBe(true);
  });

  it("a tenant admin labelling and annotating its key to name a rival is still checked as itself", async () => {
    const json = authorizationJson({
      namespace: "acme-models",
      labels: { "maas.opendatahub.io/tenant": "globex", "kubernetes.io/metadata.name": "globex-models" },
      annotations: { "maas-billing.io/tenant": "globex", "maas-billing.io/namespace": "globex-models", [USER_ANNOTATION]: 'mallory","namespace":"globex-models' },
    });
    const body = bodyFor(json);
    expect(JSON.parse(body).namespace).toBe("acme-models");
    const r = await check(body);
    expect(r.status).toBe(200);
    // acme's quota refuses: the rival's (globex: allowed) was not used.
    expect(r.json.allowed).toBe(false);
  });

  it("a client's headers and body name nothing the check reads", async () => {
    const json = authorizationJson(
      { namespace: "acme-models" },
      { headers: { "x-maas-namespace": "globex-models", namespace: "globex-models", "x-tenant": "globex" }, body: JSON.stringify({ namespace: "globex-models", tenant: "globex" }) },
    );
    expect(JSON.parse(bodyFor(json)).namespace).toBe("acme-models");
    expect((await check(bodyFor(json))).json.allowed).toBe(false);
  });

  it("a key in a namespace no tenant lists is nobody's, even one named like a rival tenant: the gateway refuses it, fail-open or closed", async () => {
    // The rendered authorization rule, evaluated on the answer as Authorino keeps it: any JSON
    // answer becomes auth.metadata.quota whatever its status (Kuadrant/authorino
    // pkg/evaluators/metadata/generic_http.go), so a 400 body without `allowed` would pass `open`.
    const policy = ofKind(rendered, "AuthPolicy").find((o) => o.object.metadata.name === gatewayAuthPolicyName)!.object as any;
    const rendered_ = policy.spec.overrides.rules.authorization.quota.patternMatching.patterns[0].predicate as string;
    expect(rendered_).toBe(quotaPredicate("open")); // the default failure mode
    const passes = (predicate: string, answer: unknown): boolean => evaluate(predicate, { auth: { metadata: { quota: answer } } }) === true;
    const refusedEverywhere = (answer: unknown) => {
      expect(passes(rendered_, answer)).toBe(false);
      expect(passes(quotaPredicate("closed"), answer)).toBe(false);
    };
    for (const ns of ["globex", "acme-scratch", "mallory-sandbox"]) {
      const r = await check(bodyFor(authorizationJson({ namespace: ns })));
      refusedEverywhere(r.json); // first: what the gateway does with the answer
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ allowed: false, message: expect.stringContaining(`API key stored outside every tenant namespace: "${ns}"`) });
    }
    // An identity without a namespace (not a namespaced Kubernetes object): "" is refused too.
    // (Authorino's anonymous identity, {"anonymous": true}, has no metadata at all: the user and
    // tier expressions fail on it, so no check is sent; the rule maas-billing-api-key-identity
    // denies it: test/attack-gateway-anonymous.test.ts.)
    for (const identity of [{ metadata: { name: "cluster-key", annotations: {} } }]) {
      const noNamespace = JSON.stringify(Object.fromEntries(Object.entries(quotaHttp().bodyParameters as Record<string, { expression: string }>).map(([k, v]) => [k, evaluate(v.expression, { auth: { identity } })])));
      expect(JSON.parse(noNamespace).namespace).toBe("");
      const r = await check(noNamespace);
      refusedEverywhere(r.json);
      expect(r.status).toBe(200);
      expect(r.json.allowed).toBe(false);
    }
    // The checker can fail: a 400 body (no `allowed`) passes the fail-open predicate.
    expect(passes(rendered_, { error: "invalid request", issues: [{ field: "namespace", message: "..." }] })).toBe(true);
  });

  it("only the gateway's credential may name a namespace: a tenant token gets 403 for its own, a rival's and an unknown one", async () => {
    for (const ns of ["acme-models", "globex-models", "elsewhere"]) {
      const r = await check(JSON.stringify({ namespace: ns }), acmeToken.token);
      expect(r.status).toBe(403);
      expect(r.json).not.toHaveProperty("allowed");
    }
    // Its own tenant by name still works (the tenant form), a rival's does not.
    expect((await check(JSON.stringify({ tenant: "acme" }), acmeToken.token)).status).toBe(200);
    expect((await check(JSON.stringify({ tenant: "globex" }), acmeToken.token)).status).toBe(403);
  });

  it("a body naming both a tenant and a namespace is refused, whoever sends it", async () => {
    const r = await check(JSON.stringify({ tenant: "globex", namespace: "acme-models" }));
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.json)).toContain("exactly one of tenant and namespace");
  });

  it("a namespace under two tenants is refused: by the platform config, and by the service before it answers anything", async () => {
    const issues = errorsOf(platformConfig({ tenants: [{ name: "acme", namespaces: ["shared-ns"] }, { name: "globex", namespaces: ["shared-ns"] }] })).join("\n");
    expect(issues).toMatch(/shared-ns/);
    const book = testPriceBook();
    await expect(
      buildApp({
        pool: db.pool,
        priceBook: () => book,
        authenticator: new StaticTokenAuthenticator([gateway.entry]),
        accessLogs: { tenants: [{ name: "acme", namespaces: ["acme-models", "shared-ns"] }, { name: "globex", namespaces: ["shared-ns"] }] },
        quota: { autoRefresh: false },
      }),
    ).rejects.toThrow('namespace "shared-ns" is listed under both "acme" and "globex"');
  });
});
