// A real Prometheus (the test kit's, billing-service/testkit/prometheus.ts) serving data backfilled
// from OpenMetrics text, with the query calls the dashboards tests make.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backfill, startPrometheus } from "../../../billing-service/testkit/prometheus";

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

/** Backfills `openMetrics` into a temp TSDB and starts Prometheus on it. Call stop() in afterAll. */
export const startPrometheusWithData = async (openMetrics: string): Promise<RunningPrometheus> => {
  const dir = await mkdtemp(join(tmpdir(), "maas-dashboards-prom-"));
  try {
    await backfill(openMetrics, join(dir, "data"), dir);
    const prometheus = await startPrometheus({ dir });
    return client(prometheus.url, prometheus.stop, dir);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
};

/** The HTTP query API of the Prometheus at `url` (instant, range and label-values queries). */
export const prometheusQueries = (url: string): Omit<RunningPrometheus, "stop"> => {
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
  };
};

const client = (url: string, stopPrometheus: () => Promise<void>, dir: string): RunningPrometheus => {
  return {
    ...prometheusQueries(url),
    async stop() {
      await stopPrometheus();
      await rm(dir, { recursive: true, force: true });
    },
  };
};
