/** Runs a tree's own offline render (`scripts/synth.ts`) for one stack and loads the objects. */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type KubeObject } from "./object-diff";
import { loadRenderedObjects } from "./rendered-objects";

export type RenderResult =
  | { readonly objects: Map<string, KubeObject> }
  /** Nothing to render on this side, e.g. a stack that does not exist yet at the ref. */
  | { readonly objects: Map<string, KubeObject>; readonly note: string };

/**
 * Renders `stack` from the tree at `treeRoot` into `outDir` with that tree's own code, so a ref is
 * rendered by the program as it was at that ref. The render writes `<outDir>/<stack>/...`.
 */
export function renderStack(treeRoot: string, stack: string, outDir: string): RenderResult {
  if (!existsSync(join(treeRoot, `Pulumi.${stack}.yaml`))) {
    return { objects: new Map(), note: `no Pulumi.${stack}.yaml here: the stack does not exist on this side` };
  }
  if (!existsSync(join(treeRoot, "scripts", "synth.ts"))) {
    return { objects: new Map(), note: "no scripts/synth.ts here: this side has no offline render" };
  }
  const tsx = join(treeRoot, "node_modules", ".bin", "tsx");
  try {
    execFileSync(tsx, ["scripts/synth.ts", "--stack", stack, "--out", outDir], {
      cwd: treeRoot,
      stdio: ["ignore", "pipe", "pipe"],
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
    });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`offline render of ${stack} in ${treeRoot} failed:\n${stderr || stdout || String(error)}`);
  }
  const stackDir = join(outDir, stack);
  return { objects: loadRenderedObjects(existsSync(stackDir) ? stackDir : outDir) };
}
