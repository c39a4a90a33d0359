/**
 * A recording stand-in for the Kubernetes API server's TokenReview and SubjectAccessReview endpoints,
 * as an in-process HTTP server on a port the kernel picks. It answers the way the real server does:
 *   TokenReview: a token is valid for the audiences it was issued for; a review that names audiences
 *     authenticates only a token carrying one of them and echoes the intersection in status.audiences;
 *     a review without audiences is checked against the API server's own audience
 *     (https://kubernetes.default.svc), which is what a token meant for the API server carries.
 *   SubjectAccessReview: RBAC rules per user (verbs, resources as "resource" or "resource/subresource",
 *     optional resourceNames; a rule with resourceNames never matches a request without a name).
 * Every request body is recorded, so tests can check what the service asked.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export const API_SERVER_AUDIENCE = "https://kubernetes.default.svc";

export interface FakeToken {
  readonly user: string;
  readonly groups?: string[];
  readonly audiences: string[];
}

export interface FakeRule {
  readonly verbs: string[];
  readonly resources: string[];
  readonly resourceNames?: string[];
}

export interface RecordedReview {
  readonly kind: "TokenReview" | "SubjectAccessReview";
  readonly body: Record<string, any>;
}

export interface FakeKubeApi {
  readonly url: string;
  readonly reviews: RecordedReview[];
  /** The same answers without HTTP (for tests that send thousands of reviews). */
  answer(path: string, body: Record<string, any>): Record<string, any>;
  close(): Promise<void>;
}

export const fakeKubeApi = async (tokens: Record<string, FakeToken>, rules: Record<string, FakeRule[]>): Promise<FakeKubeApi> => {
  const reviews: RecordedReview[] = [];
  const tokenReview = (spec: Record<string, any>): Record<string, any> => {
    const known = tokens[spec.token as string];
    const wanted: string[] = Array.isArray(spec.audiences) && spec.audiences.length > 0 ? spec.audiences : [API_SERVER_AUDIENCE];
    const granted = known ? known.audiences.filter((a) => wanted.includes(a)) : [];
    if (!known || granted.length === 0) return { authenticated: false, error: "token not valid for the requested audiences" };
    return { authenticated: true, audiences: granted, user: { username: known.user, uid: `uid-${known.user}`, groups: known.groups ?? [] } };
  };
  const accessReview = (spec: Record<string, any>): Record<string, any> => {
    const a = spec.resourceAttributes ?? {};
    const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    const allowed = (rules[spec.user as string] ?? []).some(
      (r) =>
        (r.verbs.includes(a.verb) || r.verbs.includes("*")) &&
        (r.resources.includes(resource) || r.resources.includes("*")) &&
        (r.resourceNames === undefined || (a.name !== undefined && r.resourceNames.includes(a.name))),
    );
    return { allowed };
  };
  const answer = (path: string, body: Record<string, any>): Record<string, any> => {
    if (path.endsWith("/tokenreviews")) {
      reviews.push({ kind: "TokenReview", body });
      return tokenReview(body.spec ?? {});
    }
    reviews.push({ kind: "SubjectAccessReview", body });
    return accessReview(body.spec ?? {});
  };
  const server = http.createServer((req, res) => {
    let data = "";
    req.on("data", (c: Buffer) => (data += c.toString("utf8")));
    req.on("end", () => {
      const body = JSON.parse(data || "{}") as Record<string, any>;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ ...body, status: answer(req.url ?? "", body) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    reviews,
    answer,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
};
