/**
 * Kubernetes mode: the caller presents a Kubernetes token (a ServiceAccount token or an OIDC
 * token the API server accepts). TokenReview says who it is; SubjectAccessReview says what it
 * may do, against a virtual resource so plain RBAC grants billing access:
 *   tenant access: verb "get" on resource "tenants" (group billing.maas-billing.io), resourceName <tenant>
 *   admin:         verb "get" on "tenants" with no name (all tenants)
 * The service talks to the API server with its own ServiceAccount token (in-cluster files).
 * Answers are cached for a short time to keep the API server out of the hot path.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import https from "node:https";
import { KUBERNETES_ENV } from "../contract";
import type { Authenticator, Principal } from "./types";

export const BILLING_API_GROUP = "billing.maas-billing.io";
const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface KubernetesApi {
  /** POSTs a review object and returns the response object's status. */
  review(path: string, body: object): Promise<Record<string, any>>;
}

/** The in-cluster API client: KUBERNETES_SERVICE_HOST/PORT, the pod's token and CA. */
export const inClusterApi = (env: NodeJS.ProcessEnv = process.env): KubernetesApi => {
  const host = env[KUBERNETES_ENV.serviceHost];
  const port = env[KUBERNETES_ENV.servicePort] ?? "443";
  if (!host) throw new Error("MAAS_BILLING_AUTH_MODE=kubernetes needs to run in a pod (KUBERNETES_SERVICE_HOST is unset)");
  const ca = readFileSync(`${SA_DIR}/ca.crt`);
  return {
    review: (path, body) =>
      new Promise((resolve, reject) => {
        // Re-read the token each time: projected tokens rotate.
        const token = readFileSync(`${SA_DIR}/token`, "utf8").trim();
        const payload = JSON.stringify(body);
        const req = https.request(
          { host, port, path, method: "POST", ca, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": Buffer.byteLength(payload) } },
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

class TtlCache<T> {
  private readonly entries = new Map<string, { value: T; expires: number }>();
  constructor(private readonly ttlMs: number) {}
  async get(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key);
    if (hit && hit.expires > Date.now()) return hit.value;
    const value = await load();
    if (this.entries.size > 10_000) this.entries.clear();
    this.entries.set(key, { value, expires: Date.now() + this.ttlMs });
    return value;
  }
}

export class KubernetesAuthenticator implements Authenticator {
  private readonly tokens = new TtlCache<{ user: string; uid?: string; groups: string[]; extra?: Record<string, string[]> } | undefined>(60_000);
  private readonly decisions = new TtlCache<boolean>(60_000);

  constructor(private readonly api: KubernetesApi, private readonly audiences?: string[]) {}

  async authenticate(token: string): Promise<Principal | undefined> {
    const cacheKey = createHash("sha256").update(token).digest("hex");
    const user = await this.tokens.get(cacheKey, async () => {
      const status = await this.api.review("/apis/authentication.k8s.io/v1/tokenreviews", {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenReview",
        spec: { token, ...(this.audiences ? { audiences: this.audiences } : {}) },
      });
      if (!status.authenticated || !status.user?.username) return undefined;
      return { user: status.user.username, uid: status.user.uid, groups: status.user.groups ?? [], extra: status.user.extra };
    });
    if (!user) return undefined;
    const allowed = (name: string | undefined): Promise<boolean> =>
      this.decisions.get(`${cacheKey}/${name ?? "*"}`, async () => {
        const status = await this.api.review("/apis/authorization.k8s.io/v1/subjectaccessreviews", {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: {
            user: user.user,
            uid: user.uid,
            groups: user.groups,
            extra: user.extra,
            resourceAttributes: { group: BILLING_API_GROUP, resource: "tenants", verb: "get", ...(name ? { name } : {}) },
          },
        });
        return status.allowed === true;
      });
    return { name: user.user, canAccessTenant: (tenant) => allowed(tenant), isAdmin: () => allowed(undefined) };
  }
}
