/*
 * The shell of the workflow steps, run for real with bash the way GitHub runs it
 * (`bash --noprofile --norc -eo pipefail`), with the env the step declares and the runner files
 * ($GITHUB_OUTPUT, $GITHUB_ENV, $RUNNER_TEMP) in a temp dir. External CLIs that need a cloud
 * (pulumi) are replaced by a recorder on PATH; everything else (git, tsx, the stack plan) is real.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readStacks } from "../scripts/delivery/stack-plan";
import { parseWorkflow, type Step } from "../scripts/delivery/workflow-policy";
import { repoRoot } from "./support/stacks";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "delivery-steps-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

const workflowFiles = fs.readdirSync(path.join(repoRoot, ".github", "workflows")).filter((f) => f.endsWith(".yml"));
const workflow = (file: string) => parseWorkflow(fs.readFileSync(path.join(repoRoot, ".github", "workflows", file), "utf8"));

function findStep(file: string, job: string, match: (step: Step) => boolean): Step {
  const step = (workflow(file).jobs[job].steps ?? []).find(match);
  if (!step?.run) throw new Error(`${file}: no such run step in job ${job}`);
  return step;
}
const named = (name: string) => (step: Step) => step.name === name || step.id === name;

interface StepRun {
  status: number;
  stdout: string;
  outputs: string;
  githubEnv: string;
  runnerTemp: string;
}

let runs = 0;
/** Runs one step's script; `env` stands in for the evaluated `${{ }}` expressions of its env block. */
function runStep(step: Step, env: Record<string, string>, extraPath?: string): StepRun {
  const dir = path.join(scratch, `run-${(runs += 1)}`);
  const runnerTemp = path.join(dir, "runner-temp");
  fs.mkdirSync(runnerTemp, { recursive: true });
  const script = path.join(dir, "step.sh");
  fs.writeFileSync(script, step.run!);
  const files = { GITHUB_OUTPUT: path.join(dir, "output"), GITHUB_ENV: path.join(dir, "env") };
  for (const file of Object.values(files)) fs.writeFileSync(file, "");
  // every name the step's env block declares must be supplied, so the test exercises what CI passes
  expect(Object.keys(env).sort()).toEqual(expect.arrayContaining(Object.keys(step.env ?? {}).sort()));
  const result = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", script], {
    cwd: repoRoot,
    encoding: "utf8",
    env: {
      PATH: [extraPath, path.join(repoRoot, "node_modules", ".bin"), process.env.PATH].filter(Boolean).join(path.delimiter),
      HOME: process.env.HOME ?? dir,
      RUNNER_TEMP: runnerTemp,
      ...files,
      ...env,
    },
  });
  return {
    status: result.status ?? -1,
    stdout: result.stdout + result.stderr,
    outputs: fs.readFileSync(files.GITHUB_OUTPUT, "utf8"),
    githubEnv: fs.readFileSync(files.GITHUB_ENV, "utf8"),
    runnerTemp,
  };
}

describe("every run script takes its inputs through env, never through ${{ }} (no script injection)", () => {
  it.each(workflowFiles)("%s", (file) => {
    for (const [job, spec] of Object.entries(workflow(file).jobs)) {
      for (const step of spec.steps ?? []) {
        if (step.run) expect(step.run, `${file} ${job} ${step.name ?? step.id ?? ""}`).not.toContain("${{");
      }
    }
  });
});

describe("billing-image.yml", () => {
  const digest = `sha256:${"e3".repeat(32)}`;

  it("lower-cases the repository into the image name", () => {
    const run = runStep(findStep("billing-image.yml", "build", named("repository")), { GITHUB_REPOSITORY: "Acme-Org/MaaS-Billing" });
    expect(run.status).toBe(0);
    expect(run.outputs).toBe("name=ghcr.io/acme-org/maas-billing/billing-service\n");
  });

  it("outputs repo@digest for a sha256 digest", () => {
    const run = runStep(findStep("billing-image.yml", "build", named("reference")), { REPOSITORY: "ghcr.io/acme/maas/billing-service", DIGEST: digest });
    expect(run.status).toBe(0);
    expect(run.outputs).toBe(`image=ghcr.io/acme/maas/billing-service@${digest}\n`);
  });

  it.each([
    ["empty", ""],
    ["a tag", "latest"],
    ["a short digest", "sha256:abc123"],
    ["upper-case hex", `sha256:${"E3".repeat(32)}`],
  ])("fails and outputs nothing for %s", (_name, bad) => {
    const run = runStep(findStep("billing-image.yml", "build", named("reference")), { REPOSITORY: "ghcr.io/acme/maas/billing-service", DIGEST: bad });
    expect(run.status).toBe(1);
    expect(run.outputs).toBe("");
    expect(run.stdout).toContain("::error::build-push-action returned no sha256 digest");
  });

  it("sets the digest with pulumi config set --path in every platform stack, and in no tenant stack", () => {
    const fakeBin = path.join(scratch, "fake-pulumi");
    const log = path.join(scratch, "pulumi-calls.log");
    fs.mkdirSync(fakeBin, { recursive: true });
    fs.writeFileSync(path.join(fakeBin, "pulumi"), `#!/bin/sh\nprintf '%s\\n' "$*" >> "${log}"\n`, { mode: 0o755 });
    const image = `ghcr.io/acme/maas/billing-service@${digest}`;
    const step = findStep("billing-image.yml", "propose", named("Set the image digest in every platform stack"));
    const run = runStep(step, { PULUMI_ORG: "acme", IMAGE: image }, fakeBin);
    expect(run.status, run.stdout).toBe(0);
    const platformStacks = readStacks(repoRoot).filter((s) => s.tier === "platform").map((s) => s.name);
    expect(platformStacks.length).toBeGreaterThan(0);
    expect(fs.readFileSync(log, "utf8").trim().split("\n")).toEqual(
      platformStacks.map((stack) => `config set --path maas-billing:platform.billing.image ${image} --stack acme/${stack}`),
    );
  });
});

