/*
 * Collector benchmark: 10,000 counter series over one hour at a 15 s step, backfilled into a real
 * Prometheus with promtool, collected into a real (embedded) PostgreSQL by `collectOnce`.
 *
 * The baseline is Prometheus alone answering the very queries the collector sent (recorded through
 * a wrapper around the client, replayed as plain HTTP GETs whose bodies are read and dropped), so
 * the ratio shows what the collector adds on top of the database it reads.
 */
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { collectOnce, type SampleSource } from "../src/collector/collect";
import { PrometheusClient, type RawSeries } from "../src/collector/prometheus-client";
import { parseCollectorSettings } from "../src/contract";
import { migrate } from "../src/db/migrate";
import { COLLECTOR_ONLY } from "../src/db/migrations";
import { PROMTOOL_BIN, startPrometheus } from "../testkit/prometheus";
import { startPostgres } from "../testkit/postgres";

const HOUR = 3_600_000;
const STEP = 15_000;

export interface CollectorFigures {
  series: number;
  samples: number;
  /** promtool backfill (setup, not part of the comparison). */
  backfillSeconds: number;
  /** One `collectOnce` pass over the hour: queries, parsing, counter math, reconciliation, PostgreSQL writes. */
  collectorSeconds: number;
  /** Time inside the streamed queries (waiting for and parsing answers), summed over concurrent queries. */
  collectorQuerySeconds: number;
  /** Prometheus alone answering the same queries, two at a time like the collector (median of 3 replays, bodies read and dropped). */
  prometheusSeconds: number;
  /** The same replay one query at a time. */
  prometheusSequentialSeconds: number;
  queries: number;
  usageRowsWritten: number;
}

/** The five counters the collector reads, 2,000 series each. */
const METERS = ["authorized_hits", "authorized_calls", "limited_calls", "vllm:prompt_tokens_total", "vllm:generation_tokens_total"] as const;

const seriesLabels = (meter: string, i: number): string => {
  const tenant = `t${String(i % 50).padStart(2, "0")}`;
  const tier = ["free", "premium", "enterprise"][i % 3];
  const model = `m${i % 4}`;
  if (meter.startsWith("vllm:")) return `{instance="p${i}",model_name="${model}",namespace="${tenant}-models"}`;
  const modelLabel = meter === "authorized_hits" ? `,model="${model}"` : "";
  return `{limitador_namespace="${tenant}-models/chat"${modelLabel},tier="${tier}",user="u${i}"}`;
};

/** Streams OpenMetrics text for `series` counters from `fromMs` to `toMs` to `file`. */
const writeOpenMetrics = async (file: string, series: number, fromMs: number, toMs: number): Promise<number> => {
  const out = createWriteStream(file);
  const write = (s: string) => (out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once("drain", () => r())));
  let samples = 0;
  const perMeter = Math.ceil(series / METERS.length);
  for (const meter of METERS) {
    await write(`# TYPE ${meter} unknown\n`);
    for (let i = 0; i < perMeter; i++) {
      const name = meter + seriesLabels(meter, i);
      let v = (i * 7919) % 1000;
      let chunk = "";
      // Off the step grid, as real scrapes are; deterministic increments.
      for (let t = fromMs + 3_217; t <= toMs; t += STEP) {
        v += ((t / STEP + i) * 2654435761) % 97;
        chunk += `${name} ${v} ${(t / 1000).toFixed(3)}\n`;
        samples += 1;
      }
      await write(chunk);
    }
  }
  await write("# EOF\n");
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  return samples;
};

/** GETs a URL and reads the whole body (what Prometheus alone costs, transfer included). */
const drain = (url: string): Promise<number> =>
  new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let bytes = 0;
        res.on("data", (c: Buffer) => (bytes += c.length));
        res.on("end", () => (res.statusCode === 200 ? resolve(bytes) : reject(new Error(`${url}: ${res.statusCode}`))));
        res.on("error", reject);
      })
      .on("error", reject);
  });

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

