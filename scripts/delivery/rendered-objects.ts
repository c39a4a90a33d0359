/** Loads the offline render of one stack (one YAML file per object, in any folder layout) into a map. */
import { readRenderedDocuments } from "../render/read";
import { isPlainObject, objectKey, type KubeObject } from "./object-diff";

/**
 * Every Kubernetes object found in `.yaml`/`.yml` files under `dir`, keyed by `objectKey`.
 * Two objects with one identity (for instance an object and a patch of it) both stay visible:
 * the second gets its file path appended to its key. Files are read in a stable order, so
 * duplicate identities get the same keys on both sides of a diff.
 */
export function loadRenderedObjects(dir: string): Map<string, KubeObject> {
  const objects = new Map<string, KubeObject>();
  for (const { value, file } of readRenderedDocuments(dir)) {
    if (!isPlainObject(value) || typeof value.kind !== "string") continue;
    const key = objectKey(value);
    objects.set(objects.has(key) ? `${key} (${file})` : key, value);
  }
  return objects;
}