describe("deploy.yml plan", () => {
  const step = findStep("deploy.yml", "plan", named("plan"));
  const head = spawnSync("git", ["rev-parse", "HEAD"], { cwd: repoRoot, encoding: "utf8" }).stdout.trim();

  /** A `gh` on PATH that records its arguments and answers like `gh run list --jq` would. */
  function fakeGh(name: string, answer: string, exitCode = 0): { bin: string; log: string } {
    const bin = path.join(scratch, `fake-gh-${name}`);
    const log = path.join(bin, "calls.log");
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, "gh"), `#!/bin/sh\nprintf '%s\\n' "$*" >> "${log}"\nprintf '%s' '${answer}'\nexit ${exitCode}\n`, { mode: 0o755 });
    return { bin, log };
  }

  const stacks = readStacks(repoRoot);
  const everyStack = [
    `all=${JSON.stringify(stacks.map((s) => s.name))}`,
    `platform=${JSON.stringify(stacks.filter((s) => s.tier === "platform").map((s) => s.name))}`,
    `tenant=${JSON.stringify(stacks.filter((s) => s.tier === "tenant").map((s) => s.name))}`,
  ].join("\n");

  it.each([
    ["no successful deploy yet", fakeGh("none", ""), "false"],
    ["the GitHub API is unreachable", fakeGh("down", "", 1), "false"],
    ["every stack was asked for", fakeGh("all", head), "true"],
  ])("plans every stack when %s", (_name, gh, all) => {
    const run = runStep(step, { GH_TOKEN: "test-token", GH_REPO: "acme/maas-billing", ALL_STACKS: all }, gh.bin);
    expect(run.status, run.stdout).toBe(0);
    expect(run.outputs.trim()).toBe(everyStack);
  });

  it("plans the stacks changed since the last successful deploy (none when that is this commit)", () => {
    const gh = fakeGh("head", head);
    const run = runStep(step, { GH_TOKEN: "test-token", GH_REPO: "acme/maas-billing", ALL_STACKS: "false" }, gh.bin);
    expect(run.status, run.stdout).toBe(0);
    expect(run.outputs).toBe("all=[]\nplatform=[]\ntenant=[]\n");
    expect(run.stdout).toContain(`planning the stacks changed since ${head}`);
    expect(fs.readFileSync(gh.log, "utf8")).toContain("run list --workflow deploy.yml --branch main --status success --limit 1");
  });
});

describe("kubeconfig steps", () => {
  const kubeconfig = "apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: do-not-print-me\n";

  it.each([
    ["deploy.yml", "platform"],
    ["deploy.yml", "tenants"],
    ["pull-request.yml", "preview"],
  ])("%s %s: writes the secret to an owner-only file and never prints it", (file, job) => {
    const step = findStep(file, job, (s) => s.name?.startsWith("Kubeconfig") ?? false);
    const run = runStep(step, { KUBECONFIG_CONTENT: kubeconfig });
    expect(run.status, run.stdout).toBe(0);
    const written = path.join(run.runnerTemp, "kubeconfig");
    expect(fs.readFileSync(written, "utf8")).toBe(kubeconfig);
    expect(fs.statSync(written).mode & 0o777).toBe(0o600);
    expect(run.githubEnv).toBe(`KUBECONFIG=${written}\n`);
    expect(run.stdout).not.toContain("do-not-print-me");
    expect(run.outputs).toBe("");
  });

  it("pull-request.yml preview: without the optional secret, writes nothing", () => {
    const run = runStep(findStep("pull-request.yml", "preview", (s) => s.name?.startsWith("Kubeconfig") ?? false), { KUBECONFIG_CONTENT: "" });
    expect(run.status).toBe(0);
    expect(fs.readdirSync(run.runnerTemp)).toEqual([]);
    expect(run.githubEnv).toBe("");
  });
});
