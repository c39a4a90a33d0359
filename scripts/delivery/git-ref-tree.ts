/** A git ref as a directory tree that can run the project's own scripts (for `npm run preview`). */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";

/** `origin/main` when the repository has it, else `HEAD`. */
export function defaultRef(repoRoot: string): string {
  return isCommit(repoRoot, "origin/main") ? "origin/main" : "HEAD";
}

export function isCommit(repoRoot: string, ref: string): boolean {
  try {
    execFileSync("git", ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`], { cwd: repoRoot, stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Short commit id of a ref, for headers. */
export function shortCommit(repoRoot: string, ref: string): string {
  return execFileSync("git", ["rev-parse", "--short", `${ref}^{commit}`], { cwd: repoRoot, encoding: "utf8" }).trim();
}

/**
 * Writes the committed tree of `ref` into `dir` with `git archive` (no worktree bookkeeping in the
 * repository, so parallel runs never collide) and links the working tree's node_modules into it,
 * so the ref's own render runs without a second install. The ref is rendered with the working
 * tree's dependency versions: a change of dependency versions alone is not visible in the diff.
 */
export function exportRefTree(repoRoot: string, ref: string, dir: string): void {
  if (!isCommit(repoRoot, ref)) throw new Error(`preview: ${ref} is not a commit in ${repoRoot}`);
  mkdirSync(dir, { recursive: true });
  const archive = execFileSync("git", ["archive", "--format=tar", `${ref}^{commit}`], {
    cwd: repoRoot,
    maxBuffer: 1024 * 1024 * 1024,
  });
  execFileSync("tar", ["-x", "-C", dir], { input: archive });
  for (const modules of ["node_modules", join("billing-service", "node_modules")]) {
    const source = join(repoRoot, modules);
    const target = join(dir, modules);
    if (existsSync(source) && existsSync(join(target, "..")) && !existsSync(target)) symlinkSync(source, target, "dir");
  }
}
