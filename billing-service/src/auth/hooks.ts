/**
 * Authentication and tenant scoping for every /v1 route. A route declares in its config where its
 * tenant comes from; the hook checks it before the handler runs, so no handler can forget.
 *   scope.tenant: "params" (:tenant), "query" (?tenant=), "body" (body.tenant), "events" (every body.events[].tenant), "none"
 *   scope.admin: admin-only route
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
      return Array.isArray(body?.events)
        ? [...new Set((body.events as Array<Record<string, unknown>>).map((e) => (typeof e?.tenant === "string" ? e.tenant : undefined)).filter((t): t is string => t !== undefined))]
        : undefined;
    case "none":
      return [];
  }
};

export const registerAuth = (app: FastifyInstance, authenticator: Authenticator, metrics: ServiceMetrics): void => {
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
    const tenants = tenantsOf(request, scope);
    if (tenants === undefined) return; // malformed body: validation answers 400
    for (const tenant of tenants) {
      if (!(await request.principal.canAccessTenant(tenant))) return deny(request, reply, 403, "tenant not accessible with this credential", { tenant });
    }
  });
};
