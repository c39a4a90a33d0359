/*
 * Arrows between the parts of components/ run one way: tenant code uses components/shared/,
 * components/contract.ts and components/config/, never platform code; the shared parts use neither
 * platform nor tenant code. (A tenant stack must not depend on the platform's implementation.)
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "./support/stacks";

const components = path.join(repoRoot, "components");

/** Which folder of components/ a file belongs to: `platform`, `tenant`, `shared`, `config`, or `top` for the rest. */
function partOf(file: string): string {
  const rel = path.relative(components, file).replace(/\.ts$/, "");
  if (rel.startsWith("..")) return "outside";
  const first = rel.split(path.sep)[0];
  return ["platform", "tenant", "shared", "config"].includes(first) ? first : rel === "contract" ? "contract" : "top";
}

/**
 * Parts a part must not import from. The platform may read tenant code (it grants the tenant-admin
 * Role that tenant/rbac.ts derives from what a tenant stack declares); the reverse never.
 */
const forbidden: Record<string, string[]> = {
  tenant: ["platform"],
  shared: ["platform", "tenant", "top"],
  contract: ["platform", "tenant", "top", "shared"],
  config: ["platform", "tenant", "top", "shared"],
};

/** Relative import specifiers of a TypeScript source (static imports and re-exports). */
function importsOf(source: string): string[] {
  return [...source.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"/gms)].map((m) => m[1]);
}

/** `file -> import` lines that break the rules above, for one file's source text. */
export function layerViolations(file: string, source: string): string[] {
  const part = partOf(file);
  return importsOf(source)
    .filter((spec) => (forbidden[part] ?? []).includes(partOf(path.resolve(path.dirname(file), spec))))
    .map((spec) => `${path.relative(repoRoot, file)} imports ${spec} (${part} -> ${partOf(path.resolve(path.dirname(file), spec))})`);
}

const sources = (dir: string): string[] =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []));

describe("import arrows in components/", () => {
  it("no tenant code imports platform code (and no shared part imports either)", () => {
    const files = sources(components);
    expect(files.length).toBeGreaterThan(20);
    expect(files.flatMap((f) => layerViolations(f, fs.readFileSync(f, "utf8")))).toEqual([]);
  });

  it("the check can fail: tenant code importing the platform's security module", () => {
    const file = path.join(components, "tenant", "prometheus.ts");
    const source = 'import * as k8s from "@pulumi/kubernetes";\nimport {\n  podSecurityContext,\n} from "../platform/security";\n';
    expect(layerViolations(file, source)).toEqual(["components/tenant/prometheus.ts imports ../platform/security (tenant -> platform)"]);
  });

  it("the check can fail: shared code importing tenant code, and a re-export", () => {
    const file = path.join(components, "shared", "exposure.ts");
    expect(layerViolations(file, 'export { apiKeyMetadata } from "../tenant/apiKeys";')).toHaveLength(1);
    expect(layerViolations(file, 'import type { Flavor } from "../config";')).toEqual([]);
  });
});
