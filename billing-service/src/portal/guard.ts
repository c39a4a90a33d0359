/**
 * What makes the portal safe to hold in a browser, applied before the API's own auth hook:
 *  - the credential comes only from the session cookie (or, in Kubernetes auth mode, the access
 *    token the platform's OAuth proxy forwards), never from a URL; it is handed to the unchanged
 *    API auth (bearer header), so tenant scopes, logging and metrics are the API's own;
 *  - every state change (POST) must come from this origin (Sec-Fetch-Site / Origin) AND carry the
 *    CSRF token only the session holder can compute;
 *  - strict headers on every portal response (CSP without inline script or style, no framing,
 *    no caching of pages with money on them).
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { csrfMatches, csrfTokenFor, type PortalSessions } from "./sessions";

export const SESSION_COOKIE = "__Host-maas-billing-session";
export const SIGNIN_COOKIE = "__Host-maas-billing-signin";
/** The header OpenShift's oauth-proxy (--pass-access-token) and oauth2-proxy set with the user's token. */
export const FORWARDED_TOKEN_HEADER = "x-forwarded-access-token";

export interface PortalCredential {
  /** The bearer token the API auth checks. */
  readonly token: string;
  /** What the CSRF token is derived from: the session secret, or the forwarded token. */
  readonly csrfKey: string;
  readonly via: "session" | "proxy";
  readonly sessionSecret?: string;
}

declare module "fastify" {
  interface FastifyRequest {
    portalCredential?: PortalCredential;
  }
}

export const isPortalUrl = (url: string): boolean => url === "/portal" || url.startsWith("/portal/") || url.startsWith("/portal?");

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

export const setSecurityHeaders = (reply: FastifyReply, cacheable: boolean): void => {
  reply.header("content-security-policy", CONTENT_SECURITY_POLICY);
  reply.header("x-content-type-options", "nosniff");
  reply.header("x-frame-options", "DENY");
  reply.header("referrer-policy", "same-origin");
  reply.header("cross-origin-opener-policy", "same-origin");
  reply.header("cross-origin-resource-policy", "same-origin");
  reply.header("cache-control", cacheable ? "public, max-age=3600" : "no-store");
};

/** The session (or forwarded) credential of a request, if any and still live. */
export const resolveCredential = async (request: FastifyRequest, sessions: PortalSessions, trustForwardedToken: boolean): Promise<PortalCredential | undefined> => {
  const forwarded = request.headers[FORWARDED_TOKEN_HEADER];
  if (trustForwardedToken && typeof forwarded === "string" && forwarded.length > 0) return { token: forwarded, csrfKey: forwarded, via: "proxy" };
  const secret = request.cookies[SESSION_COOKIE];
  if (!secret) return undefined;
  const token = await sessions.open(secret);
  return token === undefined ? undefined : { token, csrfKey: secret, via: "session", sessionSecret: secret };
};

/** Same-origin as the browser tells it: a cross-site or same-site-but-other-origin form is refused. */
export const fromThisOrigin = (request: FastifyRequest): boolean => {
  const site = request.headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin") return false;
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false; // "null" (sandboxed or privacy-sensitive contexts) is not this origin
  }
};

/** A POST is accepted only from this origin with the CSRF token of `csrfKey`. */
export const stateChangeAllowed = (request: FastifyRequest, csrfKey: string | undefined): boolean =>
  csrfKey !== undefined && fromThisOrigin(request) && csrfMatches(csrfKey, (request.body as Record<string, unknown> | undefined)?._csrf);

export const csrfFor = (request: FastifyRequest): string | undefined => (request.portalCredential ? csrfTokenFor(request.portalCredential.csrfKey) : undefined);
