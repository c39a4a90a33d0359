/*
 * Policy checks over .github/workflows (npm test needs no Go; actionlint itself runs in
 * `npm run lint:workflows`). Each check is first shown to catch a bad example, then run on the
 * real workflows.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseStackConfig } from "../components/config";
import { readStackConfigFile } from "../scripts/render";
import {
  parseWorkflow,
  permissionViolations,
  secretLeaks,
  unpinnedActions,
  usesLines,
  type Job,
  type Workflow,
} from "../scripts/delivery/workflow-policy";
import { repoRoot } from "./support/stacks";

const workflowDir = path.join(repoRoot, ".github", "workflows");
const workflowFiles = fs.readdirSync(workflowDir).filter((f) => /\.ya?ml$/.test(f)).sort();
const text = (file: string) => fs.readFileSync(path.join(workflowDir, file), "utf8");
const workflow = (file: string) => parseWorkflow(text(file));

/** The only write scopes any job holds, and why. */
const ALLOWED_WRITES: Record<string, Record<string, string[]>> = {
  "pull-request.yml": { preview: ["pull-requests"] }, // post-preview-comment.sh comments the diff
  "deploy.yml": {},
  "billing-image.yml": { build: ["packages"], propose: ["contents", "pull-requests"] }, // push image; push branch + open PR
};

const sha = "0123456789abcdef0123456789abcdef01234567";

describe("the checks catch what they are for", () => {
  it.each([
    ["tag", "      - uses: actions/checkout@v7", ["actions/checkout@v7: not pinned by a 40-hex commit SHA"]],
    ["short sha", "      - uses: actions/checkout@3d3c42e", ["actions/checkout@3d3c42e: not pinned by a 40-hex commit SHA"]],
    ["sha without release comment", `      - uses: actions/checkout@${sha}`, [`actions/checkout@${sha}: no "# vX.Y.Z" comment naming the pinned release`]],
    ["reusable workflow by branch", "    uses: org/repo/.github/workflows/x.yml@main", ["org/repo/.github/workflows/x.yml@main: not pinned by a 40-hex commit SHA"]],
    ["pinned", `      - uses: actions/checkout@${sha} # v7.0.1`, []],
    ["local action", "      - uses: ./.github/actions/setup", []],
  ])("pinning: %s", (_name, line, want) => expect(unpinnedActions(`steps:\n${line}\n`)).toEqual(want));

  const leaky = (run: string, env: Record<string, string> = { TOKEN: "${{ secrets.PULUMI_ACCESS_TOKEN }}" }): Workflow => ({
    permissions: { contents: "read" },
    jobs: { j: { steps: [{ name: "s", run, env }] } },
  });
  it.each([
    ["secret expanded into the script", leaky("pulumi login --token ${{ secrets.PULUMI_ACCESS_TOKEN }}", {}), "a secret is expanded into the script"],
    ["echo of a secret variable", leaky('echo "token is $TOKEN"'), "prints $TOKEN"],
    ["secret into GITHUB_OUTPUT", leaky('echo "t=${TOKEN}" >> "$GITHUB_OUTPUT"'), "prints $TOKEN"],
    ["printf to the log", leaky("printf '%s' \"$TOKEN\""), "prints $TOKEN"],
    ["shell tracing", leaky("set -x\npulumi up"), "shell tracing"],
    ["job token expanded", leaky("gh pr create --token ${{ github.token }}", {}), "a secret is expanded into the script"],
  ])("secrets: %s", (_name, wf, fragment) => {
    const problems = secretLeaks(wf);
    expect(problems.length).toBe(1);
    expect(problems[0]).toContain(fragment);
  });

  it("secrets: writing a secret to a file under $RUNNER_TEMP is allowed", () => {
    expect(secretLeaks(leaky("umask 077\nprintf '%s' \"$TOKEN\" > \"$RUNNER_TEMP/kubeconfig\""))).toEqual([]);
  });

  it("secrets: pull_request_target and secret job outputs are refused", () => {
    const wf: Workflow = {
      on: { pull_request_target: {} },
      permissions: {},
      jobs: { j: { outputs: { t: "${{ secrets.X }}" }, steps: [] } },
    };
    expect(secretLeaks(wf)).toEqual(["job j: output t carries a secret", "workflow: pull_request_target runs fork code with secrets"]);
  });

  it("permissions: missing, write-all and unlisted write scopes are refused", () => {
    expect(permissionViolations({ jobs: {} }, {})).toEqual(["workflow: no top-level permissions (defaults may be write)"]);
    expect(permissionViolations({ permissions: "write-all", jobs: {} }, {})).toEqual(["workflow: top-level write-all write"]);
    expect(permissionViolations({ permissions: {}, jobs: { a: { permissions: { contents: "write", issues: "write" } } } }, { a: ["contents"] })).toEqual([
      "job a: issues: write is not needed",
    ]);
  });
});

