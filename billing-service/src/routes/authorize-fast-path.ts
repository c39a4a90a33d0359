/**
 * The gateway's per-request quota check, POST /v1/quota/authorize, answered in front of fastify for
 * the one request the gateway sends a thousand times a second: its own credential, a small JSON
 * body { namespace | tenant, user?, tier? } of plain labels (a namespace mapped to its tenant by
 * the same registry as the route's), a fresh quota view. Everything else is handed to
 * fastify's route unchanged, which answers it as before (401/403/429, 400, 415, 413, 503, a tenant
 * credential on this route with its rate limit, ...).
 *
 * Why: fastify's per-request pipeline (hooks, child logger, content-type parser, reply, the
 * rate-limit and cookie plugins) cost about as much CPU as node:http itself, twice the check's own
 * work (bench/quota.ts, serve's CPU profile; docs/reliability.md). On 2 cores shared with the
 * generator and PostgreSQL, CPU per request is what builds the latency tail.
 *
 * What the fast path answers is exactly what the route answers (test/authorize-fast-path.test.ts
 * compares status, headers and body against fastify's answer for the same requests):
 *   - the same authentication (auth/hooks.ts AuthGate: the per-address failed-authentication
 *     limit, one lookup per request: a request handed on reuses the lookup, so an unknown token
 *     counts as one failure), and only the quota-gateway credential (isQuotaGateway), which may
 *     call this route and nothing else, and is exempt from the per-principal rate limit;
 *   - the same tenant check (principal.may("quotas.check", tenant), a namespace's tenant through
 *     authorizeTenantOf; a namespace of no registered tenant, or "", answered allowed=false as by the route), the same body check
 *     (isPlainAuthorizeBody: only what the route's schema accepts, as the schema returns it), the
 *     same answer (authorizeAnswer) and the same headers;
 *   - the same request metrics (maas_billing_http_requests_total, ..._duration_seconds) and, as
 *     on the route, no per-request log lines.
 * It decides from the headers and the authenticated principal before reading the body; once it has
 * read the body it keeps a copy, and a request it does not answer reaches fastify with that copy
 * as its body (the route's preParsing hook, routes/quotas.ts).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { isQuotaGateway } from "../auth/static";
import { bearerOf, type AuthGate } from "../auth/hooks";
import type { Principal } from "../auth/types";
import type { ServiceMetrics } from "../ops/metrics";
import type { QuotaService } from "../quota/service";
import { isPlainAuthorizeBody } from "./authorize-body";
import { authorizeAnswer, authorizeTenantOf, QUOTA_AUTHORIZE_PATH, unknownNamespaceAnswer, type TenantOfNamespace } from "./quotas";

/** Bodies up to this many bytes are read by the fast path (the gateway's are ~60); larger ones go to fastify. */
export const FAST_PATH_MAX_BODY = 4096;

/** The content types fastify's JSON parser takes that the gateway sends (Authorino: contentType application/json). */
const JSON_TYPES = new Set(["application/json", "application/json; charset=utf-8"]);

const ROUTE_LABELS = { method: "POST", route: QUOTA_AUTHORIZE_PATH } as const;
const OK_LABELS = { ...ROUTE_LABELS, status: "200" } as const;

export interface AuthorizeFastPathDeps {
  readonly gate: AuthGate;
  readonly quota: QuotaService;
  readonly metrics: ServiceMetrics;
  /** The key namespace -> tenant map the route uses (the tenant registry); default: none known. */
  readonly tenantOfNamespace?: TenantOfNamespace;
}

