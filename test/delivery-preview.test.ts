/*
 * `npm run preview`: a change to one tenant's config shows only that tenant's objects changing.
 * First on the render library directly (two configs of one all-in-one stack), then end to end
 * through git refs in a throwaway copy of the repository.
 */
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultRef } from "../scripts/delivery/git-ref-tree";
import { diffObjectSets, objectKey, type KubeObject, type StackDiff } from "../scripts/delivery/object-diff";
import { readStackConfigFile, redactedObjects, render } from "../scripts/render";
import { repoRoot } from "./support/stacks";

type TenantSpec = { name: string; prometheus: { retention: string }; apiKeys: { name: string; userId: string; tier: string }[] };
type PlatformConfig = { tenants: { name: string; adminGroup?: string }[] };

const stackConfig = (stack: string) => readStackConfigFile(path.join(repoRoot, `Pulumi.${stack}.yaml`)).config;
const tenantSpec = (stack: string) => stackConfig(stack)["maas-billing:tenant"] as TenantSpec;

/** The dev stack (platform) with both example tenants deployed in the same stack. */
function allInOne(change: (tenantA: TenantSpec, platform: PlatformConfig) => void = () => undefined) {
  const config = structuredClone(stackConfig("dev"));
  const tenantA = structuredClone(tenantSpec("tenant-a"));
  change(tenantA, config["maas-billing:platform"] as PlatformConfig);
  return { ...config, "maas-billing:tenants": [tenantA, tenantSpec("tenant-b")] };
}

async function renderedMap(config: Record<string, unknown>): Promise<Map<string, KubeObject>> {
  const result = await render({ stack: "dev", config });
  return new Map(redactedObjects(result).map((object) => [objectKey(object), object as unknown as KubeObject]));
}

/** Every object key the diff touches (added, changed or deleted). */
const touched = (diff: StackDiff) => [...diff.added, ...diff.changed.map((c) => c.key), ...diff.deleted];

/** tenant-a's objects: in its namespaces, or platform-side objects named after it. */
const ownedByTenantA = (key: string) => / tenant-a-(models|monitoring)\//.test(key) || / ([^ ]+\/)?tenant-a-[^/]*$/.test(key);

describe("preview diff over the render library", () => {
  let base: Map<string, KubeObject>;
  beforeAll(async () => {
    base = await renderedMap(allInOne());
  });

  it.each([
    [
      "tenant spec: longer retention and one more API key",
      (a: TenantSpec) => {
        a.prometheus.retention = "45d";
        a.apiKeys.push({ name: "carol", userId: "carol", tier: "free" });
      },
      ["Secret.core tenant-a-models/tenant-a-apikey-carol", "StatefulSet.apps tenant-a-monitoring/tenant-a-prometheus"],
    ],
    [
      "platform registry: another admin group for tenant-a",
      (_a: TenantSpec, platform: PlatformConfig) => {
        platform.tenants.find((t) => t.name === "tenant-a")!.adminGroup = "tenant-a-operators";
      },
      [],
    ],
  ])("%s: only tenant-a's objects change", async (_name, change, mustInclude) => {
    const diff = diffObjectSets(base, await renderedMap(allInOne(change)));
    const keys = touched(diff);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.filter((key) => !ownedByTenantA(key))).toEqual([]);
    expect(keys.some((key) => key.includes("tenant-b"))).toBe(false);
    for (const key of mustInclude) expect(keys).toContain(key);
    expect(diff.unchanged).toBeGreaterThan(20);
  });

  it("the retention change is reported field by field", async () => {
    const diff = diffObjectSets(base, await renderedMap(allInOne((a) => void (a.prometheus.retention = "45d"))));
    expect(diff.changed).toHaveLength(1);
    expect(diff.changed[0].fields).toEqual([
      expect.objectContaining({
        kind: "changed",
        before: "--storage.tsdb.retention.time=30d",
        after: "--storage.tsdb.retention.time=45d",
      }),
    ]);
    expect(diff.changed[0].fields[0].path).toMatch(/^spec\.template\.spec\.containers\[name=prometheus\]\.args\[\d+\]$/);
  });
});

describe("npm run preview over git refs", () => {
  const run = promisify(execFile);
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), "delivery-preview-"));
  const git = (...args: string[]) => execFileSync("git", args, { cwd: copy, encoding: "utf8" });
  afterAll(() => fs.rmSync(copy, { recursive: true, force: true }));

  /** Runs the copy's own scripts/preview.ts; resolves with exit code and output instead of throwing. */
  async function preview(...args: string[]): Promise<{ code: number; stdout: string }> {
    const tsx = path.join(repoRoot, "node_modules", ".bin", "tsx");
    try {
      const { stdout } = await run(tsx, ["scripts/preview.ts", ...args], { cwd: copy });
      return { code: 0, stdout };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout + e.stderr };
    }
  }

  beforeAll(() => {
    // A copy of the work tree as a fresh repository: commit 1 as is, commit 2 changes tenant-a only.
    const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard", "-z"], { cwd: repoRoot, encoding: "utf8" })
      .split("\0")
      .filter((file) => file.length > 0 && fs.existsSync(path.join(repoRoot, file)));
    for (const file of files) {
      fs.mkdirSync(path.dirname(path.join(copy, file)), { recursive: true });
      fs.copyFileSync(path.join(repoRoot, file), path.join(copy, file));
    }
    fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(copy, "node_modules"), "dir");
    git("init", "-q", "-b", "main");
    git("add", "-A");
    git("-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "base");
    const tenantFile = path.join(copy, "Pulumi.tenant-a.yaml");
    const text = fs.readFileSync(tenantFile, "utf8");
    expect(text).toMatch(/retention: 30d/);
    fs.writeFileSync(tenantFile, text.replace(/retention: 30d/, "retention: 45d"));
    git("-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-am", "tenant-a: 45 days");
  });

  it("shows only tenant-a's Prometheus changing against the previous commit, and exits 1 with --exit-code", async () => {
    const result = await preview("--stack", "tenant-a", "--ref", "HEAD~1", "--exit-code");
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^Stack tenant-a: HEAD~1 \([0-9a-f]+\) -> working tree$/);
    expect(lines.filter((line) => /^[+~-] /.test(line))).toEqual(["~ StatefulSet.apps tenant-a-monitoring/tenant-a-prometheus"]);
    expect(result.stdout).toContain('"--storage.tsdb.retention.time=30d" => "--storage.tsdb.retention.time=45d"');
    expect(lines.at(-1)).toMatch(/^0 to add, 1 to change, 0 to delete, \d+ unchanged$/);
  });

  it("defaults to origin/main when the repository has it, else HEAD", () => {
    expect(defaultRef(copy)).toBe("HEAD");
    git("update-ref", "refs/remotes/origin/main", "HEAD~1");
    expect(defaultRef(copy)).toBe("origin/main");
  });

  it("without --ref compares with origin/main (here the commit before the change)", async () => {
    git("update-ref", "refs/remotes/origin/main", "HEAD~1");
    const result = await preview("--stack", "tenant-a");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Stack tenant-a: origin\/main \(/);
    expect(result.stdout).toContain("~ StatefulSet.apps tenant-a-monitoring/tenant-a-prometheus");
  });

  it("rejects an unknown ref with a readable message", async () => {
    const result = await preview("--stack", "tenant-a", "--ref", "no-such-branch");
    expect(result.code).toBe(2);
    expect(result.stdout).toContain("preview: no-such-branch is not a commit");
  });
});