describe.each(workflowFiles)("%s", (file) => {
  it("pins every action by commit SHA and names the release", () => {
    expect(usesLines(text(file)).length).toBeGreaterThan(0);
    expect(unpinnedActions(text(file))).toEqual([]);
  });

  it("grants least privilege", () => {
    expect(ALLOWED_WRITES[file], `add ${file} to ALLOWED_WRITES`).toBeDefined();
    expect(permissionViolations(workflow(file), ALLOWED_WRITES[file])).toEqual([]);
  });

  it("never prints a secret", () => {
    expect(secretLeaks(workflow(file))).toEqual([]);
  });
});

describe("all workflows together", () => {
  it("pin each action to one SHA everywhere, so an update cannot be half done", () => {
    const shasByAction = new Map<string, Set<string>>();
    for (const file of workflowFiles) {
      for (const { uses } of usesLines(text(file))) {
        const [action, ref] = uses.split("@");
        shasByAction.set(action, (shasByAction.get(action) ?? new Set()).add(ref));
      }
    }
    for (const [action, refs] of shasByAction) expect([...refs], action).toHaveLength(1);
  });
});

const stepsUsing = (job: Job, action: string) => (job.steps ?? []).filter((s) => s.uses?.startsWith(`${action}@`));

describe("pull-request.yml", () => {
  const wf = workflow("pull-request.yml");

  it("runs pulumi preview --diff for each touched stack and comments on the PR, never for forks", () => {
    const preview = wf.jobs.preview;
    expect(preview.needs).toEqual(["test", "plan"]);
    expect(preview.if).toContain("github.event.pull_request.head.repo.full_name == github.repository");
    expect(JSON.stringify(preview.strategy)).toContain("fromJSON(needs.plan.outputs.stacks)");
    // The comment body comes from the repository's script (npm run e2e runs the same one), the CLI
    // from the Pulumi action (install only), and the comment is one per stack, updated in place.
    const [pulumi] = stepsUsing(preview, "pulumi/actions");
    expect(pulumi.with?.command).toBeUndefined();
    const steps = preview.steps ?? [];
    const body = steps.find((s) => s.run?.includes("scripts/delivery/preview-comment.ts --stack"));
    expect(body?.env?.STACK).toContain("${{ matrix.stack }}");
    const post = steps.find((s) => s.run?.includes("scripts/delivery/post-preview-comment.sh"));
    expect(post?.env?.STACK_NAME).toBe("${{ matrix.stack }}");
    expect(steps.indexOf(body!)).toBeLessThan(steps.indexOf(post!));
  });

  it("previews in the protected `preview` environment with preview-scoped secrets only (branch code never sees deploy credentials)", () => {
    const preview = wf.jobs.preview;
    expect(preview.environment).toBe("preview");
    const secrets = [...JSON.stringify(preview).matchAll(/secrets\.([A-Za-z0-9_]+)/g)].map((m) => m[1]).sort();
    expect(secrets).toEqual(["PREVIEW_KUBECONFIG", "PULUMI_PREVIEW_ACCESS_TOKEN", "PULUMI_PREVIEW_CONFIG_PASSPHRASE"]);
    // No job of the pull-request workflow reads the deploy token or passphrase.
    expect(JSON.stringify(wf)).not.toMatch(/secrets\.(PULUMI_ACCESS_TOKEN|PULUMI_CONFIG_PASSPHRASE|KUBECONFIG)\b/);
  });

  it("installs with Node 22, tests, renders offline and diffs against the base branch", () => {
    expect(wf.env?.NODE_VERSION).toBe("22");
    const runs = (wf.jobs.test.steps ?? []).map((s) => s.run ?? "").join("\n");
    for (const command of ["npm ci", "npm test", "npm run --silent synth", "npm run --silent preview"]) expect(runs).toContain(command);
    expect(wf.jobs["lint-workflows"].steps?.map((s) => s.run)).toContain("npm run lint:workflows");
  });
});