export interface AuthorizeFastPath {
  /**
   * The server's request listener in front of fastify's `handler`: answers the gateway's plain
   * checks, hands every other request to `handler` untouched (or, once read, with its body kept).
   */
  listener(handler: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void;
  /** The body the fast path read from `raw` before handing it on, as a stream for fastify to read (once). */
  replayed(raw: IncomingMessage): Readable | undefined;
}

export const createAuthorizeFastPath = (deps: AuthorizeFastPathDeps): AuthorizeFastPath => {
  const { gate, quota, metrics } = deps;
  const tenantOfNamespace = deps.tenantOfNamespace ?? (() => undefined);
  const kept = new WeakMap<IncomingMessage, Buffer>();

  /** The answer's JSON for a read body, or undefined when the route is to answer it. */
  const answerOf = async (principal: Principal, body: Buffer): Promise<string | undefined> => {
    let data: unknown;
    try {
      data = JSON.parse(body.toString("utf8"));
    } catch {
      return undefined; // fastify's parser answers (400, naming the error)
    }
    if (!isPlainAuthorizeBody(data)) return undefined;
    // A namespace no registered tenant owns (or ""): allowed=false, as the route answers it.
    const tenant = authorizeTenantOf(data, tenantOfNamespace);
    if (tenant === undefined) return JSON.stringify(unknownNamespaceAnswer(data.namespace!));
    if (!(await principal.may("quotas.check", tenant))) return undefined;
    // A stale view throws: the route answers 503 (or 200, if a refresh landed meanwhile).
    return JSON.stringify(authorizeAnswer(quota, { tenant, user: data.user, tier: data.tier }));
  };

  const answer = async (req: IncomingMessage, res: ServerResponse, handler: (req: IncomingMessage, res: ServerResponse) => void, started: number, token: string): Promise<void> => {
    // The route's hook reuses this lookup when the request is handed on (one lookup per request).
    let lookup: Promise<Principal | undefined>;
    try {
      lookup = gate.authenticate(req, token);
    } catch (e) {
      lookup = Promise.reject(e);
    }
    const handOn = (body?: Buffer) => {
      gate.remember(req, token, lookup);
      if (body !== undefined) kept.set(req, body);
      handler(req, res);
    };
    let principal: Principal | undefined;
    try {
      principal = await lookup;
    } catch {
      return handOn(); // a failed lookup: the hook gets the same rejection and the route answers it (500)
    }
    // Another credential (a tenant's: rate limited on this route; an unknown one: counted and refused) is the route's.
    if (principal === undefined || !isQuotaGateway(principal)) return handOn();
    const body = await readBody(req);
    if (body === undefined) return; // the client went away mid-body: nobody to answer
    const payload = await answerOf(principal, body).catch(() => undefined);
    if (payload === undefined) return handOn(body);
    res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(payload) });
    res.end(payload);
    metrics.httpRequests.inc(OK_LABELS);
    metrics.httpDuration.observe(ROUTE_LABELS, (performance.now() - started) / 1000);
  };

  return {
    listener: (handler) => (req, res) => {
      if (req.method !== "POST" || req.url !== QUOTA_AUTHORIZE_PATH) return handler(req, res);
      const started = performance.now();
      const h = req.headers;
      const length = Number(h["content-length"]);
      const token = bearerOf(h.authorization);
      if (
        token === undefined ||
        !JSON_TYPES.has(h["content-type"] ?? "") ||
        !(length >= 1 && length <= FAST_PATH_MAX_BODY) ||
        h["transfer-encoding"] !== undefined ||
        h["content-encoding"] !== undefined ||
        gate.blocked(req.socket.remoteAddress)
      ) {
        return handler(req, res);
      }
      // answer() settles every request (answered, handed on, or the client gone); anything it did
      // not foresee closes the connection rather than leaving the client waiting.
      answer(req, res, handler, started, token).catch(() => res.destroy());
    },
    replayed: (raw) => {
      const body = kept.get(raw);
      if (body === undefined) return undefined;
      kept.delete(raw);
      return Readable.from([body]);
    },
  };
};

/** The whole body (content-length bytes: node's parser frames it), or undefined when the request broke off. */
const readBody = (req: IncomingMessage): Promise<Buffer | undefined> =>
  new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
    });
    req.once("end", () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.once("error", () => resolve(undefined));
  });
