// The offline render of a stack (`npm run synth -- --stack <name> --out <dir>`), loaded as objects
// ready for server-side apply.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { readRenderedDocuments } from "../render/read";
import type { KubeObject } from "./kube-client";

export interface RenderedObject {
  object: KubeObject;
  /** File it came from, relative to the stack's render folder (for messages). */
  file: string;
}

/**
 * Runs the project's synth for `stack` (config Pulumi.<stack>.yaml, or `configFile`) into `outDir` and
 * returns the objects it wrote.
 */
export function renderStack(repoRoot: string, stack: string, outDir: string, configFile?: string): RenderedObject[] {
  execFileSync("npx", ["tsx", "scripts/synth.ts", "--stack", stack, "--out", outDir, ...(configFile ? ["--config", configFile] : [])], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
    encoding: "utf8",
  });
  return loadRender(join(outDir, stack));
}

/** Every Kubernetes object in the `.yaml`/`.yml` files under `dir`, in a stable order. */
export function loadRender(dir: string): RenderedObject[] {
  return readRenderedDocuments(dir).flatMap(({ value, file }) => {
    const object = value as KubeObject | null;
    return object && typeof object.kind === "string" && typeof object.apiVersion === "string" ? [{ object, file }] : [];
  });
}

/** True when a rendered Secret value is the synth's redaction marker rather than a real value. */
export function isRedacted(value: unknown, marker: RegExp): boolean {
  if (typeof value !== "string") return false;
  if (marker.test(value)) return true;
  const decoded = Buffer.from(value, "base64").toString("utf8");
  return marker.test(decoded);
}

/**
 * A copy of `obj` in which every redacted Secret value is replaced by a placeholder. The placeholder is
 * derived from the object and key, so two stacks rendering the same Secret apply identical values
 * (server-side apply then sees no conflict), and it is obviously not a credential.
 */
export function withPlaceholderSecrets(obj: KubeObject, marker: RegExp): { object: KubeObject; filled: number } {
  if (obj.kind !== "Secret" || obj.apiVersion !== "v1") return { object: obj, filled: 0 };
  const copy = structuredClone(obj) as KubeObject & { data?: Record<string, string>; stringData?: Record<string, string> };
  let filled = 0;
  const placeholder = (key: string) =>
    `e2e-placeholder-${createHash("sha256").update(`${obj.metadata.namespace}/${obj.metadata.name}/${key}`).digest("hex").slice(0, 16)}`;
  for (const [key, value] of Object.entries(copy.data ?? {})) {
    if (isRedacted(value, marker)) {
      copy.data![key] = Buffer.from(placeholder(key)).toString("base64");
      filled++;
    }
  }
  for (const [key, value] of Object.entries(copy.stringData ?? {})) {
    if (isRedacted(value, marker)) {
      copy.stringData![key] = placeholder(key);
      filled++;
    }
  }
  return { object: copy, filled };
}
