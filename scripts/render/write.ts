import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import type { K8sObject, RenderedObject } from "./objects";

const leadingKeys = ["apiVersion", "kind", "metadata"];

/** Deep copy with keys sorted (apiVersion, kind, metadata first), so output never depends on insertion order. */
export function sortKeys(value: unknown, top = true): unknown {
  if (Array.isArray(value)) return value.map((v) => sortKeys(v, false));
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort((a, b) => {
      if (top) {
        const ia = leadingKeys.indexOf(a);
        const ib = leadingKeys.indexOf(b);
        if (ia !== -1 || ib !== -1) return (ia === -1 ? 99 : ia) - (ib === -1 ? 99 : ib);
      }
      return a < b ? -1 : a > b ? 1 : 0;
    });
    return Object.fromEntries(keys.map((k) => [k, sortKeys((value as Record<string, unknown>)[k], false)]));
  }
  return value;
}

/** `deployment--maas-billing--maas-billing-api.yaml`; patches get a `-patch` suffix on the kind. */
export function fileNameFor(o: RenderedObject): string {
  const m = o.object.metadata;
  const kind = o.object.kind.toLowerCase() + (o.patch ? "-patch" : "");
  return `${kind}--${m.namespace ?? "cluster"}--${m.name ?? "unnamed"}.yaml`;
}

export function toYaml(object: K8sObject): string {
  return YAML.stringify(sortKeys(object), { lineWidth: 0 });
}

/**
 * Writes one YAML file per object into `dir` (emptied first, so removed objects disappear).
 * Returns the file names. Two objects with one identity are an error: the API server would merge them.
 */
export function writeObjects(dir: string, objects: { rendered: RenderedObject; redacted: K8sObject }[]): string[] {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const names = new Map<string, string>();
  for (const { rendered, redacted } of objects) {
    const file = fileNameFor(rendered);
    const previous = names.get(file);
    if (previous !== undefined) {
      throw new Error(`render: ${rendered.source.name} and ${previous} both render ${file}`);
    }
    names.set(file, rendered.source.name);
    fs.writeFileSync(path.join(dir, file), toYaml(redacted));
  }
  return [...names.keys()].sort();
}
