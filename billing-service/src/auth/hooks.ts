/**
 * Authentication and tenant scoping for every /v1 route. A route declares in its config where its
 * tenant comes from; the hook checks it before the handler runs, so no handler can forget.
 *   scope.tenant: "params" (:tenant), "query" (?tenant=), "body" (body.tenant), "events" (every body.events[].tenant), "none"
 *   scope.admin: admin-only route
 *   scope.action: what the route does (types.ts), checked per tenant: reading usage never implies
 *   posting events, and admin actions need the admin grant
 * Events are also checked per source: a source bound to sender credentials (boundSources) may be
 * written only by those senders, whatever else the caller may do (docs/threat-model.md B1).
 * Denied calls are logged with the principal's name, route and reason, never the credential.
 * A client (by address) that presents too many unknown tokens is refused with 429 before its next
 * token costs a lookup (a TokenReview in Kubernetes mode).
 */
import type { IncomingMessage } from "node:http";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ServiceMetrics } from "../ops/metrics";
import { LRUCache } from "lru-cache";
import { isBillingAdmin, type Action, type Authenticator, type Principal } from "./types";

export interface RouteScope {
  /** "none": authenticated, no tenant named (portal pages such as the tenant switcher). */
  readonly tenant: "params" | "query" | "body" | "events" | "none";
  /** What the route does to the tenant's data; default `usage.read` (the portal's read-only pages). */
  readonly action?: Action;
  /** Billing admin only (isBillingAdmin), whatever the tenant. */
  readonly admin?: boolean;
}

export interface FailedAuthLimit {
  /** Failed authentications a client address may make per window before it gets 429. */
  readonly max: number;
  readonly windowMs: number;
}

export const DEFAULT_FAILED_AUTH_LIMIT: FailedAuthLimit = { max: 20, windowMs: 60_000 };

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    scope?: RouteScope;
  }
}

/** The bearer token of an Authorization header value (the gateway's fast path reads it the same way). */
export const bearerOf = (header: string | undefined): string | undefined => {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  return m ? m[1] : undefined;
};

/**
 * Authentication shared by the fastify hooks below and the gateway's quota check, which is answered
 * before fastify (routes/authorize-fast-path.ts): one failed-authentication counter per client
 * address, and one lookup per request. The fast path authenticates a request first; when it hands
 * the request on to fastify, the hook reuses that result for the same token instead of a second
 * lookup (a TokenReview in Kubernetes mode), so an unknown token still counts as ONE failure.
 */
export interface AuthGate {
  /** This address has failed `max` times in the window: refused with 429 before any lookup. */
  blocked(ip: string | undefined): boolean;
  /** The principal of `token` presented on `raw`, or undefined: what was `remember`ed for them, else a lookup. */
  authenticate(raw: IncomingMessage, token: string): Promise<Principal | undefined>;
  /** The result of a lookup made for `raw` and `token` before handing the request on (the fast path's). */
  remember(raw: IncomingMessage, token: string, principal: Promise<Principal | undefined>): void;
  /** Counts a failed authentication of `ip` in the current window. */
  failed(ip: string | undefined): void;
}

export const createAuthGate = (authenticator: Authenticator, failedLimit: FailedAuthLimit = DEFAULT_FAILED_AUTH_LIMIT): AuthGate => {
  // Failed authentications per client address in the current window (LRU-bounded: a flood of
  // addresses evicts the oldest counters, never the whole table).
  const failures = new LRUCache<string, number>({ max: 100_000, ttl: failedLimit.windowMs });
  const memo = new WeakMap<IncomingMessage, { token: string; principal: Promise<Principal | undefined> }>();
  const key = (ip: string | undefined) => ip ?? "";
  return {
    blocked: (ip) => (failures.get(key(ip)) ?? 0) >= failedLimit.max,
    authenticate: (raw, token) => {
      const known = memo.get(raw);
      return known !== undefined && known.token === token ? known.principal : authenticator.authenticate(token);
    },
    remember: (raw, token, principal) => {
      memo.set(raw, { token, principal });
    },
    failed: (ip) => {
      const failed = failures.get(key(ip)) ?? 0;
      // The window starts at the first failure (ttl is not reset by later ones).
      failures.set(key(ip), failed + 1, { noUpdateTTL: failed > 0 });
    },
  };
};

/**
 * The distinct (tenant, source) pairs of an events body (source undefined when missing: validation
 * answers 400 after the tenant check), or undefined when the body is malformed.
 */
