/*
 * The table `npm run bench` prints: one row per figure, with its target and whether it was met.
 * Ratios are computed from figures of the same run, never from remembered numbers.
 */
export interface BenchRow {
  what: string;
  figure: string;
  baseline: string;
  ratio: string;
  target: string;
  /** undefined: no target, or not measured. */
  met?: boolean;
}

export const formatTable = (rows: readonly BenchRow[]): string => {
  const header: BenchRow = { what: "what", figure: "figure", baseline: "baseline (same run)", ratio: "ratio", target: "target" };
  const cells = (r: BenchRow) => [r.what, r.figure, r.baseline, r.ratio, r.target, r === header ? "met" : r.met === undefined ? "-" : r.met ? "yes" : "NO"];
  const all = [header, ...rows].map(cells);
  const widths = all[0].map((_, i) => Math.max(...all.map((c) => c[i].length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i])).join(" | ")} |`;
  return [line(all[0]), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...all.slice(1).map(line)].join("\n");
};

export const fmtSeconds = (s: number): string => (s < 1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`);
export const fmtRate = (perSecond: number): string => `${Math.round(perSecond).toLocaleString("en-US")}/s`;
