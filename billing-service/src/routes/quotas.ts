/**
 * Quotas (docs/billing-service.md "Quotas"):
 *   GET/PUT/DELETE /v1/tenants/:tenant/quotas   rules (admin sets and deletes, tenant reads)
 *   POST /v1/quota/check       spend: reserve tokens/requests/cost, exact across replicas (batcher.ts)
 *   POST /v1/quota/authorize   the gateway's request-path check, from memory (view.ts)
 *   GET  /v1/quota/remaining   what is left for a tenant, or for one user (API key identity)
 */
import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Pool } from "pg";
import { z } from "zod";
import { InvalidRequestError, unknownValues, type Vocabulary } from "../events/vocabulary";
import type { PriceBook } from "../pricebook/pricebook";
import { estimateCostMinor } from "../quota/cost";
import { refusalMessage } from "../quota/decide";
import type { QuotaService } from "../quota/service";
import { deleteQuota, QUOTA_KINDS, QUOTA_PERIODS, setQuota } from "../quota/store";
import { isQuotaGateway } from "../auth/static";
import { authorizeValidatorCompiler, type AuthorizeBody } from "./authorize-body";
import { count, errorBody, pgText, quotaAuthorizeBody, quotaAuthorizeRequest, quotaCheckBody, quotaListBody, quotaRemainingBody, tenantParams } from "../schemas";

const label = pgText();

/** The gateway's per-request check (app.ts writes no per-request log lines for it). */
export const QUOTA_AUTHORIZE_PATH = "/v1/quota/authorize";

/**
 * The authorize route's answer to a checked body: the route below and the fast path in front of
 * fastify (authorize-fast-path.ts) answer with this one function. A stale view throws
 * StaleQuotaViewError (503).
 */
export const authorizeAnswer = (quota: QuotaService, body: { tenant: string; user?: string; tier?: string }): QuotaAuthorizeAnswer => {
  const result = quota.view.authorize({ tenant: body.tenant, user: body.user || undefined, tier: body.tier || undefined });
  return { allowed: result.allowed, ...(result.exceeded ? { exceeded: result.exceeded, message: refusalMessage(result.exceeded) } : {}), stateAgeMs: quota.view.ageMs() };
};

export type QuotaAuthorizeAnswer = z.input<typeof quotaAuthorizeBody>;

/**
 * The namespace of an API key's Secret -> its tenant, from the platform's tenant registry (the
 * collector settings' `tenants` and `tenantFiles`), strictly: a namespace no tenant lists has no
 * tenant (never "the namespace is its own tenant"), so a key stored anywhere else is billed to
 * nobody. The gateway sends the namespace, Authorino takes it from the key's Secret
 * (`auth.identity.metadata.namespace`); docs/threat-model.md B3N.
 */
export type TenantOfNamespace = (namespace: string) => string | undefined;

/** The tenant a checked authorize body names: its tenant, or its namespace's (undefined: no registered tenant's). */
export const authorizeTenantOf = (body: AuthorizeBody, tenantOfNamespace: TenantOfNamespace): string | undefined =>
  body.tenant ?? tenantOfNamespace(body.namespace);

/**
 * The answer for a namespace of no registered tenant, or "" (an identity without a namespace):
 * allowed=false, so the gateway refuses the request in both failure modes (Authorino keeps any
 * JSON answer as the metadata, whatever its status: a 400 body has no `allowed`, which the
 * fail-open predicate lets through; docs/threat-model.md B3N). The message is the gateway's 429 body.
 */
export const unknownNamespaceAnswer = (namespace: string): QuotaAuthorizeAnswer => ({
  allowed: false,
  message: `API key stored outside every tenant namespace: ${JSON.stringify(namespace)} (platform.tenants[].namespaces lists the namespaces whose keys are billed)`,
});

