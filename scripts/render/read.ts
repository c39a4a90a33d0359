/**
 * Reads an offline render back (the `.yaml`/`.yml` files `synth --out` writes, in any folder
 * layout): every YAML document with the file it came from. Callers pick the objects they want.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseAllDocuments } from "yaml";

export interface RenderedDocument {
  /** The document as plain JavaScript (null for an empty document). */
  value: unknown;
  /** File it came from, relative to the render folder (for keys and messages). */
  file: string;
}

/** Every YAML document under `dir`, files in a stable order; a document that is not valid YAML throws. */
export function readRenderedDocuments(dir: string): RenderedDocument[] {
  const found: RenderedDocument[] = [];
  for (const file of yamlFilesUnder(dir)) {
    for (const document of parseAllDocuments(readFileSync(file, "utf8"))) {
      if (document.errors.length > 0) throw new Error(`${file}: not valid YAML: ${document.errors[0].message}`);
      found.push({ value: document.toJS(), file: relative(dir, file) });
    }
  }
  return found;
}

/** Files sorted at every level, so the same render is always read in the same order. */
function yamlFilesUnder(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((entry) => {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) return yamlFilesUnder(path);
      return /\.ya?ml$/.test(entry) ? [path] : [];
    });
}
