/**
 * Which stacks a change touches and in what order they deploy. Used by the GitHub workflows
 * (through stack-plan-cli.ts) so CI and a reviewer agree on what a pull request affects.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

/** Pulumi project name: the config namespace in every `Pulumi.<stack>.yaml`. */
export const PROJECT = "maas-billing";

/**
 * `platform`: the stack has `maas-billing:platform` (a platform-only or all-in-one stack) and
 * deploys first. `tenant`: a tenant-only stack, which reads platform outputs through a
 * StackReference and so deploys after every platform stack.
 */
export type StackTier = "platform" | "tenant";

export interface StackInfo {
  readonly name: string;
  readonly tier: StackTier;
}

/** Stack name from a stack config file name, e.g. `Pulumi.tenant-a.yaml` -> `tenant-a`. */
export function stackNameOf(path: string): string | undefined {
  return /^Pulumi\.([A-Za-z0-9_.-]+)\.ya?ml$/.exec(path)?.[1];
}

/** Tier of a stack from its parsed `Pulumi.<stack>.yaml` (the `config:` map). */
export function tierOf(stackFile: unknown): StackTier {
  const config = (stackFile as { config?: Record<string, unknown> } | null)?.config ?? {};
  return `${PROJECT}:platform` in config ? "platform" : "tenant";
}

/** Every stack with a config file in `repoRoot`, sorted by name. */
export function readStacks(repoRoot: string): StackInfo[] {
  return readdirSync(repoRoot)
    .flatMap((file) => {
      const name = stackNameOf(file);
      if (name === undefined) return [];
      return [{ name, tier: tierOf(parse(readFileSync(join(repoRoot, file), "utf8"))) }];
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Paths that never change what a stack deploys. The billing service is among them: its code
 * reaches the stacks only as an image digest in `Pulumi.<stack>.yaml`, which is itself a change.
 */
const NO_STACK_EFFECT = [/^docs\//, /\.md$/, /^\.github\//, /^\.ci\//, /^tools\//, /^test\//, /^billing-service\//, /^LICENSE$/];

/**
 * Stacks a change affects: a changed `Pulumi.<stack>.yaml` affects that stack; a change to the
 * program (index.ts, components, dashboards, dependencies, Pulumi.yaml, ...) affects them all.
 */
export function stacksAffectedBy(changedFiles: readonly string[], stacks: readonly StackInfo[]): StackInfo[] {
  const affected = new Set<string>();
  for (const file of changedFiles) {
    const stack = stackNameOf(file);
    if (stack !== undefined) affected.add(stack);
    else if (!NO_STACK_EFFECT.some((pattern) => pattern.test(file))) return [...stacks];
  }
  // a deleted stack file names a stack that no longer exists: nothing left to preview or deploy
  return stacks.filter((stack) => affected.has(stack.name));
}

/** Deploy order: all platform stacks, then all tenant stacks. */
export function deployWaves(stacks: readonly StackInfo[]): { platform: string[]; tenant: string[] } {
  return {
    platform: stacks.filter((s) => s.tier === "platform").map((s) => s.name),
    tenant: stacks.filter((s) => s.tier === "tenant").map((s) => s.name),
  };
}