describe("deploy.yml", () => {
  const wf = workflow("deploy.yml");

  it("deploys on merge to main", () => {
    expect(wf.on).toMatchObject({ push: { branches: ["main"] } });
  });

  it("runs pulumi up for platform stacks before tenant stacks, only after the tests pass", () => {
    expect(wf.jobs.platform.needs).toEqual(["test", "plan"]);
    expect(wf.jobs.tenants.needs).toEqual(["test", "plan", "platform"]);
    // tenants run after a successful (or skipped, when untouched) platform wave, never after a failed one
    expect(wf.jobs.tenants.if).toContain("needs.platform.result == 'success' || needs.platform.result == 'skipped'");
    expect(wf.jobs.tenants.if).toContain("needs.test.result == 'success'");
    for (const job of ["platform", "tenants"]) {
      const [pulumi] = stepsUsing(wf.jobs[job], "pulumi/actions");
      expect(pulumi.with?.command, job).toBe("up");
    }
  });

  it.each(["platform", "tenants"])("%s: one concurrency group per stack, never cancelled, in the stack's environment", (job) => {
    expect(wf.jobs[job].concurrency).toEqual({ group: "pulumi-stack-${{ matrix.stack }}", "cancel-in-progress": false });
    expect(wf.jobs[job].environment).toBe("${{ matrix.stack }}");
  });
});

describe("billing-image.yml", () => {
  const wf = workflow("billing-image.yml");
  const runs = (job: string) => (wf.jobs[job].steps ?? []).map((s) => s.run ?? "").join("\n");

  it("builds billing-service/Dockerfile and hands on the digest, never a tag", () => {
    const [build] = stepsUsing(wf.jobs.build, "docker/build-push-action");
    expect(build.with).toMatchObject({ file: "billing-service/Dockerfile", push: true });
    expect(wf.jobs.build.outputs?.image).toBe("${{ steps.reference.outputs.image }}");
    expect(runs("build")).toContain("grep -Eq '^sha256:[a-f0-9]{64}$'");
    expect(runs("build")).toContain('echo "image=${REPOSITORY}@${DIGEST}"');
    expect(runs("build")).toContain("${GITHUB_REPOSITORY,,}");
  });

  it("sets the config key the platform schema reads, with pulumi config set --path", () => {
    const command = /pulumi config set --path "([^"]+)" "\$IMAGE"/.exec(runs("propose"));
    expect(command?.[1]).toBe("maas-billing:platform.billing.image");
    const keyPath = command![1].slice("maas-billing:".length).split(".");

    // The reference the workflow produces is what the stack config accepts at that path.
    const raw = Object.fromEntries(
      Object.entries(readStackConfigFile(path.join(repoRoot, "Pulumi.dev.yaml")).config).map(([k, v]) => [k.slice("maas-billing:".length), v]),
    );
    const withImage = (image: string) => {
      const copy = structuredClone(raw) as Record<string, Record<string, Record<string, unknown>>>;
      copy[keyPath[0]][keyPath[1]][keyPath[2]] = image;
      return parseStackConfig(copy);
    };
    const image = `ghcr.io/acme/maas-billing/billing-service@sha256:${"c".repeat(64)}`;
    expect(withImage(image).platform?.billing.image).toBe(image);
    // why the workflow lower-cases the repository: registry paths (and the schema) are lower case
    expect(() => withImage(`ghcr.io/Acme/maas-billing/billing-service@sha256:${"c".repeat(64)}`)).toThrow(ConfigError);
    expect(() => withImage("ghcr.io/acme/maas-billing/billing-service:git-abc")).toThrow(ConfigError);
  });
});
