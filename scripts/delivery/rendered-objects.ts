/** Loads the offline render of one stack (one YAML file per object, in any folder layout) into a map. */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseAllDocuments } from "yaml";
import { isPlainObject, objectKey, type KubeObject } from "./object-diff";

/**
 * Every Kubernetes object found in `.yaml`/`.yml` files under `dir`, keyed by `objectKey`.
 * Two objects with one identity (for instance an object and a patch of it) both stay visible:
 * the second gets its file path appended to its key.
 */
export function loadRenderedObjects(dir: string): Map<string, KubeObject> {
  const objects = new Map<string, KubeObject>();
  for (const file of yamlFilesUnder(dir)) {
    const documents = parseAllDocuments(readFileSync(file, "utf8"));
    for (const document of Array.isArray(documents) ? documents : [documents]) {
      if (document.errors.length > 0) {
        throw new Error(`${file}: not valid YAML: ${document.errors[0].message}`);
      }
      const value: unknown = document.toJS();
      if (!isPlainObject(value) || typeof value.kind !== "string") continue;
      const key = objectKey(value);
      objects.set(objects.has(key) ? `${key} (${relative(dir, file)})` : key, value);
    }
  }
  return objects;
}

/** Files in a stable order, so duplicate identities get the same keys on both sides of a diff. */
function yamlFilesUnder(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((entry) => {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) return yamlFilesUnder(path);
      return /\.ya?ml$/.test(entry) ? [path] : [];
    });
}
