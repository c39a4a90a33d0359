import * as fs from "node:fs";
import * as YAML from "yaml";

/** Placeholder for `secure:` values: the render cannot decrypt them and must not need to. */
export const SECURE_PLACEHOLDER = "<secure-config-value>";

export interface StackConfigFile {
  /** The `config:` map, `secure:` values replaced by SECURE_PLACEHOLDER. */
  config: Record<string, unknown>;
  /** Keys whose values were `secure:`. */
  secretKeys: string[];
}

/** Parses a file in the `Pulumi.<stack>.yaml` format. */
export function parseStackConfigFile(text: string, fileName = "config"): StackConfigFile {
  const doc = YAML.parse(text) as unknown;
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new Error(`${fileName}: expected a mapping with a "config:" key, like Pulumi.<stack>.yaml`);
  }
  const raw = (doc as { config?: unknown }).config ?? {};
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new Error(`${fileName}: "config:" must be a mapping of "maas-billing:<key>" to values`);
  }
  const config: Record<string, unknown> = {};
  const secretKeys: string[] = [];
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 1 && "secure" in value) {
      config[key] = SECURE_PLACEHOLDER;
      secretKeys.push(key);
    } else {
      config[key] = value;
    }
  }
  return { config, secretKeys };
}

export function readStackConfigFile(file: string): StackConfigFile {
  return parseStackConfigFile(fs.readFileSync(file, "utf8"), file);
}
