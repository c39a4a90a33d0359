/**
 * The body check of the gateway's per-request quota check (POST /v1/quota/authorize), once per
 * gateway request: the gateway's bodies ({ namespace | tenant, user?, tier? } of short plain strings) are
 * accepted by a few typeof and length tests; ANY other body goes to the route's zod schema, which
 * answers (the same value, or the same 400 naming the field). The fast path accepts only what the
 * schema accepts and returns what the schema would (test/authorize-body.test.ts holds the composed
 * check equal to the schema's for generated bodies at and past every edge). A zod parse of these
 * bodies was 13-15 us a request in serve's CPU profile, about as much as the decision itself.
 */
import type { FastifyRouteSchemaDef, FastifyValidationResult } from "fastify/types/schema";
import { validatorCompiler } from "fastify-type-provider-zod";
import type { $ZodType } from "zod/v4/core";
import { isPlainPgText } from "../schemas";

const isLabel = isPlainPgText;
/** A label, "" (the gateway's "none"), or absent. */
const isOptionalLabel = (x: unknown): boolean => x === undefined || x === "" || isLabel(x);

/** A checked body: the tenant, or the namespace of the API key's Secret (exactly one), user and tier. */
export type AuthorizeBody = { readonly user?: string; readonly tier?: string } & ({ readonly tenant: string; readonly namespace?: undefined } | { readonly namespace: string; readonly tenant?: undefined });

/** The common bodies, exactly: a plain object with only these keys, each of its schema's shape, tenant or namespace. */
export const isPlainAuthorizeBody = (data: unknown): data is AuthorizeBody => {
  if (typeof data !== "object" || data === null || Array.isArray(data) || Object.getPrototypeOf(data) !== Object.prototype) return false;
  const body = data as Record<string, unknown>;
  // for-in sees own and inherited enumerable keys; the prototype is Object.prototype (none).
  for (const key in body) if (key !== "tenant" && key !== "namespace" && key !== "user" && key !== "tier") return false;
  // Exactly one of tenant and namespace (the schema's refinement): a tenant label, or a namespace label or "".
  const named = "tenant" in body ? !("namespace" in body) && isLabel(body.tenant) : body.namespace === "" || isLabel(body.namespace);
  return named && isOptionalLabel(body.user) && isOptionalLabel(body.tier) && !("user" in body && body.user === undefined) && !("tier" in body && body.tier === undefined);
};

/** The route's validatorCompiler: the fast path for the body, zod for the rest (and for every other part). */
export const authorizeValidatorCompiler = <S>(route: FastifyRouteSchemaDef<S>): FastifyValidationResult => {
  // Each part's schema is a zod schema (the route's schema); fastify types it as the whole route schema.
  const zod = validatorCompiler(route as unknown as FastifyRouteSchemaDef<$ZodType>);
  if (route.httpPart !== "body") return zod;
  return (data) => (isPlainAuthorizeBody(data) ? { value: data } : zod(data));
};
