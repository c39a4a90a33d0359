// Server-side apply of a whole render, in dependency order, recording the API server's answer per object.
import type { KubeClient, KubeObject } from "./kube-client";

export interface ApplyOutcome {
  id: string;
  status: number;
  /** The API server's message for a refusal. */
  message?: string;
}

// Things other objects need to exist (or, for RBAC, to be bound) come first.
const KIND_ORDER = [
  "Namespace",
  "CustomResourceDefinition",
  "ClusterRole",
  "Role",
  "ServiceAccount",
  "ClusterRoleBinding",
  "RoleBinding",
  "ConfigMap",
  "Secret",
];

export function objectId(obj: KubeObject): string {
  const ns = obj.metadata.namespace ? `${obj.metadata.namespace}/` : "";
  return `${obj.kind} ${ns}${obj.metadata.name} (${obj.apiVersion})`;
}

export function inApplyOrder(objects: KubeObject[]): KubeObject[] {
  const rank = (o: KubeObject) => {
    const i = KIND_ORDER.indexOf(o.kind);
    return i === -1 ? KIND_ORDER.length : i;
  };
  return [...objects].sort((a, b) => rank(a) - rank(b));
}

/** Applies every object as `fieldManager`; never stops at a refusal, so one run lists all of them. */
export async function applyAll(client: KubeClient, objects: KubeObject[], fieldManager: string): Promise<ApplyOutcome[]> {
  const outcomes: ApplyOutcome[] = [];
  for (const obj of inApplyOrder(objects)) {
    const id = objectId(obj);
    try {
      const res = await client.apply(obj, fieldManager);
      const ok = res.status === 200 || res.status === 201;
      outcomes.push(ok ? { id, status: res.status } : { id, status: res.status, message: res.body?.message ?? String(res.body) });
    } catch (err) {
      outcomes.push({ id, status: 0, message: err instanceof Error ? err.message : String(err) });
    }
  }
  return outcomes;
}

/** Waits until every CustomResourceDefinition in `names` reports the Established condition. */
export async function waitForCrdsEstablished(client: KubeClient, names: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(names);
  while (pending.size > 0) {
    for (const name of [...pending]) {
      const res = await client.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", undefined, name);
      const conditions: Array<{ type: string; status: string }> = res.body?.status?.conditions ?? [];
      if (conditions.some((c) => c.type === "Established" && c.status === "True")) pending.delete(name);
    }
    if (pending.size === 0) break;
    if (Date.now() > deadline) throw new Error(`CRDs not established after ${timeoutMs} ms: ${[...pending].join(", ")}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  client.forgetDiscovery();
}
