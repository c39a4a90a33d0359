/**
 * `npm run preview -- --stack <name> [--ref <git ref>] [--exit-code]`
 *
 * What a change does to one stack, without cluster credentials: renders the stack offline from the
 * working tree and from a git ref (default `origin/main` when it exists, else `HEAD`), each with
 * its own code, and prints a per-object diff: `+` added, `~` changed (with the changed fields), `-`
 * deleted. Secrets are redacted by the render, so a changed secret value does not show.
 * With --exit-code it exits 1 when anything changed (like `git diff --exit-code`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { formatStackDiff } from "./delivery/format-diff";
import { defaultRef, exportRefTree, shortCommit } from "./delivery/git-ref-tree";
import { diffObjectSets } from "./delivery/object-diff";
import { renderStack } from "./delivery/render-stack";

function main(): number {
  const { values } = parseArgs({
    options: {
      stack: { type: "string" },
      ref: { type: "string" },
      "exit-code": { type: "boolean", default: false },
    },
  });
  if (!values.stack) {
    console.error("usage: npm run preview -- --stack <name> [--ref <git ref>] [--exit-code]");
    return 2;
  }
  const repoRoot = resolve(__dirname, "..");
  const ref = values.ref ?? defaultRef(repoRoot);
  const scratch = mkdtempSync(join(tmpdir(), "maas-preview-"));
  try {
    exportRefTree(repoRoot, ref, join(scratch, "ref"));
    const before = renderStack(join(scratch, "ref"), values.stack, join(scratch, "ref-render"));
    const after = renderStack(repoRoot, values.stack, join(scratch, "working-render"));
    console.log(`Stack ${values.stack}: ${ref} (${shortCommit(repoRoot, ref)}) -> working tree`);
    if ("note" in before) console.log(`  ${ref}: ${before.note}`);
    if ("note" in after) console.log(`  working tree: ${after.note}`);
    const diff = diffObjectSets(before.objects, after.objects);
    console.log(formatStackDiff(diff));
    const changed = diff.added.length + diff.changed.length + diff.deleted.length > 0;
    return values["exit-code"] && changed ? 1 : 0;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

try {
  process.exitCode = main();
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 2;
}
