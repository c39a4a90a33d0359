/**
 * The two authenticators behind one interface. Kubernetes mode against a recording API server over
 * HTTP (audience, verbs, admin, cache, failed-auth limit) is in billing-auth-kubernetes.test.ts.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { describe, expect, it } from "vitest";
import { ChainedAuthenticator } from "../src/auth/chain";
import { KubernetesAuthenticator, type KubernetesApi } from "../src/auth/kubernetes";
import { hashToken, newToken, parseTokenFile, StaticTokenAuthenticator, tokenFilesAt } from "../src/auth/static";

describe("static tokens", () => {
  it("stores only hashes and scopes tokens to a tenant or admin", async () => {
    const admin = newToken("ops", { admin: true });
    const acme = newToken("acme", { tenant: "acme" });
    expect(admin.entry.sha256).toBe(hashToken(admin.token));
    expect(JSON.stringify([admin.entry, acme.entry])).not.toContain(admin.token);
    const auth = new StaticTokenAuthenticator([admin.entry, acme.entry]);
    const a = await auth.authenticate(acme.token);
    expect(a?.name).toBe("acme");
    expect(await a?.may("usage.read", "acme")).toBe(true);
    expect(await a?.may("events.create", "acme")).toBe(true);
    expect(await a?.may("usage.read", "globex")).toBe(false);
    expect(await a?.may("quotas.update", "acme")).toBe(false);
    const o = await auth.authenticate(admin.token);
    expect(await o?.may("quotas.update", "globex")).toBe(true);
    expect(await o?.may("usage.read", "globex")).toBe(true);
    expect(await auth.authenticate(`${acme.token}x`)).toBeUndefined();
  });

  it("the hash is the plain SHA-256 of the token's UTF-8 bytes (what `sha256sum` of the token prints), and a principal is shared, frozen", async () => {
    for (const token of ["mb_abc", "mb_" + "x".repeat(200), "tøken-✓", ""]) {
      expect(hashToken(token)).toBe(createHash("sha256").update(Buffer.from(token, "utf8")).digest("hex"));
    }
    const acme = newToken("acme", { tenant: "acme" });
    const auth = new StaticTokenAuthenticator([acme.entry]);
    const first = await auth.authenticate(acme.token);
    expect(await auth.authenticate(acme.token)).toBe(first);
    // One request's code cannot widen what the next request's principal may do.
    expect(() => Object.assign(first!, { tenant: "globex" })).toThrow(TypeError);
    expect(await first?.may("usage.read", "globex")).toBe(false);
  });

  it("a sender may send only its own sources, and only for its tenant when it has one", async () => {
    const a = newToken("sender-a", { sources: ["//a"] });
    const b = newToken("sender-b", { sources: ["//b"], tenant: "acme" });
    const auth = new StaticTokenAuthenticator([a.entry, b.entry]);
    const pa = await auth.authenticate(a.token);
    const pb = await auth.authenticate(b.token);
    expect([pa?.maySend?.("acme", "//a"), pa?.maySend?.("globex", "//a"), pa?.maySend?.("acme", "//b")]).toEqual([true, true, false]);
    expect([pb?.maySend?.("acme", "//b"), pb?.maySend?.("globex", "//b"), pb?.maySend?.("acme", "//a")]).toEqual([true, false, false]);
    expect(await pa?.may("usage.read", "acme")).toBe(false);
    expect([...auth.boundSources()].sort()).toEqual(["//a", "//b"]);
  });

  it("explains a bad tokens file", () => {
    expect(() => parseTokenFile("tokens:\n  - { name: x, sha256: abc }\n  - { name: y, sha256: " + "a".repeat(64) + " }\n", "tokens.yaml")).toThrow(
      /tokens.yaml: tokens.0.sha256: expected the lowercase hex SHA-256[\s\S]*tokens.yaml: tokens.1: an entry needs admin: true, a tenant, quotaGateway: true, or sources \(a sender\)/,
    );
  });
});

describe("a tokens directory (the platform's tenant tokens split over several Secrets)", () => {
  /** A projected-volume-like directory: visible *.yaml links into a hidden `..data` directory. */
  const projected = (files: Record<string, unknown>): string => {
    const dir = mkdtempSync(path.join(tmpdir(), "maas-tokens-"));
    mkdirSync(path.join(dir, "..2026_12_07_data"));
    symlinkSync("..2026_12_07_data", path.join(dir, "..data"));
    for (const [name, body] of Object.entries(files)) {
      writeFileSync(path.join(dir, "..2026_12_07_data", name), typeof body === "string" ? body : stringify(body));
      symlinkSync(path.join("..data", name), path.join(dir, name));
    }
    return dir;
  };

  it("reads every *.yaml file of the directory, in name order, skipping hidden entries", async () => {
    const admin = newToken("platform-admin", { admin: true });
    const acme = newToken("tenant-acme", { tenant: "acme" });
    const globex = newToken("tenant-globex", { tenant: "globex" });
    const dir = projected({ "tokens.yaml": { tokens: [admin.entry] }, "tenants-07.yaml": { tokens: [globex.entry] }, "tenants-00.yaml": { tokens: [acme.entry] }, "README": "not yaml" });
    try {
      expect(tokenFilesAt(dir).map((f) => path.basename(f))).toEqual(["tenants-00.yaml", "tenants-07.yaml", "tokens.yaml"]);
      const auth = StaticTokenAuthenticator.fromFile(dir);
      expect(await (await auth.authenticate(acme.token))?.may("usage.read", "acme")).toBe(true);
      expect(await (await auth.authenticate(globex.token))?.may("usage.read", "acme")).toBe(false);
      expect(await (await auth.authenticate(admin.token))?.may("quotas.update", "acme")).toBe(true);
      // A single file still works as before.
      expect(await StaticTokenAuthenticator.fromFile(path.join(dir, "tenants-00.yaml")).authenticate(globex.token)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses the same token hash in two files (one of the two scopes would win silently), and an empty directory", () => {
    const admin = newToken("platform-admin", { admin: true });
    // A tenant entry carrying the admin token's hash: which scope would the token get?
    const dir = projected({ "tokens.yaml": { tokens: [admin.entry] }, "tenants-03.yaml": { tokens: [{ name: "tenant-acme", tenant: "acme", sha256: admin.entry.sha256 }] } });
    const empty = mkdtempSync(path.join(tmpdir(), "maas-tokens-"));
    try {
      expect(() => StaticTokenAuthenticator.fromFile(dir)).toThrow(/tokens\.yaml: platform-admin: the same token hash as .*tenants-03\.yaml: tenant-acme; each token needs one entry/);
      expect(() => StaticTokenAuthenticator.fromFile(empty)).toThrow(/a tokens directory with no \*\.yaml file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("names the file of a broken or empty shard and says what it should hold", () => {
    const admin = newToken("platform-admin", { admin: true });
    const broken = projected({ "tokens.yaml": { tokens: [admin.entry] }, "tenants-03.yaml": "tokens:\n  - name: x\n{ sha256: [" });
    const empty = projected({ "tokens.yaml": { tokens: [admin.entry] }, "tenants-04.yaml": "" });
    try {
      expect(() => StaticTokenAuthenticator.fromFile(broken)).toThrow(/tenants-03\.yaml: not YAML \(.+\); expected "tokens: \[\.\.\.\]"/);
      expect(() => StaticTokenAuthenticator.fromFile(empty)).toThrow(/tenants-04\.yaml: empty; expected "tokens: \[\.\.\.\]" \(a file with no tokens is "tokens: \[\]"\)/);
    } finally {
      rmSync(broken, { recursive: true, force: true });
      rmSync(empty, { recursive: true, force: true });
    }
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
            ? { authenticated: true, audiences: ["maas-billing"], user: { username: "system:serviceaccount:globex:reader", uid: "u2", groups: [] } }
            : { authenticated: false };
        }
        return { allowed: (body as any).spec.resourceAttributes.name === "globex" };
      },
    };
    const auth = new ChainedAuthenticator([new StaticTokenAuthenticator([acme.entry]), new KubernetesAuthenticator(api)]);
    const viaFile = await auth.authenticate(acme.token);
    expect(viaFile?.name).toBe("acme");
    expect(await viaFile?.may("usage.read", "acme")).toBe(true);
    expect(await viaFile?.may("usage.read", "globex")).toBe(false);
    expect(reviewed).toEqual([]); // the static token never went to the API server
    const viaKubernetes = await auth.authenticate("sa-token");
    expect(viaKubernetes?.name).toBe("system:serviceaccount:globex:reader");
    expect(await viaKubernetes?.may("usage.read", "globex")).toBe(true);
    expect(await auth.authenticate("unknown")).toBeUndefined();
  });
});
