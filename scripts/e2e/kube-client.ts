// A minimal Kubernetes API client over plain HTTPS: discovery, server-side apply, get. Enough for the
// e2e checks without building kubectl. Each request carries a bearer token, so the same client code
// acts as the cluster admin or as a tenant admin.
import { request as httpsRequest, Agent } from "node:https";

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

export interface KubeResponse {
  status: number;
  body: any;
}

interface ResourceInfo {
  plural: string;
  namespaced: boolean;
}

// The loopback API server signs its own serving certificate; there is no CA to pin, and the traffic
// never leaves 127.0.0.1.
const loopbackAgent = new Agent({ rejectUnauthorized: false, keepAlive: true });

export class KubeClient {
  private readonly resources = new Map<string, ResourceInfo>();

  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  /** Same server, another identity (resource discovery is shared state only in the sense of a cache). */
  as(token: string): KubeClient {
    return new KubeClient(this.baseUrl, token);
  }

  async request(method: string, path: string, body?: string, contentType = "application/json"): Promise<KubeResponse> {
    const url = new URL(path, this.baseUrl);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        url,
        {
          method,
          agent: loopbackAgent,
          headers: {
            Authorization: `Bearer ${this.token}`,
            Accept: "application/json",
            ...(body === undefined ? {} : { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // Non-JSON bodies (for example /readyz's "ok") are returned as text.
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on("error", reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  /** Looks up (and caches) the plural resource name and scope of a kind through API discovery. */
  async resourceFor(apiVersion: string, kind: string): Promise<ResourceInfo> {
    const key = `${apiVersion}/${kind}`;
    const cached = this.resources.get(key);
    if (cached) return cached;
    const path = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const res = await this.request("GET", path);
    if (res.status !== 200) throw new Error(`discovery of ${apiVersion} failed: HTTP ${res.status}`);
    for (const r of res.body.resources as Array<{ name: string; kind: string; namespaced: boolean }>) {
      if (!r.name.includes("/")) this.resources.set(`${apiVersion}/${r.kind}`, { plural: r.name, namespaced: r.namespaced });
    }
    const found = this.resources.get(key);
    if (!found) throw new Error(`the API server does not serve ${kind} in ${apiVersion}`);
    return found;
  }

  /** URL path of one object (or of its collection when `name` is omitted). */
  async pathFor(apiVersion: string, kind: string, namespace: string | undefined, name?: string): Promise<string> {
    const info = await this.resourceFor(apiVersion, kind);
    const root = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const ns = info.namespaced ? `/namespaces/${namespace ?? "default"}` : "";
    return `${root}${ns}/${info.plural}${name === undefined ? "" : `/${name}`}`;
  }

  /**
   * Server-side apply of one object with the given field manager. The response status tells whether
   * the server (admission, schema validation, RBAC) accepted it. With `dryRun` the request goes through
   * authorization and admission (ValidatingAdmissionPolicies included) but nothing is stored.
   */
  async apply(obj: KubeObject, fieldManager: string, options: { dryRun?: boolean } = {}): Promise<KubeResponse> {
    const path = await this.pathFor(obj.apiVersion, obj.kind, obj.metadata.namespace, obj.metadata.name);
    const query = `?fieldManager=${encodeURIComponent(fieldManager)}&fieldValidation=Strict${options.dryRun ? "&dryRun=All" : ""}`;
    return this.request("PATCH", path + query, JSON.stringify(obj), "application/apply-patch+yaml");
  }

  async get(apiVersion: string, kind: string, namespace: string | undefined, name?: string): Promise<KubeResponse> {
    return this.request("GET", await this.pathFor(apiVersion, kind, namespace, name));
  }

  /** Forgets discovery results, needed after CRDs were installed. */
  forgetDiscovery(): void {
    this.resources.clear();
  }
}