const eventPairsOf = (request: FastifyRequest): Array<{ tenant: string; source: string | undefined }> | undefined => {
  const events = (request.body as Record<string, unknown> | undefined)?.events;
  if (!Array.isArray(events)) return undefined;
  const pairs = new Map<string, { tenant: string; source: string | undefined }>();
  for (const e of events as Array<Record<string, unknown>>) {
    if (typeof e?.tenant !== "string") continue;
    const source = typeof e.source === "string" ? e.source : undefined;
    pairs.set(JSON.stringify([e.tenant, source ?? null]), { tenant: e.tenant, source });
  }
  return [...pairs.values()];
};

const tenantsOf = (request: FastifyRequest, scope: RouteScope): string[] | undefined => {
  const body = request.body as Record<string, unknown> | undefined;
  switch (scope.tenant) {
    case "params":
      return [String((request.params as Record<string, unknown>).tenant)];
    case "query": {
      const tenant = (request.query as Record<string, unknown> | undefined)?.tenant;
      return typeof tenant === "string" ? [tenant] : undefined;
    }
    case "body":
      return typeof body?.tenant === "string" ? [body.tenant] : undefined;
    case "events":
      return eventPairsOf(request)?.map((p) => p.tenant);
    case "none":
      return [];
  }
};

export const registerAuth = (app: FastifyInstance, authenticator: Authenticator, metrics: ServiceMetrics, failedLimit: FailedAuthLimit = DEFAULT_FAILED_AUTH_LIMIT, gate: AuthGate = createAuthGate(authenticator, failedLimit)): void => {
  const bound = authenticator.boundSources?.() ?? new Set<string>();
  const deny = (request: FastifyRequest, reply: FastifyReply, status: 401 | 403 | 429, reason: string, extra: object = {}): FastifyReply => {
    metrics.authDenied.inc({ reason });
    request.log.warn({ event: "auth.denied", status, reason, principal: request.principal?.name, method: request.method, route: request.routeOptions.url, ...extra }, "denied");
    const error = status === 401 ? "unauthorized" : status === 403 ? "forbidden" : "too many requests";
    return reply.code(status).send({ error, message: reason });
  };
  app.addHook("onRequest", async (request, reply) => {
    const scope = request.routeOptions.config?.scope;
    if (!scope) return; // public operational endpoints (health, OpenAPI)
    if (gate.blocked(request.ip)) {
      reply.header("retry-after", String(Math.ceil(failedLimit.windowMs / 1000)));
      return deny(request, reply, 429, "too many failed authentications from this address");
    }
    const token = bearerOf(request.headers.authorization);
    const principal = token === undefined ? undefined : await gate.authenticate(request.raw, token);
    if (!principal) {
      gate.failed(request.ip);
      return deny(request, reply, 401, token === undefined ? "missing bearer token" : "unknown or invalid token");
    }
    request.principal = principal;
  });

  // preValidation: after body parsing, before schema validation, so a cross-tenant call gets 403
  // whatever its body looks like.
  app.addHook("preValidation", async (request, reply) => {
    const scope = request.routeOptions.config?.scope;
    if (!scope || !request.principal) return;
    const only = request.principal.onlyRoutes;
    if (only && !only.includes(`${request.method} ${request.routeOptions.url}`)) return deny(request, reply, 403, `this credential may only call ${only.join(", ")}`);
    if (scope.admin && !(await isBillingAdmin(request.principal))) return deny(request, reply, 403, "admin credential required");
    if (scope.tenant === "events") {
      const pairs = eventPairsOf(request);
      if (pairs === undefined) return;
      const action = scope.action ?? "events.create";
      for (const { tenant, source } of pairs) {
        if (source !== undefined && bound.has(source)) {
          if (request.principal.maySend?.(tenant, source) !== true) {
            return deny(request, reply, 403, `source "${source}" is bound to a sender credential: only that sender may write it (tenant ${tenant})`, { tenant, source });
          }
        } else if (!(await request.principal.may(action, tenant))) {
          const reason = request.principal.maySend ? "a sender token may write only its own sources" : `${action} on tenant ${tenant} not allowed with this credential`;
          return deny(request, reply, 403, reason, { tenant, source, action });
        }
      }
      return;
    }
    const tenants = tenantsOf(request, scope);
    if (tenants === undefined) return; // malformed body: validation answers 400
    const action = scope.action ?? "usage.read";
    for (const tenant of tenants) {
      if (!(await request.principal.may(action, tenant))) return deny(request, reply, 403, `${action} on tenant ${tenant} not allowed with this credential`, { tenant, action });
    }
  });
};
