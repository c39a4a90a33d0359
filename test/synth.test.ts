import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { REDACTED } from "../scripts/render";
import { mockSecretValue } from "../scripts/render/mockRuntime";
import { parseStackConfigFile, SECURE_PLACEHOLDER } from "../scripts/render/configFile";
import { renderConfig, repoRoot, testImage } from "./support/stacks";

const run = promisify(execFile);
const tsx = path.join(repoRoot, "node_modules", ".bin", "tsx");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "synth-test-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs `npm run synth`'s script; resolves with exit code and output instead of throwing. */
async function synth(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(tsx, ["scripts/synth.ts", ...args], { cwd: repoRoot });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const readDir = (dir: string) => Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f), "utf8")]));

describe("npm run synth", () => {
  it("renders the dev stack byte-identically twice, one file per object, secrets redacted", async () => {
    const first = await synth("--stack", "dev", "--out", path.join(tmp, "a"));
    const second = await synth("--stack", "dev", "--out", path.join(tmp, "b"));
    expect(first.code).toBe(0);
    expect(second.code).toBe(0);
    const a = readDir(path.join(tmp, "a", "dev"));
    expect(readDir(path.join(tmp, "b", "dev"))).toEqual(a);
    const count = Number(/stack dev: (\d+) Kubernetes objects/.exec(first.stdout)?.[1]);
    expect(Object.keys(a)).toHaveLength(count);
    // Summary lines per kind; the platform's own objects are there (tenant parts add more).
    expect(first.stdout).toMatch(/^\s+ConfigMap \(patch\)\s+2$/m);
    expect(first.stdout).toMatch(/^\s+Limitador \(patch\)\s+1$/m);
    expect(a["statefulset--maas-billing--maas-billing-db.yaml"]).toContain("kind: StatefulSet");

    const secret = a["secret--maas-billing--maas-billing-db.yaml"];
    expect(secret).toContain(`password: ${REDACTED}`);
    const password = mockSecretValue("platform-database-password", { length: 32, special: false });
    for (const [file, text] of Object.entries(a)) expect(text, file).not.toContain(password);
  });

  it("renders any config given with --config", async () => {
    const file = path.join(tmp, "k8s.yaml");
    fs.writeFileSync(file, `config:\n  maas-billing:flavor: kubernetes\n  maas-billing:allowImageTags: [platform.federation.proxyImage, platform.federation.authProxyImage]\n  maas-billing:platform:\n    billing:\n      image: ${testImage}\n`);
    const result = await synth("--stack", "adhoc", "--config", file, "--out", path.join(tmp, "c"));
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\s+Prometheus\s+1$/m);
    expect(fs.existsSync(path.join(tmp, "c", "adhoc", "prometheus--maas-monitoring--maas-prometheus.yaml"))).toBe(true);
  });

  it("exits non-zero with the readable message on a broken config", async () => {
    const file = path.join(tmp, "broken.yaml");
    fs.writeFileSync(file, `config:\n  maas-billing:flavor: aks\n  maas-billing:platform:\n    billing:\n      image: ${testImage}\n    monitoring:\n      retention: -3d\n`);
    const result = await synth("--stack", "broken", "--config", file, "--out", path.join(tmp, "d"));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('maas-billing:flavor: expected one of "openshift" | "kubernetes", got "aks". Example: "openshift"');
    expect(result.stderr).toContain('maas-billing:platform.monitoring.retention: expected a Prometheus duration, got "-3d". Example: "15d"');
    expect(fs.existsSync(path.join(tmp, "d", "broken"))).toBe(false);
  });

  it("refuses an unknown stack without a config file", async () => {
    const result = await synth("--stack", "no-such-stack", "--out", path.join(tmp, "e"));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("no config file");
  });
});

describe("stack config files", () => {
  it("reads secure: values as secret keys with a placeholder", () => {
    const parsed = parseStackConfigFile("config:\n  maas-billing:flavor: openshift\n  maas-billing:token:\n    secure: v1:abc\n");
    expect(parsed).toEqual({ config: { "maas-billing:flavor": "openshift", "maas-billing:token": SECURE_PLACEHOLDER }, secretKeys: ["maas-billing:token"] });
  });
});

describe("tenant stacks read the platform through a StackReference", () => {
  const platformStack = "acme/maas-billing/platform-prod";
  const fixture = {
    billingNamespace: "maas-billing",
    billingApiUrl: "http://maas-billing-api.maas-billing.svc:8080",
    federation: { "tenant-a": { url: "http://maas-fed-tenant-a-models.maas-monitoring.svc:8080", gatewayUrl: "http://maas-fed-tenant-a-gateway.maas-monitoring.svc:8080" } },
    gateway: { name: "maas-default-gateway", namespace: "openshift-ingress" },
    vllmMetricFamily: "kserve_vllm",
    tenantNamespaces: { "tenant-a": ["tenant-a-models", "tenant-a-monitoring"] },
  };

  it("renders a tenant-only stack from supplied outputs", async () => {
    const result = await renderConfig("tenant-a", { flavor: "openshift", tenant: { name: "tenant-a" }, platformStack }, { [platformStack]: fixture });
    expect(result.resources.filter((r) => r.type === "pulumi:pulumi:StackReference").map((r) => r.name)).toEqual([platformStack]);
    expect(result.resources.some((r) => r.type === "maas:tenant:TenantStack")).toBe(true);
    // A tenant stack creates nothing of the platform.
    expect(result.resources.some((r) => r.type === "maas:platform:Platform")).toBe(false);
  });

  it("fails clearly when the fixture is missing", async () => {
    await expect(renderConfig("tenant-a", { flavor: "openshift", tenant: { name: "tenant-a" }, platformStack })).rejects.toThrow(
      `render: no outputs supplied for StackReference "${platformStack}"`,
    );
  });
});

describe("mock secret values", () => {
  it("depend on the resource name and every input, keepers included, not on key order", () => {
    const base = mockSecretValue("k", { length: 48, special: false, keepers: { rotation: "0" } });
    expect(mockSecretValue("k", { keepers: { rotation: "0" }, special: false, length: 48 })).toBe(base);
    expect(mockSecretValue("k", { length: 48, special: false, keepers: { rotation: "1" } })).not.toBe(base);
    expect(mockSecretValue("other", { length: 48, special: false, keepers: { rotation: "0" } })).not.toBe(base);
    expect(base).toHaveLength(48);
    expect(mockSecretValue("k", { length: 8 })).toHaveLength(16);
  });
});
