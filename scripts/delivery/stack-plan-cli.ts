/**
 * Prints the stack plan for CI as `key=value` lines for `$GITHUB_OUTPUT`:
 *   all=["dev","platform","tenant-a"]   every stack affected, for the preview matrix
 *   platform=[...]  tenant=[...]         the deploy waves (platform stacks before tenant stacks)
 *
 * Usage: tsx scripts/delivery/stack-plan-cli.ts [--changed-from <git ref>] [--list all|platform|tenant]
 * --list prints one stack name per line instead (for shell loops, no JSON tools needed).
 * Without --changed-from (or when the ref is unknown, e.g. the first push of a branch) every stack
 * counts as affected.
 */
import { execFileSync } from "node:child_process";
import { deployWaves, readStacks, stacksAffectedBy } from "./stack-plan";

function changedFilesSince(ref: string): string[] | undefined {
  try {
    execFileSync("git", ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`], { stdio: "ignore" });
  } catch {
    return undefined;
  }
  // three dots: what this side changed since the merge base, not what the other side did
  const out = execFileSync("git", ["diff", "--name-only", `${ref}...HEAD`], { encoding: "utf8" });
  return out.split("\n").filter((line) => line.length > 0);
}

const option = (name: string) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
};
const ref = option("--changed-from");
const list = option("--list");
if (list !== undefined && !["all", "platform", "tenant"].includes(list)) {
  console.error(`stack-plan: --list takes all, platform or tenant, got ${list}`);
  process.exit(2);
}
const stacks = readStacks(process.cwd());
const changed = ref ? changedFilesSince(ref) : undefined;
if (ref && changed === undefined) console.error(`stack-plan: ${ref} is not a known commit; planning every stack`);
const affected = changed ? stacksAffectedBy(changed, stacks) : stacks;
const waves = { all: affected.map((s) => s.name), ...deployWaves(affected) };
if (list !== undefined) {
  for (const name of waves[list as keyof typeof waves]) console.log(name);
} else {
  for (const key of ["all", "platform", "tenant"] as const) console.log(`${key}=${JSON.stringify(waves[key])}`);
}
