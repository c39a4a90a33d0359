import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { deployWaves, readStacks, stackNameOf, stacksAffectedBy, tierOf, type StackInfo } from "../scripts/delivery/stack-plan";
import { repoRoot } from "./support/stacks";

const stacks: StackInfo[] = [
  { name: "dev", tier: "platform" },
  { name: "platform-openshift", tier: "platform" },
  { name: "tenant-a", tier: "tenant" },
  { name: "tenant-b", tier: "tenant" },
];

describe("stackNameOf", () => {
  it.each([
    ["Pulumi.tenant-a.yaml", "tenant-a"],
    ["Pulumi.platform-openshift.yml", "platform-openshift"],
    ["Pulumi.yaml", undefined],
    ["docs/Pulumi.tenant-a.yaml", undefined],
  ])("%s -> %s", (file, want) => expect(stackNameOf(file)).toBe(want));
});

describe("stacksAffectedBy", () => {
  it.each([
    ["one tenant's config", ["Pulumi.tenant-a.yaml"], ["tenant-a"]],
    ["two stack configs", ["Pulumi.tenant-b.yaml", "Pulumi.dev.yaml"], ["dev", "tenant-b"]],
    ["docs, tests and workflows only", ["docs/operations/upgrading.md", "README.md", "test/x.test.ts", ".github/workflows/deploy.yml"], []],
    // the service reaches stacks only through the image digest, itself a Pulumi.<stack>.yaml change
    ["billing service code", ["billing-service/src/app.ts"], []],
    ["a component", ["Pulumi.tenant-a.yaml", "components/tenant/prometheus.ts"], ["dev", "platform-openshift", "tenant-a", "tenant-b"]],
    ["a dashboard", ["dashboards/tenant-usage.json"], ["dev", "platform-openshift", "tenant-a", "tenant-b"]],
    ["dependencies", ["package-lock.json"], ["dev", "platform-openshift", "tenant-a", "tenant-b"]],
    ["a deleted stack", ["Pulumi.tenant-c.yaml"], []],
  ])("%s", (_name, files, want) => expect(stacksAffectedBy(files, stacks).map((s) => s.name)).toEqual(want));
});

describe("deployWaves", () => {
  it("puts every platform stack in the first wave and tenant stacks in the second", () => {
    expect(deployWaves(stacks)).toEqual({ platform: ["dev", "platform-openshift"], tenant: ["tenant-a", "tenant-b"] });
  });
});

describe("the repository's stacks", () => {
  it("classifies a stack with maas-billing:platform as platform and a tenant-only stack as tenant", () => {
    const found = readStacks(repoRoot);
    expect(found.length).toBeGreaterThan(0);
    for (const stack of found) {
      const file = parse(fs.readFileSync(path.join(repoRoot, `Pulumi.${stack.name}.yaml`), "utf8")) as { config: Record<string, unknown> };
      const isTenantOnly = "maas-billing:tenant" in file.config && !("maas-billing:platform" in file.config);
      expect(stack.tier, stack.name).toBe(isTenantOnly ? "tenant" : "platform");
      expect(tierOf(file), stack.name).toBe(stack.tier);
    }
  });
});

describe("stack-plan-cli", () => {
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), "delivery-plan-"));
  afterAll(() => fs.rmSync(repo, { recursive: true, force: true }));
  const git = (...args: string[]) =>
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: repo, encoding: "utf8" });
  const plan = (...args: string[]) =>
    execFileSync(path.join(repoRoot, "node_modules", ".bin", "tsx"), [path.join(repoRoot, "scripts/delivery/stack-plan-cli.ts"), ...args], {
      cwd: repo,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });

  it("prints GITHUB_OUTPUT lines for the stacks changed since a ref, or all stacks", () => {
    fs.writeFileSync(path.join(repo, "Pulumi.platform.yaml"), "config:\n  maas-billing:flavor: kubernetes\n  maas-billing:platform: {}\n");
    fs.writeFileSync(path.join(repo, "Pulumi.tenant-a.yaml"), "config:\n  maas-billing:tenant: { name: tenant-a }\n");
    fs.writeFileSync(path.join(repo, "Pulumi.tenant-b.yaml"), "config:\n  maas-billing:tenant: { name: tenant-b }\n");
    git("init", "-q", "-b", "main");
    git("add", "-A");
    git("commit", "-q", "-m", "base");
    fs.appendFileSync(path.join(repo, "Pulumi.tenant-b.yaml"), "  maas-billing:flavor: kubernetes\n");
    git("commit", "-q", "-am", "tenant-b change");

    expect(plan("--changed-from", "HEAD~1")).toBe('all=["tenant-b"]\nplatform=[]\ntenant=["tenant-b"]\n');
    expect(plan()).toBe('all=["platform","tenant-a","tenant-b"]\nplatform=["platform"]\ntenant=["tenant-a","tenant-b"]\n');
    // the first push of a branch has no "before" commit: plan everything
    expect(plan("--changed-from", "0000000000000000000000000000000000000000")).toBe(plan());
  });
});
