/*
 * Conformance of rendered objects against real schemas:
 * - custom resources: the `openAPIV3Schema` of the served CRD version read from ../shared/crds
 *   (override with MAAS_CRDS_DIR), validated with ajv plus the Kubernetes extensions;
 * - built-in kinds: the Kubernetes OpenAPI schema as generated into `kubernetes-models` (pinned).
 * A kind/apiVersion that no schema covers is an error, never a pass.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import Ajv, { str, type ValidateFunction } from "ajv";
import * as YAML from "yaml";
import type { K8sObject, RenderedObject } from "../../scripts/render";

/** Where the upstream CRDs live: MAAS_CRDS_DIR, else ../shared/crds next to the repository. */
export function crdsDir(): string {
  return process.env.MAAS_CRDS_DIR ?? path.resolve(__dirname, "..", "..", "..", "shared", "crds");
}

type Schema = Record<string, unknown>;

/**
 * Rewrites a structural CRD schema into plain JSON Schema with Kubernetes semantics:
 * - `x-kubernetes-int-or-string` -> integer or string;
 * - objects with `properties` reject unknown fields (like `kubectl apply --validate=strict`) unless
 *   `x-kubernetes-preserve-unknown-fields` is set;
 * - `x-kubernetes-embedded-resource` objects also accept apiVersion, kind and metadata;
 * - for patches (partial objects applied server-side) `required` is dropped;
 * - `pattern` is Go RE2 syntax (the API server compiles it with Go's regexp): one that JavaScript
 *   cannot compile is translated (goPattern()) into the `goPattern` keyword, which createConformanceValidator
 *   checks with an equivalent JS RegExp. A pattern that can be neither compiled nor translated is
 *   dropped and recorded in `untranslated` (a test asserts that list), never silently.
 */
export function toJsonSchema(schema: Schema, options: { partial: boolean; untranslated?: string[] }): Schema {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node === null || typeof node !== "object") return node;
    const src = node as Schema;
    const out: Schema = {};
    for (const [key, value] of Object.entries(src)) {
      if (key.startsWith("x-kubernetes-")) continue;
      if (key === "required" && options.partial) continue;
      if (key === "pattern" && typeof value === "string" && !compilesInJs(value)) {
        const translated = goPattern(value);
        if (translated) out.goPattern = translated;
        else options.untranslated?.push(value);
        continue;
      }
      if (key === "properties" || key === "patternProperties" || key === "definitions") {
        out[key] = Object.fromEntries(Object.entries(value as Schema).map(([k, v]) => [k, walk(v)]));
      } else {
        out[key] = walk(value);
      }
    }
    if (src["x-kubernetes-int-or-string"] === true) {
      delete out.type;
      out.anyOf = [{ type: "integer" }, { type: "string" }];
    }
    if (src["x-kubernetes-embedded-resource"] === true) {
      out.properties = {
        apiVersion: { type: "string" },
        kind: { type: "string" },
        metadata: { type: "object" },
        ...((out.properties as Schema | undefined) ?? {}),
      };
    }
    const preserve = src["x-kubernetes-preserve-unknown-fields"] === true;
    if (out.properties !== undefined && out.additionalProperties === undefined && !preserve) {
      out.additionalProperties = false;
    }
    return out;
  };
  return walk(schema) as Schema;
}

/** Whether ajv (which builds `new RegExp(pattern, "u")`) can compile a pattern as written. */
export function compilesInJs(pattern: string): boolean {
  try {
    new RegExp(pattern, "u");
    return true;
  } catch {
    return false;
  }
}

/** A Go pattern restated for JavaScript: same meaning, `go` kept for error messages. */
export interface GoPattern {
  go: string;
  source: string;
  flags: string;
}

/**
 * Translates the Go-only syntax found in upstream CRDs into JavaScript. Handled: a leading `(?i)`
 * (optionally after `^`), which in Go makes the rest of the pattern case-insensitive; with nothing
 * but an anchor before it that is exactly JavaScript's `i` flag on the whole pattern. Returns
 * undefined for anything else (the caller records it), and never returns a pattern that does not compile.
 */
export function goPattern(pattern: string): GoPattern | undefined {
  const m = /^(\^?)\(\?i\)(.*)$/s.exec(pattern);
  if (!m) return undefined;
  const source = `${m[1]}${m[2]}`;
  return compilesInJs(source) ? { go: pattern, source, flags: "iu" } : undefined;
}

interface CrdVersion {
  group: string;
  kind: string;
  version: string;
  schema: Schema;
}

/** Every served version of every CRD in `dir`. Throws when the directory is missing or empty. */
export function loadCrds(dir: string): CrdVersion[] {
  if (!fs.existsSync(dir)) {
    throw new Error(`CRD directory ${dir} does not exist (set MAAS_CRDS_DIR or check out ../shared/crds)`);
  }
  const versions: CrdVersion[] = [];
  for (const file of fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(dir, file), "utf8"))) {
      const crd = doc.toJS() as {
        kind?: string;
        spec?: { group: string; names: { kind: string }; versions: { name: string; served: boolean; schema?: { openAPIV3Schema?: Schema } }[] };
      } | null;
      if (crd?.kind !== "CustomResourceDefinition" || !crd.spec) continue;
      for (const v of crd.spec.versions) {
        if (!v.served || !v.schema?.openAPIV3Schema) continue;
        versions.push({ group: crd.spec.group, kind: crd.spec.names.kind, version: v.name, schema: v.schema.openAPIV3Schema });
      }
    }
  }
  if (versions.length === 0) throw new Error(`CRD directory ${dir} holds no CustomResourceDefinition`);
  return versions;
}

