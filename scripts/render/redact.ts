import type { K8sObject } from "./objects";

/** What every secret value is replaced with in written files. */
export const REDACTED = "<redacted>";

function mapStrings(value: unknown, f: (s: string) => string): unknown {
  if (typeof value === "string") return f(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, f));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, f)]));
  }
  return value;
}

/**
 * A copy fit for disk: every value under a Secret's `data`/`stringData` becomes REDACTED, and any
 * known secret value found elsewhere is replaced too (the invariants report such leaks separately,
 * they must never reach a file either way).
 */
export function redactObject(object: K8sObject, secretValues: readonly string[]): K8sObject {
  const copy = mapStrings(object, (s) => secretValues.reduce((acc, secret) => acc.split(secret).join(REDACTED), s)) as K8sObject;
  if (object.kind === "Secret") {
    for (const field of ["data", "stringData"] as const) {
      const values = copy[field] as Record<string, unknown> | undefined;
      if (values) copy[field] = Object.fromEntries(Object.keys(values).map((k) => [k, REDACTED]));
    }
  }
  return copy;
}

/** Redacts secret values inside stack outputs (e.g. a connection string that embeds a password). */
export function redactValue<T>(value: T, secretValues: readonly string[]): T {
  return mapStrings(value, (s) => secretValues.reduce((acc, secret) => acc.split(secret).join(REDACTED), s)) as T;
}
