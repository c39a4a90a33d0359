/**
 * `npm run bench` runs each benchmark in a Node process of its own: the driver starts itself once
 * per benchmark with `--only <name> --child <file>`, the child runs that one benchmark and writes its
 * table rows as JSON to <file>, and the driver prints every row in one table at the end.
 *
 * Why: a benchmark run inside the driver left its heap and its garbage collection there for the
 * ones after it (the collector's 10,000-series passes before the OTLP row: serve paid 13.1-15.8 µs
 * a record instead of 12.5-12.8 alone, session 7, docs/reliability.md). A process per benchmark
 * ends with its benchmark, and what it left behind goes with it.
 *
 * A benchmark whose process fails (an exception, a crash, a signal, no rows written) is a row of
 * its own in the table, "NO", and the driver exits 1: it does not vanish from the table.
 */
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import type { BenchRow } from "../../billing-service/bench/table";

/** What the driver passes a child: the file it writes its rows to. */
export const CHILD_FLAG = "child";

/** The child's side: its rows, for the driver. */
export const writeChildRows = (file: string, rows: readonly BenchRow[]): Promise<void> => writeFile(file, JSON.stringify(rows));

const isRow = (x: unknown): x is BenchRow => {
  if (typeof x !== "object" || x === null) return false;
  const r = x as Record<string, unknown>;
  return (
    ["what", "figure", "baseline", "ratio", "target"].every((k) => typeof r[k] === "string") && (r.met === undefined || typeof r.met === "boolean")
  );
};

/** The row that stands for a benchmark whose process did not give its rows. */
export const failedRow = (name: string, why: string): BenchRow => ({
  what: `${name}: the benchmark's process failed (${why})`,
  figure: "-",
  baseline: "-",
  ratio: "-",
  target: "runs to the end",
  met: false,
});

export interface ChildResult {
  readonly rows: BenchRow[];
  /** False when the process failed (its rows are then one failedRow). */
  readonly ok: boolean;
}

/**
 * Runs benchmark `name` in a child process of this script (same Node, same loader flags as this
 * process, plus `nodeArgs`), its output on this terminal; its rows, or a failed row.
 */
export const runChild = async (name: string, resultFile: string, nodeArgs: readonly string[] = []): Promise<ChildResult> => {
  const script = process.argv[1];
  const child = spawn(process.execPath, [...process.execArgv, ...nodeArgs, script, "--only", name, `--${CHILD_FLAG}`, resultFile], { stdio: "inherit", env: process.env });
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  if (exit.code !== 0) return { rows: [failedRow(name, exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`)], ok: false };
  const text = await readFile(resultFile, "utf8").catch(() => undefined);
  if (text === undefined) return { rows: [failedRow(name, "exit code 0 but no rows written")], ok: false };
  let rows: unknown;
  try {
    rows = JSON.parse(text);
  } catch {
    return { rows: [failedRow(name, "its rows are not JSON")], ok: false };
  }
  if (!Array.isArray(rows) || rows.length === 0 || !rows.every(isRow)) return { rows: [failedRow(name, "no rows, or rows not of the table's shape")], ok: false };
  return { rows, ok: true };
};
