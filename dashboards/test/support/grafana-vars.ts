// Grafana template variables in PromQL: find them, and substitute them the way Grafana would
// before a query reaches Prometheus.

/** Grafana's global variables that may appear in a Prometheus query. */
export const GRAFANA_BUILTINS = new Set(["__range", "__range_s", "__range_ms", "__rate_interval", "__interval", "__interval_ms"]);

const VARIABLE = /\$\{(\w+)(?::[\w]+)?\}|\[\[(\w+)\]\]|\$(\w+)/g;

/** Names of all variables an expression refers to. */
export const variablesIn = (expr: string): string[] =>
  [...expr.matchAll(VARIABLE)].map((m) => (m[1] ?? m[2] ?? m[3]) as string);

/** Replaces every variable; throws when one has no value, so nothing unresolved reaches Prometheus. */
export const interpolate = (expr: string, values: Readonly<Record<string, string>>): string =>
  expr.replace(VARIABLE, (whole, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c) as string;
    const value = values[name];
    if (value === undefined) throw new Error(`no value for variable ${whole} in ${expr}`);
    return value;
  });
