/**
 * Authentication and tenant scoping for every /v1 route. A route declares in its config where its
 * tenant comes from; the hook checks it before the handler runs, so no handler can forget.
 *   scope.tenant: "params" (:tenant), "query" (?tenant=), "body" (body.tenant), "events" (every body.events[].tenant), "none"
 *   scope.admin: admin-only route
 * Events are also checked per source: a source bound to sender credentials (boundSources) may be
 * written only by those senders, whatever else the caller may do (docs/threat-model.md B1).
 * Denied calls are logged with the principal's name, route and reason, never the credential.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ServiceMetrics } from "../ops/metrics";
import type { Authenticator, Principal } from "./types";

export interface RouteScope {
  readonly tenant: "params" | "query" | "body" | "events" | "none";
  readonly admin?: boolean;
}

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    scope?: RouteScope;
  }
}

const bearer = (request: FastifyRequest): string | undefined => {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  return m ? m[1] : undefined;
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

export const registerAuth = (app: FastifyInstance, authenticator: Authenticator, metrics: ServiceMetrics): void => {
  const bound = authenticator.boundSources?.() ?? new Set<string>();
  const deny = (request: FastifyRequest, reply: FastifyReply, status: 401 | 403, reason: string, extra: object = {}): FastifyReply => {
    metrics.authDenied.inc({ reason });
    request.log.warn({ event: "auth.denied", status, reason, principal: request.principal?.name, method: request.method, route: request.routeOptions.url, ...extra }, "denied");
    return reply.code(status).send({ error: status === 401 ? "unauthorized" : "forbidden", message: reason });
  };

  app.addHook("onRequest", async (request, reply) => {
    const scope = request.routeOptions.config?.scope;
    if (!scope) return; // public operational endpoints (health, metrics, OpenAPI)
    const token = bearer(request);
    if (!token) return deny(request, reply, 401, "missing bearer token");
    const principal = await authenticator.authenticate(token);
    if (!principal) return deny(request, reply, 401, "unknown or invalid token");
    request.principal = principal;
  });

  // preValidation: after body parsing, before schema validation, so a cross-tenant call gets 403
  // whatever its body looks like.
  app.addHook("preValidation", async (request, reply) => {
    const scope = request.routeOptions.config?.scope;
    if (!scope || !request.principal) return;
    const only = request.principal.onlyRoutes;
    if (only && !only.includes(`${request.method} ${request.routeOptions.url}`)) return deny(request, reply, 403, `this credential may only call ${only.join(", ")}`);
    if (scope.admin && !(await request.principal.isAdmin())) return deny(request, reply, 403, "admin credential required");
    if (scope.tenant === "events") {
      const pairs = eventPairsOf(request);
      if (pairs === undefined) return;
      for (const { tenant, source } of pairs) {
        if (source !== undefined && bound.has(source)) {
          if (request.principal.maySend?.(tenant, source) !== true) {
            return deny(request, reply, 403, `source "${source}" is bound to a sender credential: only that sender may write it (tenant ${tenant})`, { tenant, source });
          }
        } else if (!(await request.principal.canAccessTenant(tenant))) {
          const reason = request.principal.maySend ? "a sender token may write only its own sources" : "tenant not accessible with this credential";
          return deny(request, reply, 403, reason, { tenant, source });
        }
      }
      return;
    }
    const tenants = tenantsOf(request, scope);
    if (tenants === undefined) return; // malformed body: validation answers 400
    for (const tenant of tenants) {
      if (!(await request.principal.canAccessTenant(tenant))) return deny(request, reply, 403, "tenant not accessible with this credential", { tenant });
    }
  });
};