const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** ObjectMeta rules the API server enforces on every kind (CRD schemas leave metadata open). */
export function checkMetadata(object: K8sObject): string[] {
  const errors: string[] = [];
  const m = object.metadata ?? {};
  if (typeof m.name !== "string" || m.name.length === 0) errors.push("metadata.name is missing (the render needs explicit names)");
  else if (m.name.length > 253 || !dnsSubdomain.test(m.name)) errors.push(`metadata.name "${m.name}" is not a DNS subdomain`);
  if (m.namespace !== undefined && (!dnsLabel.test(m.namespace) || m.namespace.length > 63)) {
    errors.push(`metadata.namespace "${m.namespace}" is not a DNS label`);
  }
  for (const [k, v] of Object.entries(m.labels ?? {})) {
    if (typeof v !== "string" || v.length > 63 || !labelValue.test(v)) errors.push(`metadata.labels["${k}"] value ${JSON.stringify(v)} is invalid`);
  }
  return errors;
}

type ModelClass = new (data: unknown) => { validate(): void };

export interface ConformanceIssue {
  /** `Kind/namespace/name` of the object. */
  object: string;
  message: string;
}

export interface ConformanceValidator {
  /** Errors of one object; empty when it conforms. */
  validate(object: K8sObject, options?: { patch?: boolean }): Promise<string[]>;
  /** Issues of every object of a render. */
  validateAll(objects: readonly RenderedObject[]): Promise<ConformanceIssue[]>;
  /** `group/version/Kind` of every custom resource schema loaded. */
  readonly customKinds: string[];
  /**
   * Go patterns of the loaded CRDs that could be neither compiled nor translated, so are not checked
   * (`Kind: pattern`). Tests assert it is exactly the expected set.
   */
  readonly untranslatedPatterns: string[];
}

/** Builds a validator from the CRDs in `dir` (default crdsDir()) and kubernetes-models. */
export function createConformanceValidator(dir: string = crdsDir()): ConformanceValidator {
  const crds = loadCrds(dir);
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  ajv.addKeyword({
    keyword: "goPattern",
    type: "string",
    schemaType: "object",
    error: { message: (cxt) => str`must match pattern "${(cxt.schema as GoPattern).go}"` },
    compile: (p: GoPattern) => {
      const re = new RegExp(p.source, p.flags);
      return (data: string) => re.test(data);
    },
  });
  // Collected up front over every served version, so the list is complete before any validation.
  const untranslatedPatterns = [
    ...new Set(
      crds.flatMap((crd) => {
        const untranslated: string[] = [];
        toJsonSchema(crd.schema, { partial: false, untranslated });
        return untranslated.map((p) => `${crd.kind}: ${p}`);
      }),
    ),
  ];
  const compiled = new Map<string, ValidateFunction>();
  const crdFor = (apiVersion: string, kind: string) => {
    const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
    return crds.find((c) => c.group === group && c.version === version && c.kind === kind);
  };
  const compile = (crd: CrdVersion, partial: boolean) => {
    const key = `${crd.group}/${crd.version}/${crd.kind}/${partial}`;
    let fn = compiled.get(key);
    if (!fn) {
      fn = ajv.compile(toJsonSchema(crd.schema, { partial }));
      compiled.set(key, fn);
    }
    return fn;
  };

  const builtinModel = async (apiVersion: string, kind: string): Promise<ModelClass | undefined> => {
    // kubernetes-models exposes one module per group/version: "kubernetes-models/apps/v1", core is "v1".
    const specifier = `kubernetes-models/${apiVersion}`;
    let mod: Record<string, unknown>;
    try {
      mod = (await import(specifier)) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    const cls = mod[kind] as (ModelClass & { kind?: string; apiVersion?: string }) | undefined;
    return cls && cls.kind === kind && cls.apiVersion === apiVersion ? cls : undefined;
  };

  const validate = async (object: K8sObject, options: { patch?: boolean } = {}): Promise<string[]> => {
    const errors = checkMetadata(object);
    const { apiVersion, kind } = object;
    const crd = crdFor(apiVersion, kind);
    if (crd) {
      const fn = compile(crd, options.patch ?? false);
      if (!fn(object)) {
        for (const e of fn.errors ?? []) {
          const extra = e.keyword === "additionalProperties" ? ` (unknown field "${(e.params as { additionalProperty: string }).additionalProperty}")` : "";
          errors.push(`${e.instancePath || "/"} ${e.message}${extra}`);
        }
      }
      return errors;
    }
    const model = await builtinModel(apiVersion, kind);
    if (!model) return [...errors, `no schema covers ${apiVersion} ${kind} (neither a CRD in ${dir} nor a built-in kind)`];
    try {
      new model(object).validate();
    } catch (err) {
      const list = (err as { errors?: { instancePath: string; message?: string; keyword: string }[] }).errors;
      if (!list) throw err;
      for (const e of list) {
        // A patch is a partial object: fields the full kind requires may be absent.
        if (options.patch && e.keyword === "required") continue;
        errors.push(`${e.instancePath || "/"} ${e.message ?? e.keyword}`);
      }
    }
    return errors;
  };

  return {
    validate,
    async validateAll(objects) {
      const issues: ConformanceIssue[] = [];
      for (const o of objects) {
        const id = `${o.object.kind}${o.patch ? "(patch)" : ""}/${o.object.metadata.namespace ?? "_"}/${o.object.metadata.name ?? "?"}`;
        for (const message of await validate(o.object, { patch: o.patch })) issues.push({ object: id, message });
      }
      return issues;
    },
    customKinds: crds.map((c) => `${c.group}/${c.version}/${c.kind}`),
    untranslatedPatterns,
  };
}
