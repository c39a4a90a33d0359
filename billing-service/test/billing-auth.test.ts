/**
 * The two authenticators behind one interface. Kubernetes mode is exercised against a recording
 * stand-in for the API server's TokenReview/SubjectAccessReview endpoints: what matters here is the
 * review objects the service sends and how it reads the answers.
 */
import { describe, expect, it } from "vitest";
import { ChainedAuthenticator } from "../src/auth/chain";
import { BILLING_API_GROUP, KubernetesAuthenticator, type KubernetesApi } from "../src/auth/kubernetes";
import { hashToken, newToken, parseTokenFile, StaticTokenAuthenticator } from "../src/auth/static";

describe("static tokens", () => {
  it("stores only hashes and scopes tokens to a tenant or admin", async () => {
    const admin = newToken("ops", { admin: true });
    const acme = newToken("acme", { tenant: "acme" });
    expect(admin.entry.sha256).toBe(hashToken(admin.token));
    expect(JSON.stringify([admin.entry, acme.entry])).not.toContain(admin.token);
    const auth = new StaticTokenAuthenticator([admin.entry, acme.entry]);
    const a = await auth.authenticate(acme.token);
    expect(a?.name).toBe("acme");
    expect(await a?.canAccessTenant("acme")).toBe(true);
    expect(await a?.canAccessTenant("globex")).toBe(false);
    expect(await a?.isAdmin()).toBe(false);
    const o = await auth.authenticate(admin.token);
    expect(await o?.isAdmin()).toBe(true);
    expect(await o?.canAccessTenant("globex")).toBe(true);
    expect(await auth.authenticate(`${acme.token}x`)).toBeUndefined();
  });

  it("explains a bad tokens file", () => {
    expect(() => parseTokenFile("tokens:\n  - { name: x, sha256: abc }\n  - { name: y, sha256: " + "a".repeat(64) + " }\n", "tokens.yaml")).toThrow(
      /tokens.yaml: tokens.0.sha256: expected the lowercase hex SHA-256[\s\S]*tokens.yaml: tokens.1: an entry needs admin: true, a tenant, quotaGateway: true, or sources \(a sender\)/,
    );
  });
});

describe("Kubernetes TokenReview + SubjectAccessReview", () => {
  const reviews: Array<{ path: string; body: Record<string, any> }> = [];
  const api: KubernetesApi = {
    async review(path, body) {
      reviews.push({ path, body: body as Record<string, any> });
      if (path.endsWith("/tokenreviews")) {
        const token = (body as any).spec.token;
        return token === "sa-token-of-acme-reader"
          ? { authenticated: true, user: { username: "system:serviceaccount:acme:reader", uid: "u1", groups: ["system:serviceaccounts:acme"] } }
          : { authenticated: false };
      }
      const attrs = (body as any).spec.resourceAttributes;
      return { allowed: attrs.group === BILLING_API_GROUP && attrs.resource === "tenants" && attrs.verb === "get" && attrs.name === "acme" };
    },
  };

  it("authenticates with a TokenReview and authorizes each tenant with a SubjectAccessReview", async () => {
    const auth = new KubernetesAuthenticator(api);
    expect(await auth.authenticate("forged")).toBeUndefined();
    const p = await auth.authenticate("sa-token-of-acme-reader");
    expect(p?.name).toBe("system:serviceaccount:acme:reader");
    expect(await p?.canAccessTenant("acme")).toBe(true);
    expect(await p?.canAccessTenant("globex")).toBe(false);
    expect(await p?.isAdmin()).toBe(false);
    const sar = reviews.find((r) => r.path.endsWith("/subjectaccessreviews"))!;
    expect(sar.body).toMatchObject({
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      spec: { user: "system:serviceaccount:acme:reader", uid: "u1", groups: ["system:serviceaccounts:acme"], resourceAttributes: { group: "billing.maas-billing.io", resource: "tenants", verb: "get", name: "acme" } },
    });
    const adminReview = reviews.filter((r) => r.path.endsWith("/subjectaccessreviews")).at(-1)!;
    expect(adminReview.body.spec.resourceAttributes.name).toBeUndefined();
  });

  it("caches answers so the API server is not on every request's path", async () => {
    reviews.length = 0;
    const auth = new KubernetesAuthenticator(api);
    for (let i = 0; i < 5; i++) {
      const p = await auth.authenticate("sa-token-of-acme-reader");
      await p?.canAccessTenant("acme");
    }
    expect(reviews.map((r) => r.path.split("/").at(-1))).toEqual(["tokenreviews", "subjectaccessreviews"]);
  });
});

describe("Kubernetes mode with the platform's tokens file", () => {
  it("accepts a static tenant token without a TokenReview and falls back to Kubernetes for other tokens", async () => {
    const acme = newToken("acme", { tenant: "acme" });
    const reviewed: string[] = [];
    const api: KubernetesApi = {
      async review(path, body) {
        reviewed.push(path.split("/").at(-1)!);
        if (path.endsWith("/tokenreviews")) {
          return (body as any).spec.token === "sa-token"
            ? { authenticated: true, user: { username: "system:serviceaccount:globex:reader", uid: "u2", groups: [] } }
            : { authenticated: false };
        }
        return { allowed: (body as any).spec.resourceAttributes.name === "globex" };
      },
    };
    const auth = new ChainedAuthenticator([new StaticTokenAuthenticator([acme.entry]), new KubernetesAuthenticator(api)]);
    const viaFile = await auth.authenticate(acme.token);
    expect(viaFile?.name).toBe("acme");
    expect(await viaFile?.canAccessTenant("acme")).toBe(true);
    expect(await viaFile?.canAccessTenant("globex")).toBe(false);
    expect(reviewed).toEqual([]); // the static token never went to the API server
    const viaKubernetes = await auth.authenticate("sa-token");
    expect(viaKubernetes?.name).toBe("system:serviceaccount:globex:reader");
    expect(await viaKubernetes?.canAccessTenant("globex")).toBe(true);
    expect(await auth.authenticate("unknown")).toBeUndefined();
  });
});
