/**
 * The HTTP API as a fastify plugin-style builder: routes, validation (zod), OpenAPI, auth,
 * metrics. server.ts adds listening and shutdown; tests use buildApp with inject() or listen(0).
 */
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import type { Pool } from "pg";
import http from "node:http";
import { createAuthGate, DEFAULT_FAILED_AUTH_LIMIT, registerAuth, type FailedAuthLimit } from "./auth/hooks";
import { isQuotaGateway } from "./auth/static";
import type { Authenticator } from "./auth/types";
import { InvalidRequestError, vocabularySource, type Vocabulary } from "./events/vocabulary";
import { createServiceMetrics, type ServiceMetrics } from "./ops/metrics";
import { QuietSuccessLogController } from "./ops/request-logging";
import type { PriceBook } from "./pricebook/pricebook";
import { registerPortal } from "./portal/routes";
import { domainErrorAnswer } from "./routes/errors";
import { registerEventRoutes, type EventIngest } from "./routes/events";
import { registerLogRoutes, type AccessLogIngest } from "./routes/logs";
import { registerReconciliationRoutes } from "./routes/reconciliation";
import { upsertAccessLogRows } from "./accesslog/store";
import { createTenantResolver, type TenantNamespaces } from "./collector/tenant-map";
import { registerInvoiceRoutes } from "./routes/invoices";
import { registerOpsRoutes } from "./routes/ops";
import { QUOTA_AUTHORIZE_PATH, registerQuotaRoutes } from "./routes/quotas";
import { createAuthorizeFastPath } from "./routes/authorize-fast-path";
import { registerUsageRoutes } from "./routes/usage";
import { registerWebhookRoutes } from "./routes/webhooks";
import { createQuotaService, type QuotaService, type QuotaSettings } from "./quota/service";

export interface AppDeps {
  readonly pool: Pool;
  readonly priceBook: () => PriceBook;
  readonly authenticator: Authenticator;
  /** A pino logger; none means no request logging (tests). */
  readonly logger?: FastifyBaseLogger;
  readonly metrics?: ServiceMetrics;
  /** Stores event batches; defaults to a direct insert (serve passes the durable spool, src/spool). */
  readonly ingest?: EventIngest;
  /** Kubernetes auth mode behind the platform's OAuth proxy: the portal takes the user's token from X-Forwarded-Access-Token. */
  readonly portalTrustsForwardedToken?: boolean;
  /** Tier defaults, refresh interval and reservation times of quotas (defaults: quota/service.ts). */
  readonly quota?: QuotaSettings;
  /** Accepted tier/model names; defaults to the names in the price book (events/vocabulary.ts). */
  readonly vocabulary?: () => Vocabulary;
  readonly limits?: Partial<ApiLimits>;
  /** POST /v1/logs (OTLP access logs): storage (default a direct upsert), tenant map, billable source. */
  readonly accessLogs?: AccessLogSettings;
  /**
   * Answer the gateway's plain quota checks in front of fastify (routes/authorize-fast-path.ts);
   * default true. Off only to compare the two (test/authorize-fast-path.test.ts): same answers.
   */
  readonly authorizeFastPath?: boolean;
}

export interface AccessLogSettings {
  /** Stores access-log rows; defaults to a direct upsert (serve passes the durable spool). */
  readonly ingest?: AccessLogIngest;
  /**
   * The collector settings' tenant map: namespaces of a record's route to its tenant; also, always
   * strictly, the gateway quota check's API-key namespace to its tenant (routes/quotas.ts).
   */
  readonly tenants?: readonly TenantNamespaces[];
  readonly strictTenants?: boolean;
  /** The billed source (collector setting billableSource; access-log when no collector runs). Default access-log. */
  readonly billableSource?: "access-log" | "gateway";
  /** Reconciliation windows and tolerance (the collector's `window` and `reconcileTolerance`). Defaults 1 h, 0.05. */
  readonly windowSeconds?: number;
  readonly tolerance?: number;
}

