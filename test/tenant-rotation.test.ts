/*
 * Rotating one API key (bumping its `rotation` in config) changes that key's Secret and nothing else:
 * shown by diffing two renders written to disk (the `npm run synth` output) and the resources the
 * program registers (the RandomPassword's `keepers` change, which makes the provider generate a new
 * value for that key alone).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readStackConfigFile, render, writeRender, type RenderResult } from "../scripts/render";
import { repoRoot, platformOutputsFixture } from "./support/stacks";

const fixture = platformOutputsFixture();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tenant-rotation-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Renders Pulumi.tenant-a.yaml after `edit` of its tenant spec. */
async function renderTenantA(edit: (tenant: any) => void = () => {}): Promise<RenderResult> {
  const { config, secretKeys } = readStackConfigFile(path.join(repoRoot, "Pulumi.tenant-a.yaml"));
  const tenant = structuredClone(config["maas-billing:tenant"]);
  edit(tenant);
  return render({
    stack: "tenant-a",
    config: { ...config, "maas-billing:tenant": tenant },
    secretKeys,
    stackReferenceOutputs: { [config["maas-billing:platformStack"] as string]: fixture },
  });
}

const readDir = (dir: string) => Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f), "utf8")]));

/** Files that differ (or exist on one side only) between two written renders. */
function diffFiles(a: Record<string, string>, b: Record<string, string>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((f) => a[f] !== b[f]).sort();
}

/** Pulumi resources whose inputs differ between two renders (`type::name`). */
function diffResources(a: RenderResult, b: RenderResult): string[] {
  const key = (r: RenderResult["resources"][number]) => `${r.type}::${r.name}`;
  const before = new Map(a.resources.map((r) => [key(r), JSON.stringify(r.inputs)]));
  const after = new Map(b.resources.map((r) => [key(r), JSON.stringify(r.inputs)]));
  return [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k)).sort();
}

let base: RenderResult;
let rotated: RenderResult;
let baseFiles: Record<string, string>;
let rotatedFiles: Record<string, string>;
beforeAll(async () => {
  base = await renderTenantA();
  rotated = await renderTenantA((t) => {
    t.apiKeys.find((k: any) => k.name === "alice").rotation = 1;
  });
  baseFiles = readDir(writeRender(base, path.join(tmp, "before")).dir);
  rotatedFiles = readDir(writeRender(rotated, path.join(tmp, "after")).dir);
});

describe("rotating one key", () => {
  it("changes that key's Secret only, in the written render", () => {
    expect(diffFiles(baseFiles, rotatedFiles)).toEqual(["secret--tenant-a-models--tenant-a-apikey-alice.yaml"]);
    const before = baseFiles["secret--tenant-a-models--tenant-a-apikey-alice.yaml"];
    const after = rotatedFiles["secret--tenant-a-models--tenant-a-apikey-alice.yaml"];
    expect(before).toContain('maas-billing.io/rotation: "0"');
    expect(after).toContain('maas-billing.io/rotation: "1"');
  });

  it("changes only that key's RandomPassword keepers (a replacement: a new value) and its Secret", () => {
    expect(diffResources(base, rotated)).toEqual([
      "kubernetes:core/v1:Secret::tenant-tenant-a-apikey-alice",
      "random:index/randomPassword:RandomPassword::tenant-tenant-a-apikey-alice-value",
    ]);
    const keepers = (r: RenderResult) => r.resources.find((x) => x.name === "tenant-tenant-a-apikey-alice-value")!.inputs.keepers;
    expect([keepers(base), keepers(rotated)]).toEqual([{ rotation: "0" }, { rotation: "1" }]);
  });

  it("gives the rotated key a new value, still redacted in the written render, and keeps the others' values", () => {
    const apiKey = (r: RenderResult, key: string) =>
      ((r.objects.find((o) => o.object.kind === "Secret" && o.object.metadata.name === `tenant-a-apikey-${key}`)!.object as any).stringData as Record<string, string>).api_key;
    expect(apiKey(rotated, "alice")).not.toBe(apiKey(base, "alice"));
    expect(rotated.secretValues).toContain(apiKey(rotated, "alice"));
    expect(apiKey(rotated, "bob")).toBe(apiKey(base, "bob"));
    for (const [file, text] of Object.entries(rotatedFiles)) {
      expect(text, file).not.toContain(apiKey(rotated, "alice"));
      expect(text, file).not.toContain(apiKey(base, "alice"));
    }
    expect(rotatedFiles["secret--tenant-a-models--tenant-a-apikey-alice.yaml"]).toMatch(/api_key: .*redacted/);
  });

  it("the diff is not blind: rotating two keys changes two Secrets", async () => {
    const both = await renderTenantA((t) => {
      for (const k of t.apiKeys) if (k.name !== "batch-jobs") k.rotation = 7;
    });
    const files = readDir(writeRender(both, path.join(tmp, "both")).dir);
    expect(diffFiles(baseFiles, files)).toEqual([
      "secret--tenant-a-models--tenant-a-apikey-alice.yaml",
      "secret--tenant-a-models--tenant-a-apikey-bob.yaml",
    ]);
  });

  it("reordering keys in config changes nothing (children are keyed by name, not position)", async () => {
    const reordered = await renderTenantA((t) => t.apiKeys.reverse());
    expect(diffFiles(baseFiles, readDir(writeRender(reordered, path.join(tmp, "reordered")).dir))).toEqual([]);
    expect(diffResources(base, reordered)).toEqual([]);
  });
});
