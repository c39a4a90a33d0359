/*
 * Onboarding: `npm run tenant:new -- <name>` writes a validated Pulumi.<name>.yaml that renders, and
 * `npm run synth` renders tenant-only stacks offline with the platform's outputs from a file.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { parseStackConfigFile } from "../scripts/render";
import { createConformanceValidator } from "./support/conformance";
import { checkConfigFileSecrets, checkSecurityInvariants } from "./support/invariants";
import { checkTenantScope } from "./support/tenantIsolation";
import { renderConfig, repoRoot, platformOutputsFixture } from "./support/stacks";
import { parseStackConfig } from "../components/config";

const run = promisify(execFile);
const tsx = path.join(repoRoot, "node_modules", ".bin", "tsx");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tenant-new-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const fixture = platformOutputsFixture();

async function cli(script: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(tsx, [script, ...args], { cwd: repoRoot });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("npm run tenant:new", () => {
  it("writes a valid tenant stack that renders cleanly and prints the next commands", async () => {
    const dir = path.join(tmp, "ok");
    fs.mkdirSync(dir);
    const result = await cli("scripts/tenant-new.ts", "tenant-c", "--dir", dir, "--platform-stack", "acme/maas-billing/platform-prod");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("npm run synth -- --stack tenant-c --platform-outputs");
    expect(result.stdout).toContain("pulumi up --stack tenant-c");
    expect(result.stdout).toContain("add { name: tenant-c, adminGroup: tenant-c-admins } to maas-billing:platform.tenants of acme/maas-billing/platform-prod");

    const text = fs.readFileSync(path.join(dir, "Pulumi.tenant-c.yaml"), "utf8");
    expect(checkConfigFileSecrets(text, "Pulumi.tenant-c.yaml")).toEqual([]);
    const { config } = parseStackConfigFile(text);
    const parsed = parseStackConfig(Object.fromEntries(Object.entries(config).map(([k, v]) => [k.replace(/^maas-billing:/, ""), v])));
    expect(parsed.tenant?.name).toBe("tenant-c");
    expect(parsed.platformStack).toBe("acme/maas-billing/platform-prod");

    // Once the platform registered tenant-c, the stack renders, conforms and stays in its namespaces.
    const outputs = {
      ...fixture,
      federation: { ...fixture.federation, "tenant-c": { url: "http://maas-fed-tenant-c-models.maas-monitoring.svc:8080", gatewayUrl: "http://maas-fed-tenant-c-gateway.maas-monitoring.svc:8080" } },
      tenantNamespaces: { ...fixture.tenantNamespaces, "tenant-c": ["tenant-c-models", "tenant-c-monitoring"] },
    };
    const unprefixed = Object.fromEntries(Object.entries(config).map(([k, v]) => [k.replace(/^maas-billing:/, ""), v]));
    const r = await renderConfig("tenant-c", unprefixed, { "acme/maas-billing/platform-prod": outputs });
    expect(await createConformanceValidator().validateAll(r.objects)).toEqual([]);
    expect(checkSecurityInvariants(r)).toEqual([]);
    expect(checkTenantScope(r, ["tenant-c-models", "tenant-c-monitoring"])).toEqual([]);
    expect(r.secretOutputs).toEqual(["apiKeys", "grafanaAdminPassword"]);
  });

  it("refuses an invalid name with the key, the problem and an example", async () => {
    const result = await cli("scripts/tenant-new.ts", "Tenant_C", "--dir", tmp);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('maas-billing:tenant.name: expected a lowercase DNS label of at most 40 characters, got "Tenant_C". Example: "tenant-a"');
    expect(fs.existsSync(path.join(tmp, "Pulumi.Tenant_C.yaml"))).toBe(false);
  });

  it("never overwrites an existing stack file without --force", async () => {
    const dir = path.join(tmp, "exists");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "Pulumi.tenant-d.yaml"), "config: {}\n");
    const result = await cli("scripts/tenant-new.ts", "tenant-d", "--dir", dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("already exists (pass --force to overwrite)");
    expect(fs.readFileSync(path.join(dir, "Pulumi.tenant-d.yaml"), "utf8")).toBe("config: {}\n");
  });

  it("a tenant the platform does not know fails the render with the fix", async () => {
    const platformStack = "acme/maas-billing/platform-prod";
    await expect(renderConfig("tenant-z", { flavor: "openshift", platformStack, tenant: { name: "tenant-z" } }, { [platformStack]: fixture })).rejects.toThrow(
      'tenant tenant-z: the platform exports no federation endpoints for this tenant; add { name: "tenant-z" } to platform.tenants in the platform stack',
    );
  });
});

describe("npm run synth renders a tenant-only stack offline", () => {
  it("with the platform outputs from --platform-outputs", async () => {
    const result = await cli("scripts/synth.ts", "--stack", "tenant-b", "--platform-outputs", "test/fixtures/platform-outputs.json", "--out", path.join(tmp, "out"));
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("platform outputs for acme/maas-billing/platform-openshift: test/fixtures/platform-outputs.json");
    // 15 objects plus the tenant Alertmanager (config Secret, Deployment, Service, NetworkPolicy) of its
    // `alerting`, plus the key Secret and registration Job of its webhook.
    expect(result.stdout).toMatch(/stack tenant-b: 21 Kubernetes objects/);
    expect(fs.readdirSync(path.join(tmp, "out", "tenant-b"))).toContain("secret--tenant-b-models--tenant-b-apikey-carol.yaml");
    const secret = fs.readFileSync(path.join(tmp, "out", "tenant-b", "secret--tenant-b-models--tenant-b-apikey-carol.yaml"), "utf8");
    expect(secret).toMatch(/api_key: <redacted>/);
  });

  it("with the outputs of the example platform stack it names, by default", async () => {
    const result = await cli("scripts/synth.ts", "--stack", "tenant-a", "--out", path.join(tmp, "out2"));
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("platform outputs for acme/maas-billing/platform-openshift: render of Pulumi.platform-openshift.yaml");
  });
});
