/**
 * The diff engine behind `npm run preview`: compares two sets of rendered Kubernetes objects
 * (before = a git ref, after = the working tree) and reports which objects were added, deleted or
 * changed, with a field-level list of changes for the changed ones. Pure: no files, no git.
 */
import { lineDiff, type LineChange } from "./line-diff";

/** A rendered object as parsed from YAML. */
export type KubeObject = Record<string, unknown>;

/** One field that differs between the two versions of an object. */
export interface FieldChange {
  /** Dotted path into the object, e.g. `spec.template.spec.containers[name=api].image`. */
  readonly path: string;
  readonly kind: "added" | "removed" | "changed";
  readonly before?: unknown;
  readonly after?: unknown;
  /** For changed multi-line strings (embedded config files): the line-level changes. */
  readonly lines?: readonly LineChange[];
}

export interface ChangedObject {
  readonly key: string;
  readonly fields: readonly FieldChange[];
}

/** What a change does to one stack's objects. Keys are sorted so output is stable. */
export interface StackDiff {
  readonly added: readonly string[];
  readonly deleted: readonly string[];
  readonly changed: readonly ChangedObject[];
  readonly unchanged: number;
}

/**
 * Identity of an object: API group (not version, so `v1beta1` -> `v1` shows as a change of one
 * object rather than a delete plus an add), kind, namespace and name.
 */
export function objectKey(obj: KubeObject): string {
  const apiVersion = typeof obj.apiVersion === "string" ? obj.apiVersion : "";
  const group = apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.lastIndexOf("/")) : "core";
  const kind = typeof obj.kind === "string" ? obj.kind : "<no kind>";
  const metadata = isPlainObject(obj.metadata) ? obj.metadata : {};
  const name = typeof metadata.name === "string" ? metadata.name : "<no name>";
  const namespace = typeof metadata.namespace === "string" ? `${metadata.namespace}/` : "";
  return `${kind}.${group} ${namespace}${name}`;
}

/** Compares two object sets keyed by `objectKey` (or any stable identity). */
export function diffObjectSets(
  before: ReadonlyMap<string, unknown>,
  after: ReadonlyMap<string, unknown>,
): StackDiff {
  const added: string[] = [];
  const deleted: string[] = [];
  const changed: ChangedObject[] = [];
  let unchanged = 0;
  for (const key of [...after.keys()].sort()) {
    if (!before.has(key)) {
      added.push(key);
      continue;
    }
    const fields = diffFields(before.get(key), after.get(key));
    if (fields.length === 0) unchanged += 1;
    else changed.push({ key, fields });
  }
  for (const key of [...before.keys()].sort()) {
    if (!after.has(key)) deleted.push(key);
  }
  return { added, deleted, changed, unchanged };
}

/** Field-level differences between two values, depth first, in key order. */
export function diffFields(before: unknown, after: unknown, path = ""): FieldChange[] {
  if (isPlainObject(before) && isPlainObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => {
      const childPath = joinPath(path, key);
      if (!(key in before)) return [{ path: childPath, kind: "added" as const, after: after[key] }];
      if (!(key in after)) return [{ path: childPath, kind: "removed" as const, before: before[key] }];
      return diffFields(before[key], after[key], childPath);
    });
  }
  if (Array.isArray(before) && Array.isArray(after)) return diffArrays(before, after, path);
  if (deepEqual(before, after)) return [];
  if (typeof before === "string" && typeof after === "string" && (before.includes("\n") || after.includes("\n"))) {
    return [{ path: path || "(root)", kind: "changed", before, after, lines: lineDiff(before, after) }];
  }
  return [{ path: path || "(root)", kind: "changed", before, after }];
}

/**
 * Kubernetes lists of named items (containers, env, ports, volumes) are matched by `name`, so
 * inserting one container does not show every later container as changed. Other lists are
 * compared position by position.
 */
function diffArrays(before: unknown[], after: unknown[], path: string): FieldChange[] {
  const beforeNames = namesOf(before);
  const afterNames = namesOf(after);
  if (beforeNames && afterNames) {
    const beforeByName = new Map(before.map((item, i) => [beforeNames[i], item]));
    const afterByName = new Map(after.map((item, i) => [afterNames[i], item]));
    const changes: FieldChange[] = [];
    for (const name of afterNames) {
      const itemPath = `${path}[name=${name}]`;
      if (!beforeByName.has(name)) changes.push({ path: itemPath, kind: "added", after: afterByName.get(name) });
      else changes.push(...diffFields(beforeByName.get(name), afterByName.get(name), itemPath));
    }
    for (const name of beforeNames) {
      if (!afterByName.has(name)) {
        changes.push({ path: `${path}[name=${name}]`, kind: "removed", before: beforeByName.get(name) });
      }
    }
    return changes;
  }
  const changes: FieldChange[] = [];
  for (let i = 0; i < Math.max(before.length, after.length); i += 1) {
    const itemPath = `${path}[${i}]`;
    if (i >= before.length) changes.push({ path: itemPath, kind: "added", after: after[i] });
    else if (i >= after.length) changes.push({ path: itemPath, kind: "removed", before: before[i] });
    else changes.push(...diffFields(before[i], after[i], itemPath));
  }
  return changes;
}

/** The `name` of every item when all items are objects with distinct string names, else undefined. */
function namesOf(items: unknown[]): string[] | undefined {
  if (items.length === 0) return [];
  const names = items.map((item) => (isPlainObject(item) && typeof item.name === "string" ? item.name : undefined));
  if (names.some((name) => name === undefined)) return undefined;
  return new Set(names).size === names.length ? (names as string[]) : undefined;
}

/** Keys that are not plain identifiers are quoted, e.g. `metadata.labels["app.kubernetes.io/name"]`. */
function joinPath(path: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${JSON.stringify(key)}]`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && deepEqual(a[k], b[k]));
  }
  return false;
}
