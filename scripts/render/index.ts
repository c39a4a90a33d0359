import * as path from "node:path";
import { runProgram, type RecordedResource } from "./mockRuntime";
import { objectId, toObjects, type K8sObject, type RenderedObject } from "./objects";
import { redactObject, redactValue } from "./redact";
import { writeObjects } from "./write";

export { readStackConfigFile, parseStackConfigFile, SECURE_PLACEHOLDER } from "./configFile";
export { REDACTED } from "./redact";
export type { K8sObject, RenderedObject } from "./objects";
export type { RecordedResource } from "./mockRuntime";

export interface RenderOptions {
  /** Stack name (`dev`, `platform-openshift`, ...). */
  stack: string;
  /** Full Pulumi config map, as under `config:` in Pulumi.<stack>.yaml. */
  config: Record<string, unknown>;
  /** Config keys holding `secure:` values. */
  secretKeys?: string[];
  /** Outputs of referenced stacks (tenant stacks), keyed by `org/project/stack`. */
  stackReferenceOutputs?: Record<string, Record<string, unknown>>;
  /** The program to run; defaults to the real one (index.ts). */
  program?: () => unknown;
}

export interface RenderResult {
  stack: string;
  /** Every Kubernetes object, unredacted (in memory only: checks need the real values). */
  objects: RenderedObject[];
  /** Every registered resource, Kubernetes or not. */
  resources: RecordedResource[];
  /** Stack outputs, resolved and unredacted. */
  outputs: Record<string, unknown>;
  /** Outputs exported as Pulumi secrets (shown redacted, and allowed to hold secret values). */
  secretOutputs: string[];
  /** Generated secret values (mock RandomPassword results); must appear in no object outside a Secret. */
  secretValues: string[];
}

async function defaultProgram(): Promise<() => unknown> {
  const mod = (await import("../../index")) as unknown as { default?: () => unknown };
  return (mod.default ?? mod) as () => unknown;
}

/** Runs the program offline under mocks and returns what it would send to the cluster. */
export async function render(options: RenderOptions): Promise<RenderResult> {
  // A tenant stack reads its platform through a StackReference: without a fixture it cannot render.
  const platformStack = options.config["maas-billing:platformStack"];
  if (typeof platformStack === "string" && options.stackReferenceOutputs?.[platformStack] === undefined) {
    throw new Error(`render: no outputs supplied for StackReference "${platformStack}" (pass stackReferenceOutputs)`);
  }
  // The real program is imported inside the run, i.e. only after the mocks are set.
  const program = options.program ?? (async () => (await defaultProgram())());
  const run = await runProgram({
    stack: options.stack,
    config: options.config,
    secretKeys: options.secretKeys,
    stackReferenceOutputs: options.stackReferenceOutputs,
    program,
  });
  const objects = toObjects(run.resources).sort((a, b) => objectId(a).localeCompare(objectId(b)));
  return { stack: options.stack, objects, resources: run.resources, outputs: run.outputs, secretOutputs: run.secretOutputs, secretValues: run.secretValues };
}

/** Redacted copies of the objects, as written to disk. */
export function redactedObjects(result: RenderResult): K8sObject[] {
  return result.objects.map((o) => redactObject(o.object, result.secretValues));
}

/** Writes `<outDir>/<stack>/*.yaml` (one file per object, secrets redacted); returns the directory and files. */
export function writeRender(result: RenderResult, outDir: string): { dir: string; files: string[] } {
  const dir = path.join(outDir, result.stack);
  const files = writeObjects(
    dir,
    result.objects.map((rendered) => ({ rendered, redacted: redactObject(rendered.object, result.secretValues) })),
  );
  return { dir, files };
}

/** Objects per kind (patches counted as `<Kind> (patch)`), sorted by kind. */
export function countByKind(result: RenderResult): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of result.objects) {
    const key = o.object.kind + (o.patch ? " (patch)" : "");
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

/** The summary `npm run synth` prints. */
export function formatSummary(result: RenderResult, dir?: string): string {
  const counts = countByKind(result);
  const width = Math.max(...Object.keys(counts).map((k) => k.length), 5);
  const lines = [`stack ${result.stack}: ${result.objects.length} Kubernetes objects${dir ? ` -> ${dir}` : ""}`];
  for (const [kind, n] of Object.entries(counts)) lines.push(`  ${kind.padEnd(width)}  ${n}`);
  const outputs = Object.keys(result.outputs);
  if (outputs.length > 0) lines.push(`outputs: ${outputs.sort().join(", ")}`);
  return lines.join("\n");
}

export { redactValue };