export const registerQuotaRoutes = (
  base: FastifyInstance,
  pool: Pool,
  priceBook: () => PriceBook,
  quota: QuotaService,
  vocabulary: () => Vocabulary,
  /** The body the authorize fast path read from this request before handing it on (authorize-fast-path.ts). */
  replayedBody?: (raw: IncomingMessage) => Readable | undefined,
  /** The authorize check's key namespace -> tenant (the tenant registry); none: every namespace is unknown. */
  tenantOfNamespace: TenantOfNamespace = () => undefined,
): void => {
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.get(
    "/v1/tenants/:tenant/quotas",
    {
      config: { scope: { tenant: "params", action: "quotas.read" } },
      schema: { summary: "A tenant's quotas and their use in the current period (ledger usage + open reservations)", params: tenantParams, response: { 200: quotaListBody } },
    },
    async (request) => ({ quotas: (await quota.states(request.params.tenant)).quotas }),
  );
  app.put(
    "/v1/tenants/:tenant/quotas",
    {
      config: { scope: { tenant: "params", action: "quotas.update" } },
      schema: {
        summary: "Set a quota (tenant-wide, or for one user): tokens, requests, or cost in minor units, per UTC day or month",
        params: tenantParams,
        body: z.object({
          user: label.optional(),
          kind: z.enum(QUOTA_KINDS),
          period: z.enum(QUOTA_PERIODS),
          limit: count.describe("tokens, requests, or minor currency units for kind=cost"),
        }),
        response: { 200: quotaListBody },
      },
    },
    async (request) => {
      await setQuota(pool, { tenant: request.params.tenant, ...request.body, limit: BigInt(request.body.limit) });
      return { quotas: (await quota.states(request.params.tenant)).quotas };
    },
  );
  app.delete(
    "/v1/tenants/:tenant/quotas",
    {
      config: { scope: { tenant: "params", action: "quotas.update" } },
      schema: {
        summary: "Delete a quota (tenant-wide without user); 404 when there is none",
        params: tenantParams,
        querystring: z.object({ user: label.optional(), kind: z.enum(QUOTA_KINDS), period: z.enum(QUOTA_PERIODS) }),
        response: { 200: quotaListBody, 404: errorBody },
      },
    },
    async (request, reply) => {
      const deleted = await deleteQuota(pool, { tenant: request.params.tenant, ...request.query });
      if (!deleted) return reply.code(404).send({ error: "not found", message: "no such quota: check tenant, user, kind and period with GET /v1/tenants/{tenant}/quotas" });
      return { quotas: (await quota.states(request.params.tenant)).quotas };
    },
  );
  app.post(
    "/v1/quota/check",
    {
      config: { scope: { tenant: "body", action: "quotas.check" } },
      schema: {
        summary: "Reserve tokens/requests/cost against the tenant's and user's quotas, atomically across replicas",
        description:
          "allowed=false means at least one quota would be exceeded (exceeded names it); nothing is reserved then. Without applicable quotas the answer is allowed and nothing is reserved. An allowed check reserves its amounts until its real usage arrives: an event with id = requestId settles it, the gateway collector settles it once collected, otherwise it expires. The cost is priced with the price book in force now when tier and model are given (rounded up). A retried requestId reuses its reservation.",
        body: z.object({
          tenant: label,
          user: label.optional(),
          tier: label.optional(),
          model: label.optional(),
          requestId: label.optional().describe("the id the usage event of this request will carry; default a random id"),
          inputTokens: count.default(0),
          outputTokens: count.default(0),
          requests: count.default(1),
          dryRun: z.boolean().default(false),
        }),
        response: { 200: quotaCheckBody, 422: errorBody },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const unknown = unknownValues(vocabulary(), [b], false);
      if (unknown.length > 0) throw new InvalidRequestError(unknown);
      const tokens = BigInt(b.inputTokens) + BigInt(b.outputTokens);
      const now = quota.now();
      let costMinor = 0n;
      if (b.tier && b.model) {
        const cost = estimateCostMinor(priceBook(), now, { tenant: b.tenant, tier: b.tier, model: b.model, inputTokens: BigInt(b.inputTokens), outputTokens: BigInt(b.outputTokens), requests: BigInt(b.requests) });
        if (cost === undefined) return reply.code(422).send({ error: "unpriced", message: `no price for tier ${b.tier} model ${b.model}` });
        costMinor = cost;
      }
      const result = await quota.checker.check({ tenant: b.tenant, user: b.user, tier: b.tier, tokens, requests: BigInt(b.requests), costMinor, dryRun: b.dryRun, requestId: b.requestId, now });
      return { ...result, ...(result.exceeded ? { message: refusalMessage(result.exceeded) } : {}), tokens: tokens.toString(), costMinor: costMinor.toString() };
    },
  );
  app.post(
    QUOTA_AUTHORIZE_PATH,
    {
      // The auth hook checks the tenant a `{tenant}` body names (auth/hooks.ts); a `{namespace}` body
      // is checked by preValidation below (the gateway's credential only, which may check every tenant).
      config: { scope: { tenant: "body", action: "quotas.check" } },
      // Called once per gateway request: fastify's two info lines per request (synchronous writes
      // to stdout) cost more CPU than the check itself (bench/quota.ts profile), so app.ts does not
      // write them for this path. Warnings and errors (denied credentials, failures) are still
      // logged; the gateway logs the requests.
      schema: {
        summary: "Request-path check for the gateway: may this identity send one more request? Answered from memory",
        description:
          "The body names the tenant, or the namespace of the API key's Secret (the platform's gateway sends that; only its credential may), which the tenant registry maps to its tenant: a namespace no registered tenant lists (or \"\") is answered 200 allowed=false, so the gateway refuses the request whatever its failure mode. Always 200 with allowed true/false while the replica's quota state is fresh (at most the refresh interval plus one refresh old); 503 when it is older than the staleness limit. Nothing is reserved. On allowed=false, message names the quota and its reset time (the gateway's 429 body).",
        body: quotaAuthorizeRequest,
        response: { 200: quotaAuthorizeBody, 403: errorBody, 503: errorBody },
      },
      // The answers are built right below with exactly the schema's fields (a 503 by the error
      // handler, errorBody): plain JSON.stringify instead of a zod parse of every answer, which is
      // most of this route's serializing cost. The schemas above still document it (/openapi.json),
      // and quota-request-path.test.ts parses answers with them strictly.
      serializerCompiler: () => (data) => JSON.stringify(data),
      // The body check: the gateway's plain bodies by a few typeof and length tests, anything else
      // by the zod schema above (same value, same 400): authorize-body.ts.
      validatorCompiler: authorizeValidatorCompiler,
      // The gateway's plain checks are answered before fastify (authorize-fast-path.ts); a request
      // the fast path read and handed on (any other answer) has its body read from the copy it kept.
      preParsing: (request, _reply, payload, done) => done(null, replayedBody?.(request.raw) ?? payload),
      // Naming the key's namespace is the gateway's form, and this is its check (the auth hook reads
      // only a body's tenant): any other credential gets 403 for it, registered or not, so
      // a tenant cannot learn which namespaces are some tenant's from 400 against 403.
      preValidation: async (request, reply) => {
        const body = request.body as Record<string, unknown> | undefined;
        if (body !== null && typeof body === "object" && "namespace" in body && !isQuotaGateway(request.principal)) {
          return reply.code(403).send({ error: "forbidden", message: "only the gateway's credential names an API key's namespace: send tenant" });
        }
      },
    },
    // A stale state throws StaleQuotaViewError: 503 (routes/errors.ts).
    async (request) => {
      const body = request.body as AuthorizeBody;
      const tenant = authorizeTenantOf(body, tenantOfNamespace);
      if (tenant === undefined) return unknownNamespaceAnswer(body.namespace!);
      return authorizeAnswer(quota, { tenant, user: body.user, tier: body.tier });
    },
  );
  app.get(
    "/v1/quota/remaining",
    {
      config: { scope: { tenant: "query", action: "quotas.read" } },
      schema: {
        summary: "What is left of each quota for a tenant, or for one user (API key identity) with its tier's defaults",
        querystring: z.object({ tenant: label, user: label.optional(), tier: label.optional() }),
        response: { 200: quotaRemainingBody },
      },
    },
    async (request) => {
      const { tenant, user, tier } = request.query;
      const { quotas, unpriced } = await quota.states(tenant, user === undefined ? {} : { user, tier });
      const mine = user === undefined ? quotas : quotas.filter((q) => q.user === null || q.user === user);
      return { tenant, user: user ?? null, quotas: mine, ...(unpriced.length > 0 ? { unpricedUsage: unpriced.map((u) => JSON.parse(u)) } : {}) };
    },
  );
};