export async function benchCollector(series = 10_000, log: (s: string) => void = () => {}): Promise<CollectorFigures> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "maas-bench-collector-"));
  const toMs = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
  const fromMs = toMs - HOUR;
  try {
    // Data starts a minute early so every series has its anchor sample in the lookback.
    const file = path.join(dir, "series.om");
    const samples = await writeOpenMetrics(file, series, fromMs - 60_000, toMs);
    log(`collector: ${series} series, ${samples} samples written; backfilling with promtool`);
    const backfillStart = process.hrtime.bigint();
    await promisify(execFile)(PROMTOOL_BIN, ["tsdb", "create-blocks-from", "openmetrics", file, path.join(dir, "data")], { maxBuffer: 64 * 1024 * 1024 });
    const backfillSeconds = seconds(backfillStart);
    await rm(file);
    const prom = await startPrometheus({ dir });
    const db = await startPostgres(await mkdtemp(path.join(os.tmpdir(), "maas-bench-pg-"))).catch(async (e: unknown) => {
      await prom.stop();
      throw e;
    });
    const client = new PrometheusClient({ url: prom.url });
    try {
      await migrate(db.pool, COLLECTOR_ONLY);
      // Record every query the collector sends, as the URL Prometheus receives.
      const urls: string[] = [];
      let querySeconds = 0;
      const recording: SampleSource = {
        async rawSamples(selector, from, to, onSeries: (s: RawSeries) => void) {
          const params = new URLSearchParams({ query: `${selector}[${to - from}ms]`, time: (to / 1000).toFixed(3), partial_response: "false" });
          urls.push(`${prom.url}/api/v1/query?${params.toString()}`);
          const start = process.hrtime.bigint();
          await client.rawSamples(selector, from, to, onSeries);
          querySeconds += seconds(start);
        },
        async lastValuesAtOrBefore(selector, time, lookback) {
          const params = new URLSearchParams({ query: `last_over_time(${selector}[${lookback}ms])`, time: (time / 1000).toFixed(3) });
          urls.push(`${prom.url}/api/v1/query?${params.toString()}`);
          const start = process.hrtime.bigint();
          const v = await client.lastValuesAtOrBefore(selector, time, lookback);
          querySeconds += seconds(start);
          return v;
        },
        async lastValueAtOrBefore(selector, time, lookback) {
          const params = new URLSearchParams({ query: `last_over_time(${selector}[${lookback}ms])`, time: (time / 1000).toFixed(3) });
          urls.push(`${prom.url}/api/v1/query?${params.toString()}`);
          const start = process.hrtime.bigint();
          const v = await client.lastValueAtOrBefore(selector, time, lookback);
          querySeconds += seconds(start);
          return v;
        },
      };
      const settings = parseCollectorSettings({ window: "1h" });
      // Warm Prometheus (block files into the page cache) with the same selectors before timing anything.
      for (const meter of METERS) await drain(`${prom.url}/api/v1/query?${new URLSearchParams({ query: `${meter}[${HOUR + settings.anchorLookback}ms]`, time: (toMs / 1000).toFixed(3) })}`);
      const collectStart = process.hrtime.bigint();
      const report = await collectOnce({ pool: db.pool, prometheus: recording, settings }, { fromMs, toMs });
      const collectorSeconds = seconds(collectStart);
      if (report.status !== "collected" || report.usageRowsChanged === 0) throw new Error(`collector bench: unexpected report ${JSON.stringify(report)}`);
      // Replayed with the collector's own concurrency (two queries at a time), so Prometheus gets
      // the same chance to use both cores.
      const replays: number[] = [];
      for (let r = 0; r < 3; r++) {
        const queue = [...urls];
        const start = process.hrtime.bigint();
        const worker = async () => {
          for (let url = queue.shift(); url !== undefined; url = queue.shift()) await drain(url);
        };
        await Promise.all([worker(), worker()]);
        replays.push(seconds(start));
      }
      const sequential: number[] = [];
      for (let r = 0; r < 3; r++) {
        const start = process.hrtime.bigint();
        for (const url of urls) await drain(url);
        sequential.push(seconds(start));
      }
      return {
        series,
        samples,
        backfillSeconds,
        collectorSeconds,
        collectorQuerySeconds: querySeconds,
        prometheusSeconds: median(replays),
        prometheusSequentialSeconds: median(sequential),
        queries: urls.length,
        usageRowsWritten: report.usageRowsChanged,
      };
    } finally {
      client.close();
      await prom.stop();
      await db.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
