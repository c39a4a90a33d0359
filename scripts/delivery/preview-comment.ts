/**
 * `npx tsx scripts/delivery/preview-comment.ts --stack <stack> [--work-dir <dir>] [--program <module>]`
 *
 * The pull-request preview comment: runs `pulumi preview --diff` of one stack through the Automation
 * API (the program inline, so only the `pulumi` CLI and the resource providers are needed) and prints
 * the comment body as Markdown on stdout: a marker line the workflow uses to update its own comment,
 * the change summary and the diff. The engine masks secret values as [secret]; nothing else is
 * printed from the stack. The pull-request workflow posts this output; `npm run e2e` runs the same
 * script against a real API server and checks it.
 *
 *   --stack     stack name as the backend knows it (org/stack on Pulumi Cloud; the name on a file backend)
 *   --work-dir  directory with Pulumi.yaml and Pulumi.<stack>.yaml (default: the repository root)
 *   --program   module exporting the program function (default: the repository's index.ts)
 * Backend, passphrase and cluster credentials come from the environment, as for the `pulumi` CLI.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { LocalWorkspace } from "@pulumi/pulumi/automation";

/** GitHub refuses comments over 65,536 characters; keep room for the header. */
const MAX_DIFF_CHARS = 60_000;

export function commentMarker(stack: string): string {
  return `<!-- maas-billing-preview:${stack.split("/").pop()} -->`;
}

/** The comment body for one stack's preview. */
export function formatPreviewComment(stack: string, summary: Record<string, number>, diff: string): string {
  const counts = Object.entries(summary)
    .filter(([, n]) => n > 0)
    .map(([op, n]) => `${op} ${n}`)
    .join(", ");
  const text = diff.length > MAX_DIFF_CHARS ? `${diff.slice(0, MAX_DIFF_CHARS)}\n... (truncated: ${diff.length} characters)` : diff;
  return [
    commentMarker(stack),
    `### \`pulumi preview --diff\`: ${stack}`,
    "",
    `Changes: ${counts || "none"}`,
    "",
    "<details><summary>Diff</summary>",
    "",
    "```diff",
    text.replace(/```/g, "'''"),
    "```",
    "</details>",
    "",
  ].join("\n");
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { stack: { type: "string" }, "work-dir": { type: "string" }, program: { type: "string" } },
  });
  if (!values.stack) {
    console.error("usage: preview-comment.ts --stack <stack> [--work-dir <dir>] [--program <module>]");
    return 2;
  }
  const repoRoot = resolve(__dirname, "..", "..");
  const programModule = resolve(values.program ?? resolve(repoRoot, "index.ts"));
  const workDir = resolve(values["work-dir"] ?? repoRoot);
  const stack = await LocalWorkspace.selectStack(
    { stackName: values.stack, projectName: "maas-billing", program: async () => (require(programModule) as () => Record<string, unknown>)() },
    { workDir },
  );
  const preview = await stack.preview({ diff: true, color: "never" });
  process.stdout.write(formatPreviewComment(values.stack, preview.changeSummary as Record<string, number>, preview.stdout));
  return 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exit(1);
    },
  );
}
