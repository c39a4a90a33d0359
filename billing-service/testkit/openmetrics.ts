// Test kit: the one OpenMetrics text writer (tests, dashboards tests, e2e fixtures), for backfilling with `promtool tsdb create-blocks-from openmetrics`.
// Samples of one series are written together and in time order, families one after another, as
// the format requires.

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  /** Unix seconds. */
  readonly t: number;
  readonly v: number;
}

export interface Family {
  readonly name: string;
  readonly type: "counter" | "gauge" | "histogram" | "unknown";
  /** Series of this family: full sample name (e.g. `x_bucket`), labels, samples in time order. */
  readonly series: { readonly name: string; readonly labels: Labels; readonly samples: readonly Sample[] }[];
}

const escape = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

export const formatLabels = (labels: Labels): string => {
  const keys = Object.keys(labels).sort();
  return keys.length === 0 ? "" : `{${keys.map((k) => `${k}="${escape(labels[k] as string)}"`).join(",")}}`;
};

/** Writes families to OpenMetrics text ending in `# EOF`. */
export const toOpenMetrics = (families: readonly Family[]): string => {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# TYPE ${f.name} ${f.type}`);
    if (f.type === "histogram") {
      // Histogram points (all buckets, count and sum at one timestamp) must stay together.
      const groups = new Map<string, Family["series"]>();
      for (const s of f.series) {
        const { le: _le, ...rest } = s.labels;
        const key = formatLabels(rest);
        groups.set(key, [...(groups.get(key) ?? []), s]);
      }
      for (const members of groups.values()) {
        const times = members[0]?.samples.map((x) => x.t) ?? [];
        times.forEach((t, i) => {
          for (const s of members) {
            const sample = s.samples[i];
            if (sample === undefined || sample.t !== t) throw new Error(`histogram ${f.name}: series not aligned at ${t}`);
            out.push(`${s.name}${formatLabels(s.labels)} ${sample.v} ${t}`);
          }
        });
      }
    } else {
      for (const s of f.series) for (const x of s.samples) out.push(`${s.name}${formatLabels(s.labels)} ${x.v} ${x.t}`);
    }
  }
  out.push("# EOF");
  return `${out.join("\n")}\n`;
};
