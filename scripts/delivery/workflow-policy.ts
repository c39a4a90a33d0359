/**
 * Policy checks over GitHub workflow files, complementary to actionlint (which checks syntax,
 * expressions and shell): every action pinned by commit SHA, explicit least-privilege
 * permissions, and no step that can print a secret. Each check returns readable violations.
 */
import { parse } from "yaml";

export interface Workflow {
  on?: unknown;
  permissions?: unknown;
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}

export interface Job {
  permissions?: unknown;
  env?: Record<string, string>;
  outputs?: Record<string, string>;
  steps?: Step[];
  uses?: string;
  needs?: string | string[];
  if?: string;
  environment?: unknown;
  concurrency?: unknown;
  strategy?: unknown;
}

export interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
}

export function parseWorkflow(text: string): Workflow {
  return parse(text) as Workflow;
}

/** A remote action pinned by a full commit SHA, e.g. `actions/checkout@<40 hex>`. */
const PINNED = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+(\/[^@]+)?@[0-9a-f]{40}$/;

/** `uses:` of every step and reusable-workflow job, with the raw line (for the version comment). */
export function usesLines(text: string): { uses: string; line: string }[] {
  return text
    .split("\n")
    .map((line) => ({ line, match: /^\s*(?:-\s+)?uses:\s*([^\s#]+)/.exec(line) }))
    .filter((entry) => entry.match !== null)
    .map((entry) => ({ uses: entry.match![1], line: entry.line }));
}

/** Every remote action pinned by commit SHA, with the release it is in a `# vX.Y.Z` comment. */
export function unpinnedActions(text: string): string[] {
  return usesLines(text).flatMap(({ uses, line }) => {
    if (uses.startsWith("./") || uses.startsWith("docker://")) return [];
    if (!PINNED.test(uses)) return [`${uses}: not pinned by a 40-hex commit SHA`];
    if (!/#\s*v\d+(\.\d+)*\s*$/.test(line)) return [`${uses}: no "# vX.Y.Z" comment naming the pinned release`];
    return [];
  });
}

const writeScopes = (permissions: unknown): string[] => {
  if (permissions === "write-all") return ["write-all"];
  if (typeof permissions !== "object" || permissions === null) return [];
  return Object.entries(permissions as Record<string, string>)
    .filter(([, level]) => level === "write")
    .map(([scope]) => scope);
};

/**
 * Least privilege: the workflow sets `permissions:` (read-only or none), no `write-all`/`read-all`,
 * and each job writes only the scopes `allowedWrites[job]` lists.
 */
export function permissionViolations(workflow: Workflow, allowedWrites: Record<string, string[]>): string[] {
  const problems: string[] = [];
  if (workflow.permissions === undefined) problems.push("workflow: no top-level permissions (defaults may be write)");
  if (workflow.permissions === "read-all") problems.push("workflow: read-all is broader than needed");
  for (const scope of writeScopes(workflow.permissions)) problems.push(`workflow: top-level ${scope} write`);
  for (const [name, job] of Object.entries(workflow.jobs)) {
    for (const scope of writeScopes(job.permissions)) {
      if (!(allowedWrites[name] ?? []).includes(scope)) problems.push(`job ${name}: ${scope}: write is not needed`);
    }
  }
  return problems;
}

/** Environment variables bound to a secret (or the job token) at workflow, job or step level. */
function secretEnvNames(...envs: (Record<string, string> | undefined)[]): string[] {
  return envs.flatMap((env) =>
    Object.entries(env ?? {})
      .filter(([, value]) => /\$\{\{[^}]*\b(secrets\.|github\.token)/.test(String(value)))
      .map(([name]) => name),
  );
}

/**
 * A line may use a secret-bound variable to write it to a file under $RUNNER_TEMP, or pass it to a
 * command that does not print it; it may not echo/print it to the log, to $GITHUB_OUTPUT, $GITHUB_ENV
 * or the step summary.
 */
function printsVariable(line: string, name: string): boolean {
  if (!new RegExp(`\\$\\{?${name}\\b`).test(line)) return false;
  const printer = /(^|[;&|(]\s*|\s)(echo|printf|cat|tee|print)\b/.test(line);
  if (!printer) return false;
  const redirect = /(^|[^>&0-9])>{1,2}\s*("?\$\{?RUNNER_TEMP\}?[^"\s]*"?)/.exec(line);
  return redirect === null;
}

/** Ways a workflow could print a secret. */
export function secretLeaks(workflow: Workflow): string[] {
  const problems: string[] = [];
  const workflowSecrets = secretEnvNames(workflow.env);
  for (const [jobName, job] of Object.entries(workflow.jobs)) {
    for (const [output, value] of Object.entries(job.outputs ?? {})) {
      if (/\bsecrets\./.test(value)) problems.push(`job ${jobName}: output ${output} carries a secret`);
    }
    const jobSecrets = [...workflowSecrets, ...secretEnvNames(job.env)];
    (job.steps ?? []).forEach((step, index) => {
      const where = `job ${jobName}, step ${step.name ?? step.id ?? step.uses ?? index + 1}`;
      if (step.run === undefined) return;
      if (/\$\{\{[^}]*\b(secrets\.|github\.token)/.test(step.run)) {
        problems.push(`${where}: a secret is expanded into the script (pass it through env:)`);
      }
      if (/\bset\s+-[a-z]*x|\bbash\s+-[a-z]*x/.test(step.run)) problems.push(`${where}: shell tracing (set -x) prints expanded secrets`);
      const names = [...jobSecrets, ...secretEnvNames(step.env)];
      for (const line of step.run.split("\n")) {
        for (const name of names) {
          if (printsVariable(line, name)) problems.push(`${where}: prints $${name}: ${line.trim()}`);
        }
      }
    });
  }
  const triggers = typeof workflow.on === "object" && workflow.on !== null ? Object.keys(workflow.on) : [String(workflow.on)];
  if (triggers.includes("pull_request_target")) problems.push("workflow: pull_request_target runs fork code with secrets");
  return problems;
}
