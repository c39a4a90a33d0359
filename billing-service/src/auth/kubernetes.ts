/**
 * Kubernetes mode: the caller presents a Kubernetes token (a ServiceAccount token or an OIDC
 * token the API server accepts) issued for the audience `maas-billing`. TokenReview says who it is
 * (with `spec.audiences: [maas-billing]`, so a token meant for the API server itself, which whoever
 * sees it could replay there, is refused); SubjectAccessReview says what it may do, one (verb,
 * resource) per action on virtual resources of group billing.maas-billing.io (types.ts), e.g.
 *   read usage:      get    usage        name <tenant>
 *   post events:     create events       name <tenant>
 *   set a quota:     update admin/quotas (cluster-wide: the separate admin resource)
 * The service talks to the API server with its own ServiceAccount token (in-cluster files).
 * Answers are cached (LRU with a TTL: the least recently used entry goes, never the whole cache).
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { LRUCache } from "lru-cache";
import { KUBERNETES_ENV } from "../contract";
import { sha256Hex } from "../sha256";
import { ADMIN_ACTIONS, isAdminAction, TENANT_ACTIONS, type Action, type Authenticator, type Principal } from "./types";

export const BILLING_API_GROUP = "billing.maas-billing.io";
/** The audience a caller's token must be issued for (projected token `audience: maas-billing`). */
export const BILLING_TOKEN_AUDIENCE = "maas-billing";
const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface KubernetesApi {
  /** POSTs a review object and returns the response object's status. */
  review(path: string, body: object): Promise<Record<string, any>>;
}

/** Where the API server is and how to call it; `token` is read per call (projected tokens rotate). */
export interface KubernetesApiEndpoint {
  readonly url: string;
  readonly token: () => string;
  readonly ca?: Buffer;
}

/** POSTs review objects to an API server over HTTPS (or plain HTTP, e.g. a test's recording server). */
export const kubernetesApi = (endpoint: KubernetesApiEndpoint): KubernetesApi => {
  const base = new URL(endpoint.url);
  const transport = base.protocol === "https:" ? https : http;
  return {
    review: (path, body) =>
      new Promise((resolve, reject) => {
        const payload = JSON.stringify(body);
        const req = transport.request(
          new URL(path, base),
          { method: "POST", ca: endpoint.ca, headers: { authorization: `Bearer ${endpoint.token()}`, "content-type": "application/json", "content-length": Buffer.byteLength(payload) } },
          (res) => {
            let data = "";
            res.on("data", (c: Buffer) => (data += c.toString("utf8")));
            res.on("end", () => {
              if ((res.statusCode ?? 500) >= 300) return reject(new Error(`${path}: HTTP ${res.statusCode}`));
              try {
                resolve((JSON.parse(data) as { status?: Record<string, any> }).status ?? {});
              } catch (e) {
                reject(e);
              }
            });
          },
        );
        req.setTimeout(5000, () => req.destroy(new Error(`${path}: timeout`)));
        req.on("error", reject);
        req.end(payload);
      }),
  };
};

/** The in-cluster API client: KUBERNETES_SERVICE_HOST/PORT, the pod's token and CA. */
export const inClusterApi = (env: NodeJS.ProcessEnv = process.env): KubernetesApi => {
  const host = env[KUBERNETES_ENV.serviceHost];
  const port = env[KUBERNETES_ENV.servicePort] ?? "443";
  if (!host) throw new Error("MAAS_BILLING_AUTH_MODE=kubernetes needs to run in a pod (KUBERNETES_SERVICE_HOST is unset)");
  return kubernetesApi({
    url: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    token: () => readFileSync(`${SA_DIR}/token`, "utf8").trim(),
    ca: readFileSync(`${SA_DIR}/ca.crt`),
  });
};

interface ReviewedUser {
  user: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** A memo of async answers: LRU-bounded, each entry expiring after `ttlMs`; concurrent misses share one load. */
class DecisionCache<T extends {}> {
  private readonly entries: LRUCache<string, T, () => Promise<T>>;
  constructor(ttlMs: number, max: number) {
    this.entries = new LRUCache<string, T, () => Promise<T>>({ max, ttl: ttlMs, fetchMethod: (_key, _stale, { context }) => context() });
  }
  async get(key: string, load: () => Promise<T>): Promise<T> {
    return (await this.entries.fetch(key, { context: load })) as T;
  }
  get size(): number {
    return this.entries.size;
  }
}

export interface KubernetesAuthOptions {
  /** Audiences the caller's token must carry; default [maas-billing]. */
  readonly audiences?: string[];
  /** Cached tokens and decisions (each cache); default 10,000. Past it the least recently used goes. */
  readonly cacheEntries?: number;
  readonly cacheTtlMs?: number;
}

export class KubernetesAuthenticator implements Authenticator {
  // undefined ("not a token we accept") is cached as null.
  private readonly tokens: DecisionCache<ReviewedUser | false>;
  private readonly decisions: DecisionCache<boolean>;
  private readonly audiences: string[];

  constructor(private readonly api: KubernetesApi, options: KubernetesAuthOptions = {}) {
    this.audiences = options.audiences ?? [BILLING_TOKEN_AUDIENCE];
    const ttl = options.cacheTtlMs ?? 60_000;
    const max = options.cacheEntries ?? 10_000;
    this.tokens = new DecisionCache(ttl, max);
    this.decisions = new DecisionCache(ttl, max);
  }

  /** Entries held by the token and decision caches (for tests and metrics). */
  cacheSizes(): { tokens: number; decisions: number } {
    return { tokens: this.tokens.size, decisions: this.decisions.size };
  }

  async authenticate(token: string): Promise<Principal | undefined> {
    const cacheKey = sha256Hex(token);
    const user = await this.tokens.get(cacheKey, async () => {
      const status = await this.api.review("/apis/authentication.k8s.io/v1/tokenreviews", {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenReview",
        spec: { token, audiences: this.audiences },
      });
      if (!status.authenticated || !status.user?.username) return false;
      // The API server answers with the audiences the token is valid for; it must include ours.
      const granted: unknown = status.audiences;
      if (!Array.isArray(granted) || !this.audiences.some((a) => granted.includes(a))) return false;
      return { user: status.user.username, uid: status.user.uid, groups: status.user.groups ?? [], extra: status.user.extra };
    });
    if (!user) return undefined;
    const may = (action: Action, tenant: string): Promise<boolean> => {
      const attributes = isAdminAction(action) ? { ...ADMIN_ACTIONS[action] } : { ...TENANT_ACTIONS[action], name: tenant };
      return this.decisions.get(`${cacheKey}/${JSON.stringify(attributes)}`, async () => {
        const status = await this.api.review("/apis/authorization.k8s.io/v1/subjectaccessreviews", {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: { user: user.user, uid: user.uid, groups: user.groups, extra: user.extra, resourceAttributes: { group: BILLING_API_GROUP, ...attributes } },
        });
        return status.allowed === true;
      });
    };
    return { name: user.user, may };
  }
}