export interface ApiLimits {
  /** /v1 requests per principal per minute (429 with Retry-After past it). */
  readonly requestsPerMinute: number;
  /** Failed authentications per client address and window before 429 (auth/hooks.ts). */
  readonly failedAuth: FailedAuthLimit;
}

export const DEFAULT_API_LIMITS: ApiLimits = { requestsPerMinute: 1200, failedAuth: DEFAULT_FAILED_AUTH_LIMIT };

export type App = FastifyInstance & { readonly quota: QuotaService };

/** Turns a validation issue path like /events/3/inputTokens into { index: 3, field: "inputTokens" }. */
const describeIssue = (path: string, message: string, params: Record<string, unknown>): Record<string, unknown> => {
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "events" && /^\d+$/.test(parts[1] ?? "")) {
    const keys = Array.isArray(params.keys) ? (params.keys as string[]).join(",") : undefined;
    return { index: Number(parts[1]), field: parts.slice(2).join(".") || keys || "(event)", message };
  }
  return { field: parts.join(".") || "(body)", message };
};

export const buildApp = async (deps: AppDeps): Promise<App> => {
  // fastify's request handler, and the server's listener in front of it: set below, once the quota
  // service exists (the server takes no request before listen()).
  let fastifyHandler: http.RequestListener | undefined;
  let listener: http.RequestListener | undefined;
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    // No "incoming request" / successful "request completed" lines for the gateway's per-request
    // check (routes/quotas.ts): they cost more CPU than the check. Its 5xx answers and fastify's
    // error lines are still written (ops/request-logging.ts), and warnings and errors from our
    // code as everywhere (auth denials, the error handler's 5xx). Not a route-level logLevel
    // "warn": that makes pino rebuild the level methods of every request's child logger (serve's
    // allocation profile); here the child inherits the level as on every other route.
    logController: new QuietSuccessLogController(QUOTA_AUTHORIZE_PATH),
    bodyLimit: 16 * 1024 * 1024,
    // fastify's own HTTP/1 server (lib/server.js: the same timeouts), with the gateway's quota check
    // in front of its request handler (routes/authorize-fast-path.ts). inject() skips this: tests
    // of the fast path listen on a port.
    serverFactory: (handler, options) => {
      fastifyHandler = handler;
      // Once close() has begun (node sets `listening` false at server.close()), every request goes
      // to fastify, which answers 503 with `connection: close`: the fast path would otherwise keep
      // a busy gateway connection open with 200s and the drain (SIGTERM) would never end.
      const server = http.createServer((req, res) => (listener !== undefined && server.listening ? listener : handler)(req, res));
      // fastify has filled in its defaults (72 s keep-alive, no request or connection timeout) by now.
      const o = options as { keepAliveTimeout?: number; requestTimeout?: number; connectionTimeout?: number; maxRequestsPerSocket?: number | null };
      server.keepAliveTimeout = o.keepAliveTimeout ?? 72_000;
      server.requestTimeout = o.requestTimeout ?? 0;
      server.setTimeout(o.connectionTimeout ?? 0);
      if ((o.maxRequestsPerSocket ?? 0) > 0) server.maxRequestsPerSocket = o.maxRequestsPerSocket as number;
      return server;
    },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const metrics = deps.metrics ?? createServiceMetrics(deps.pool, deps.priceBook);
  // The metrics hold the exporter lock on a pooled connection: give it back before the pool closes.
  app.addHook("onClose", async () => {
    await metrics.close();
  });

  await app.register(swagger, {
    openapi: {
      info: { title: "maas-billing API", version: "0.1.0", description: "Usage ledger, quotas and invoices. Every /v1 call needs `Authorization: Bearer <token>`." },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });

  app.setErrorHandler((error, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      return reply.code(400).send({
        error: "invalid request",
        in: error.validationContext,
        issues: error.validation.map((v) => describeIssue(v.instancePath, v.message ?? "invalid", v.params as Record<string, unknown>)),
      });
    }
    if (error instanceof InvalidRequestError) return reply.code(400).send({ error: "invalid request", in: "body", issues: error.issues });
    const domain = domainErrorAnswer(error);
    if (domain) return reply.code(domain.status).send(domain.body);
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) request.log.error({ err: error }, "request failed");
    return reply.code(status).send({ error: status >= 500 ? "internal error" : "bad request", message: status >= 500 ? "see service logs" : (error as Error).message });
  });

  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  // Before registerAuth: the portal's hook hands its session credential to the API auth below.
  registerPortal(app, { pool: deps.pool, priceBook: deps.priceBook, authenticator: deps.authenticator, trustForwardedToken: deps.portalTrustsForwardedToken });
  const limits = { ...DEFAULT_API_LIMITS, ...deps.limits };
  const gate = createAuthGate(deps.authenticator, limits.failedAuth);
  registerAuth(app, deps.authenticator, metrics, limits.failedAuth, gate);
  // Per principal, after authentication (preHandler: request.principal is set); only /v1 routes.
  await app.register(rateLimit, {
    hook: "preHandler",
    max: limits.requestsPerMinute,
    timeWindow: 60_000,
    // The gateway's quota credential is exempt: it carries every user's traffic (the platform's
    // whole request rate, far above any per-principal limit: at the default 1,200/min a gateway
    // at 1,000 requests/s would get 429 for most checks and fail open or closed for everyone), and
    // it can reach only the in-memory authorize route (onlyRoutes, checked in preValidation).
    allowList: (request) => request.routeOptions.config?.scope === undefined || isQuotaGateway(request.principal),
    keyGenerator: (request) => `principal:${request.principal?.name ?? request.ip}`,
  });
  const vocabulary = deps.vocabulary ?? vocabularySource(deps.priceBook);
  registerOpsRoutes(app, deps.pool);
  registerEventRoutes(app, deps.pool, metrics, vocabulary, deps.ingest);
  const resolver = createTenantResolver({ tenants: deps.accessLogs?.tenants ?? [], strict: deps.accessLogs?.strictTenants });
  await registerLogRoutes(app, metrics, {
    ingest: deps.accessLogs?.ingest ?? (async (rows) => ({ stored: "database", ...(await upsertAccessLogRows(deps.pool, rows)) })),
    tenantOfNamespace: (namespace) => {
      const a = resolver.byNamespace(namespace);
      return a.kind === "tenant" ? a.tenant : undefined;
    },
    billable: (deps.accessLogs?.billableSource ?? "access-log") === "access-log",
  });
  registerReconciliationRoutes(app, deps.pool, {
    billableSource: deps.accessLogs?.billableSource ?? "access-log",
    windowSeconds: deps.accessLogs?.windowSeconds ?? 3600,
    tolerance: deps.accessLogs?.tolerance ?? 0.05,
  });
  registerUsageRoutes(app, deps.pool, deps.priceBook);
  registerInvoiceRoutes(app, deps.pool, deps.priceBook);
  const quota = createQuotaService(deps.pool, deps.priceBook, { onError: (e) => app.log.error({ err: e }, "quota refresh failed"), ...deps.quota });
  app.addHook("onClose", () => quota.close());
  // The gateway's quota check names the API key's namespace; its tenant is the registry's, strictly
  // (a namespace no tenant lists is nobody's, whatever strictTenants says for the collector).
  const registry = createTenantResolver({ tenants: deps.accessLogs?.tenants ?? [], strict: true });
  const tenantOfNamespace = (namespace: string): string | undefined => {
    const a = registry.byNamespace(namespace);
    return a.kind === "tenant" ? a.tenant : undefined;
  };
  const authorizeFast = deps.authorizeFastPath === false ? undefined : createAuthorizeFastPath({ gate, quota, metrics, tenantOfNamespace });
  registerQuotaRoutes(app, deps.pool, deps.priceBook, quota, vocabulary, authorizeFast?.replayed, tenantOfNamespace);
  registerWebhookRoutes(app, deps.pool);
  if (authorizeFast && fastifyHandler) listener = authorizeFast.listener(fastifyHandler);
  // Tests and serve reach the quota view (refresh, staleness) through the app.
  return Object.assign(app, { quota }) as unknown as App;
};
