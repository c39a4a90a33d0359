import type { RecordedResource } from "./mockRuntime";

/** A Kubernetes object as it would be sent to the API server. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** One rendered object with where it came from. */
export interface RenderedObject {
  object: K8sObject;
  /** True for `*Patch` resources (server-side apply of part of an existing object). */
  patch: boolean;
  /** Pulumi type token and resource name, for error messages. */
  source: { type: string; name: string };
  /** Registered with `protect: true`. */
  protect: boolean;
  /** Registered with `retainOnDelete: true` (optional so hand-built objects in tests need not say). */
  retainOnDelete?: boolean;
}

/** Whether a recorded resource is a Kubernetes object (not a provider, component or other package). */
export function isKubernetesResource(r: RecordedResource): boolean {
  return r.custom && r.type.startsWith("kubernetes:") && !r.type.startsWith("pulumi:providers:");
}

/**
 * `kubernetes:apps/v1:Deployment` -> { apiVersion: "apps/v1", kind: "Deployment" }; `core` is the
 * empty group; `*Patch` maps to the patched kind. Custom resources carry apiVersion/kind in their inputs.
 */
export function typeTokenToGvk(type: string, inputs: Record<string, unknown>): { apiVersion: string; kind: string; patch: boolean } {
  const [, module, typeName] = type.split(":");
  const patch = typeName.endsWith("Patch");
  if (module === "apiextensions.k8s.io" && (typeName === "CustomResource" || typeName === "CustomResourcePatch")) {
    if (typeof inputs.apiVersion !== "string" || typeof inputs.kind !== "string") {
      throw new Error(`render: ${type} without apiVersion/kind`);
    }
    return { apiVersion: inputs.apiVersion, kind: inputs.kind, patch };
  }
  const [group, version] = module.split("/");
  const apiVersion = group === "core" ? version : `${group}/${version}`;
  const kind = patch ? typeName.slice(0, -"Patch".length) : typeName;
  return { apiVersion, kind, patch };
}

/** Drops undefined and empty values the SDK fills in for unset optional inputs. */
function clean(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(clean);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      out[k] = clean(v);
    }
    return out;
  }
  return value;
}

/** The Kubernetes objects of a program run, in a stable order. */
export function toObjects(resources: RecordedResource[]): RenderedObject[] {
  return resources.filter(isKubernetesResource).map((r) => {
    const { apiVersion, kind, patch } = typeTokenToGvk(r.type, r.inputs);
    const { apiVersion: _a, kind: _k, ...rest } = clean(r.inputs) as Record<string, unknown>;
    const object = { apiVersion, kind, metadata: {}, ...rest } as K8sObject;
    return { object, patch, source: { type: r.type, name: r.name }, protect: r.protect, retainOnDelete: r.retainOnDelete ?? false };
  });
}

/** Stable identity of an object: kind, namespace and name. */
export function objectId(o: RenderedObject): string {
  const m = o.object.metadata;
  return `${o.object.kind}${o.patch ? "Patch" : ""}/${m.namespace ?? "_"}/${m.name ?? "?"}`;
}
