/** PromQL text helpers. */

/** A label value as a PromQL string literal (backslash, quote and newline escaped). */
export const promqlString = (value: string): string =>
  `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;

/** A selector matching exactly one series: its name and every one of its labels. */
export const exactSelector = (metric: string, labels: Readonly<Record<string, string>>): string =>
  `{${[["__name__", metric], ...Object.entries(labels)].map(([k, v]) => `${k}=${promqlString(v)}`).join(",")}}`;
