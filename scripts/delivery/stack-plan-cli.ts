/**
 * Prints the stack plan for CI as `key=value` lines for `$GITHUB_OUTPUT`:
 *   all=["dev","platform","tenant-a"]   every stack affected, for the preview matrix
 *   platform=[...]  tenant=[...]         the deploy waves (platform stacks before tenant stacks)
 *
 * Usage: tsx scripts/delivery/stack-plan-cli.ts [--changed-from <git ref>]
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

const flag = process.argv.indexOf("--changed-from");
const ref = flag >= 0 ? process.argv[flag + 1] : undefined;
const stacks = readStacks(process.cwd());
const changed = ref ? changedFilesSince(ref) : undefined;
if (ref && changed === undefined) console.error(`stack-plan: ${ref} is not a known commit; planning every stack`);
const affected = changed ? stacksAffectedBy(changed, stacks) : stacks;
const waves = deployWaves(affected);
console.log(`all=${JSON.stringify(affected.map((s) => s.name))}`);
console.log(`platform=${JSON.stringify(waves.platform)}`);
console.log(`tenant=${JSON.stringify(waves.tenant)}`);
