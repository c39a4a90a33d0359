// A real Prometheus (Debian package `prometheus`) on a random loopback port, serving data
// backfilled from OpenMetrics text with `promtool tsdb create-blocks-from openmetrics`.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "../../../billing-service/src/net/free-port";

const run = promisify(execFile);

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? "/usr/bin/prometheus";
export const PROMTOOL_BIN = process.env.PROMTOOL_BIN ?? "/usr/bin/promtool";

export interface VectorSample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export type QueryResponse =
  | { status: "success"; data: { resultType: string; result: VectorSample[] } }
  | { status: "error"; errorType: string; error: string };

export interface RunningPrometheus {
  readonly url: string;
  /** Instant query at `time` (unix seconds). */
  query(expr: string, time: number): Promise<QueryResponse>;
  /** Instant query that must succeed with a vector; returns its samples. */
  vector(expr: string, time: number): Promise<VectorSample[]>;
  /** Range query (what a time series panel runs); returns the matrix. */
  matrix(expr: string, start: number, end: number, step: number): Promise<{ metric: Record<string, string>; values: [number, string][] }[]>;
  /** Label values of `label` on series matching `match` in [start, end]. */
  labelValues(label: string, match: string, start: number, end: number): Promise<string[]>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until /-/ready answers 200 (TSDB loaded) or the process exits. */
const waitReady = async (url: string, child: ChildProcess, log: () => string): Promise<boolean> => {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) return false;
    try {
      const r = await fetch(`${url}/-/ready`);
      if (r.ok) return true;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`prometheus at ${url} not ready after 30s:\n${log()}`);
};

const stopChild = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });

/** Backfills `openMetrics` into a temp TSDB and starts Prometheus on it. Call stop() in afterAll. */
export const startPrometheusWithData = async (openMetrics: string): Promise<RunningPrometheus> => {
  const dir = await mkdtemp(join(tmpdir(), "maas-dashboards-prom-"));
  try {
    await writeFile(join(dir, "data.om"), openMetrics);
    await run(PROMTOOL_BIN, ["tsdb", "create-blocks-from", "openmetrics", join(dir, "data.om"), join(dir, "tsdb")], { maxBuffer: 16 * 1024 * 1024 });
    await writeFile(join(dir, "prometheus.yml"), "global:\n  scrape_interval: 15s\n");
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      let log = "";
      const child = spawn(
        PROMETHEUS_BIN,
        [
          `--config.file=${join(dir, "prometheus.yml")}`,
          `--storage.tsdb.path=${join(dir, "tsdb")}`,
          // The scenario lies at a fixed past date; keep its blocks whatever today is.
          "--storage.tsdb.retention.time=100y",
          `--web.listen-address=127.0.0.1:${port}`,
          "--log.level=warn",
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      child.stderr?.on("data", (d: Buffer) => (log += d.toString()));
      if (await waitReady(url, child, () => log)) return client(url, child, dir);
      await stopChild(child);
      // Another process took the port between freePort() and the bind: try another one.
      if (attempt >= 3) throw new Error(`prometheus failed to start:\n${log}`);
    }
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
};

const client = (url: string, child: ChildProcess, dir: string): RunningPrometheus => {
  const query = async (expr: string, time: number): Promise<QueryResponse> => {
    const body = new URLSearchParams({ query: expr, time: String(time) });
    const r = await fetch(`${url}/api/v1/query`, { method: "POST", body });
    return (await r.json()) as QueryResponse;
  };
  return {
    url,
    query,
    async vector(expr, time) {
      const r = await query(expr, time);
      if (r.status !== "success") throw new Error(`query failed: ${r.errorType}: ${r.error}\n${expr}`);
      if (r.data.resultType !== "vector") throw new Error(`expected a vector, got ${r.data.resultType}\n${expr}`);
      return r.data.result;
    },
    async matrix(expr, start, end, step) {
      const body = new URLSearchParams({ query: expr, start: String(start), end: String(end), step: String(step) });
      const r = (await (await fetch(`${url}/api/v1/query_range`, { method: "POST", body })).json()) as {
        status: string;
        error?: string;
        data: { resultType: string; result: { metric: Record<string, string>; values: [number, string][] }[] };
      };
      if (r.status !== "success" || r.data.resultType !== "matrix") throw new Error(`range query failed: ${r.error}\n${expr}`);
      return r.data.result;
    },
    async labelValues(label, match, start, end) {
      const params = new URLSearchParams({ "match[]": match, start: String(start), end: String(end) });
      const r = (await (await fetch(`${url}/api/v1/label/${encodeURIComponent(label)}/values?${params}`)).json()) as {
        status: string;
        data: string[];
        error?: string;
      };
      if (r.status !== "success") throw new Error(`label values ${label} ${match}: ${r.error}`);
      return r.data;
    },
    async stop() {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
};
