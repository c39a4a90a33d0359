// What the engine did, seen from the API server: the Kubernetes objects a stack's state holds, their
// live uid/resourceVersion, and field-level differences between two reads of one object.
import type { Stack } from "@pulumi/pulumi/automation";
import type { KubeClient } from "../kube-client";

export interface StackObject {
  urn: string;
  type: string;
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

/** Kubernetes objects in a stack's state (patches excluded: they do not own their target). */
export async function stackObjects(stack: Stack): Promise<StackObject[]> {
  const state = await stack.exportStack();
  const resources = ((state.deployment as any)?.resources ?? []) as Array<{ urn: string; type: string; outputs?: any }>;
  return resources
    .filter((r) => r.type.startsWith("kubernetes:") && !r.type.endsWith("Patch") && r.outputs?.metadata?.name)
    .map((r) => ({
      urn: r.urn,
      type: r.type,
      apiVersion: r.outputs.apiVersion,
      kind: r.outputs.kind,
      name: r.outputs.metadata.name,
      namespace: r.outputs.metadata.namespace || undefined,
    }));
}

export const objectKey = (o: { kind: string; name: string; namespace?: string }) => `${o.kind} ${o.namespace ? `${o.namespace}/` : ""}${o.name}`;

export interface LiveVersion {
  uid: string;
  resourceVersion: string;
}

/** uid and resourceVersion of each object as the API server has it now ("absent" when it is gone). */
export async function liveVersions(admin: KubeClient, objects: StackObject[]): Promise<Map<string, LiveVersion | "absent">> {
  const out = new Map<string, LiveVersion | "absent">();
  for (const o of objects) {
    const res = await admin.get(o.apiVersion, o.kind, o.namespace, o.name);
    if (res.status === 404) out.set(objectKey(o), "absent");
    else if (res.status !== 200) throw new Error(`GET ${objectKey(o)}: HTTP ${res.status}`);
    else out.set(objectKey(o), { uid: res.body.metadata.uid, resourceVersion: res.body.metadata.resourceVersion });
  }
  return out;
}

/** Keys whose live version differs between two snapshots (replaced, updated or deleted). */
export function changedKeys(before: Map<string, LiveVersion | "absent">, after: Map<string, LiveVersion | "absent">): string[] {
  return [...before.keys()].filter((k) => JSON.stringify(before.get(k)) !== JSON.stringify(after.get(k))).sort();
}

/** Paths (a.b.c) where two JSON values differ, ignoring bookkeeping the server changes on every write. */
export function differingPaths(a: unknown, b: unknown, path = ""): string[] {
  const ignored = new Set(["metadata.resourceVersion", "metadata.generation", "metadata.managedFields", "status"]);
  if (ignored.has(path)) return [];
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object" || Array.isArray(a) !== Array.isArray(b)) {
    return JSON.stringify(a) === JSON.stringify(b) ? [] : [path || "(root)"];
  }
  const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
  return [...keys].flatMap((k) => differingPaths((a as any)[k], (b as any)[k], path ? `${path}.${k}` : k));
}

/** Counts of each non-"same" operation in a preview or update summary. */
export function changes(summary: Record<string, number> | undefined): Record<string, number> {
  return Object.fromEntries(Object.entries(summary ?? {}).filter(([op, n]) => op !== "same" && n > 0));
}

/**
 * URNs of the resources a `preview --diff` text marks as changed. The engine prints a changed
 * resource as "<op marker> <type>: (<op>)" followed by its "[urn=...]" line; unchanged parents
 * shown for context carry no op.
 */
export function changedResourceLines(stdout: string): string[] {
  const urns = new Set<string>();
  const lines = stdout.split("\n");
  lines.forEach((line, i) => {
    if (!/^\s*(\+-|-\+|\+\+|--|[+~-])\s*\S+: \((create|update|delete|replace|create-replacement|delete-replaced)\)/.test(line)) return;
    const urn = lines.slice(i + 1, i + 3).map((l) => /\[urn=(\S+)\]/.exec(l)?.[1]).find(Boolean);
    if (urn) urns.add(urn);
  });
  return [...urns];
}
