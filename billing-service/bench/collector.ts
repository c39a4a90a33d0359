/*
 * Collector benchmark: 10,000 counter series over one hour at a 15 s step, backfilled into a real
 * Prometheus with promtool, collected into a real (embedded) PostgreSQL by `collectOnce`.
 *
 * The baseline is Prometheus alone answering the very requests the collector sent (recorded through
 * a wrapper around the sample source, replayed as plain HTTP GETs, or POSTs for remote read, whose
 * bodies are read and dropped), so the ratio shows what the collector adds on top of the database
 * it reads. `readApi` picks the path (collector setting `readApi`; `auto`, the platform's default,
 * takes remote read against a Prometheus).
 */
import { createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Pool } from "pg";
import { Session } from "node:inspector/promises";
import { collectOnce, type SampleSource } from "../src/collector/collect";
import { PrometheusClient, type RawSeries } from "../src/collector/prometheus-client";
import { rawSamplesQuery, readRequestBody, REMOTE_READ_HEADERS } from "../src/collector/remote-read/client";
import { createSampleSource } from "../src/collector/sample-source";
import { parseCollectorSettings, type ReadApi } from "../src/contract";
import { migrate } from "../src/db/migrate";
import { COLLECTOR_ONLY } from "../src/db/migrations";
import { PROMTOOL_BIN, startPrometheus } from "../testkit/prometheus";
import { startPostgres } from "../testkit/postgres";

const HOUR = 3_600_000;
const STEP = 15_000;

export interface CollectorFigures {
  /** The path the pass took (`auto` resolved). */
  readApi: "query" | "remote-read";
  series: number;
  samples: number;
  /** promtool backfill (setup, not part of the comparison). */
  backfillSeconds: number;
  /**
   * A warm `collectOnce` pass over the hour (on empty tables): queries, parsing, counter math,
   * reconciliation, PostgreSQL writes. The median of WARM_PASSES passes, each after the cold one.
   */
  collectorSeconds: number;
  /** CPU time of this process (all its threads: the decode worker too) during a warm pass (median). */
  collectorCpuSeconds: number;
  /** Each warm pass, in order. */
  collectorPassSeconds: number[];
  collectorPassCpuSeconds: number[];
  /** The same pass run first in the process (code not compiled yet): its own row, no target. */
  collectorColdSeconds: number;
  collectorColdCpuSeconds: number;
  /** Time inside the streamed queries (waiting for and parsing answers), summed over concurrent queries (median of the warm passes). */
  collectorQuerySeconds: number;
  /**
   * Prometheus alone answering the same queries, two at a time like the collector, bodies read and
   * dropped: the median of WARM_PASSES replays, one right after each warm pass.
   */
  prometheusSeconds: number;
  /** Each replay, in order. */
  prometheusReplaySeconds: number[];
  /** Prometheus' own CPU (`process_cpu_seconds_total`) while it served a warm pass (median). */
  prometheusCpuDuringPassSeconds: number;
  /** PostgreSQL's CPU (all its processes) during a warm pass (median). */
  postgresCpuDuringPassSeconds: number;
  /** Prometheus' CPU per replay two at a time (median). */
  prometheusCpuReplaySeconds: number;
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

/** A request the collector sent: a query-API GET, or a remote-read POST with its body. */
type Recorded = string | { url: string; body: Buffer };

/** Sends a recorded request and reads the whole answer (what Prometheus alone costs, transfer included). */
const drain = (r: Recorded): Promise<number> =>
  new Promise((resolve, reject) => {
    const url = typeof r === "string" ? r : r.url;
    const req = http.request(url, typeof r === "string" ? { method: "GET" } : { method: "POST", headers: { ...REMOTE_READ_HEADERS, "Content-Length": String(r.body.length) } }, (res) => {
      let bytes = 0;
      res.on("data", (c: Buffer) => (bytes += c.length));
      res.on("end", () => (res.statusCode === 200 ? resolve(bytes) : reject(new Error(`${url}: ${res.statusCode}`))));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(typeof r === "string" ? undefined : r.body);
  });

/** Prometheus' CPU seconds so far, from its own metrics (10 ms resolution on Linux). */
const prometheusCpu = async (url: string): Promise<number> => {
  const text = await new Promise<string>((resolve, reject) => {
    http.get(`${url}/metrics`, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve(body));
      res.on("error", reject);
    }).on("error", reject);
  });
  const m = /^process_cpu_seconds_total ([0-9.e+-]+)$/m.exec(text);
  if (!m) throw new Error(`collector bench: ${url}/metrics has no process_cpu_seconds_total`);
  return Number(m[1]);
};

/**
 * Warm passes per measurement, and as many replays of Prometheus alone: the row compares the median
 * of each, so one pass disturbed by the machine does not decide it.
 */
const WARM_PASSES = 3;

interface WarmPass {
  seconds: number;
  cpuSeconds: number;
  querySeconds: number;
  prometheusCpuSeconds: number;
  postgresCpuSeconds: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

/** PostgreSQL's CPU seconds so far, summed over its processes (`pg_stat_activity`), by pid. */
const postgresCpu = async (pool: Pool): Promise<Map<number, number>> => {
  const { rows } = await pool.query<{ pid: number }>("select pid from pg_stat_activity");
  const ticks = new Map<number, number>();
  for (const { pid } of rows) {
    // Fields 14 and 15 of /proc/<pid>/stat (after the command in parentheses): user and system ticks.
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
    if (!stat) continue;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks.set(pid, (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS);
  }
  return ticks;
};
const CLOCK_TICKS = 100;
const cpuSince = (before: Map<number, number>, after: Map<number, number>): number =>
  [...after].reduce((sum, [pid, t]) => sum + t - (before.get(pid) ?? 0), 0);

/** Ten thousand (or `series`) counters over one closed hour, in a real Prometheus, and an empty collector database. */
export interface CollectorBenchData {
  readonly promUrl: string;
  readonly pool: Pool;
  /** Where `pool` connects (for passes run from another process against the same data). */
  readonly postgresUrl: string;
  readonly series: number;
  readonly samples: number;
  readonly fromMs: number;
  readonly toMs: number;
  /** promtool backfill (setup, not part of the comparison). */
  readonly backfillSeconds: number;
}

/** Writes and backfills the data, starts Prometheus and PostgreSQL, runs `use`, stops them. */
export async function withCollectorData<T>(series: number, log: (s: string) => void, use: (data: CollectorBenchData) => Promise<T>): Promise<T> {
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
    try {
      await migrate(db.pool, COLLECTOR_ONLY);
      return await use({ promUrl: prom.url, pool: db.pool, postgresUrl: db.url, series, samples, fromMs, toMs, backfillSeconds });
    } finally {
      await prom.stop();
      await db.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What a pass leaves behind, removed before each measured pass so that every pass collects the hour afresh. */
const COLLECTOR_TABLES = ["collector_usage", "collector_reconciliation", "collector_unattributed", "collector_watermark"];

/**
 * The collector's passes of `collectOnce` over the data's hour, each on empty collector tables: a
 * first (cold) pass, then WARM_PASSES warm ones, each followed by Prometheus alone answering the
 * same requests; medians of both.
 */
export async function measureCollectorPass(data: CollectorBenchData, readApi: ReadApi = "auto", log: (s: string) => void = () => {}): Promise<CollectorFigures> {
  const { promUrl, pool, series, fromMs, toMs } = data;
  await pool.query(`truncate ${COLLECTOR_TABLES.join(", ")}`);
  const client = new PrometheusClient({ url: promUrl });
  // Record every request the collector sends, as Prometheus receives it.
  const src = createSampleSource(client, readApi);
  try {
    const urls: Recorded[] = [];
    let querySeconds = 0;
    const timed = async <T>(request: Recorded, call: () => Promise<T>): Promise<T> => {
      urls.push(request);
      const start = process.hrtime.bigint();
      const v = await call();
      querySeconds += seconds(start);
      return v;
    };
    const lastValues = (selector: string, time: number, lookback: number) =>
      `${promUrl}/api/v1/query?${new URLSearchParams({ query: `last_over_time(${selector}[${lookback}ms])`, time: (time / 1000).toFixed(3) }).toString()}`;
    const recording: SampleSource = {
      async rawSamples(selector, from, to, onSeries: (s: RawSeries) => void, options) {
        // The path is chosen on the first read (auto): record after it, as what was sent.
        const start = process.hrtime.bigint();
        await src.rawSamples(selector, from, to, onSeries, options);
        querySeconds += seconds(start);
        urls.push(
          src.resolved() === "remote-read"
            ? { url: `${promUrl}/api/v1/read`, body: readRequestBody([rawSamplesQuery(selector, from, to)]) }
            : `${promUrl}/api/v1/query?${new URLSearchParams({ query: `${selector}[${to - from}ms]`, time: (to / 1000).toFixed(3), partial_response: "false" }).toString()}`,
        );
      },
      lastValuesAtOrBefore: (selector, time, lookback) => timed(lastValues(selector, time, lookback), () => src.lastValuesAtOrBefore!(selector, time, lookback)),
      lastValueAtOrBefore: (selector, time, lookback) => timed(lastValues(selector, time, lookback), () => src.lastValueAtOrBefore(selector, time, lookback)),
    };
    const settings = parseCollectorSettings({ window: "1h", readApi });
    // Warm Prometheus (block files into the page cache) with the same selectors before timing anything.
    for (const meter of METERS) await drain(`${promUrl}/api/v1/query?${new URLSearchParams({ query: `${meter}[${HOUR + settings.anchorLookback}ms]`, time: (toMs / 1000).toFixed(3) })}`);
    // Prometheus alone is measured warm (the queries above, then replays), and so is the collector:
    // the warm passes follow a first pass, as `serve` runs passes every interval with its code
    // compiled and its connections open; the first (cold) pass is timed too and reported beside
    // them. Every pass starts from empty collector tables.
    const coldStart = process.hrtime.bigint();
    const coldCpu = process.cpuUsage();
    const cold = await collectOnce({ pool, prometheus: recording, settings }, { fromMs, toMs });
    const collectorColdSeconds = seconds(coldStart);
    const coldCpuUsage = process.cpuUsage(coldCpu);
    if (cold.status !== "collected" || cold.usageRowsChanged === 0) throw new Error(`collector bench: unexpected report ${JSON.stringify(cold)}`);
    // BENCH_COLLECTOR_PROFILE=<dir>: a V8 CPU profile of the first warm pass alone (main thread),
    // for Chrome DevTools; profiling slows that pass a little.
    const profileDir = process.env.BENCH_COLLECTOR_PROFILE;
    const passes: WarmPass[] = [];
    const replays: number[] = [];
    const replayCpu: number[] = [];
    let queries: Recorded[] = [];
    let usageRowsWritten = 0;
    // The warm passes and Prometheus alone take turns: pass 1, replay 1, pass 2, replay 2, ...
    // so both sides are measured the same number of times over the same stretch of the run, and
    // the row compares the median of each.
    for (let r = 0; r < WARM_PASSES; r++) {
      await pool.query(`truncate ${COLLECTOR_TABLES.join(", ")}`);
      // Only the timed passes' requests are replayed (each pass sends the same ones).
      urls.length = 0;
      querySeconds = 0;
      const profiler = profileDir && r === 0 ? new Session() : undefined;
      if (profiler) {
        profiler.connect();
        await profiler.post("Profiler.enable");
        await profiler.post("Profiler.start");
      }
      const promCpuStart = await prometheusCpu(promUrl);
      const pgCpuStart = await postgresCpu(pool);
      const collectStart = process.hrtime.bigint();
      const cpuStart = process.cpuUsage();
      const report = await collectOnce({ pool, prometheus: recording, settings }, { fromMs, toMs });
      const wall = seconds(collectStart);
      const cpu = process.cpuUsage(cpuStart);
      const promCpu = (await prometheusCpu(promUrl)) - promCpuStart;
      const pgCpu = cpuSince(pgCpuStart, await postgresCpu(pool));
      if (profiler && profileDir) {
        const { profile } = await profiler.post("Profiler.stop");
        const file = path.join(profileDir, `collector-${series}-${src.resolved() ?? readApi}-${Date.now()}.cpuprofile`);
        await writeFile(file, JSON.stringify(profile));
        profiler.disconnect();
        log(`collector: CPU profile of the first warm pass in ${file}`);
      }
      if (report.status !== "collected" || report.usageRowsChanged === 0) throw new Error(`collector bench: unexpected report ${JSON.stringify(report)}`);
      passes.push({ seconds: wall, cpuSeconds: (cpu.user + cpu.system) / 1e6, querySeconds, prometheusCpuSeconds: promCpu, postgresCpuSeconds: pgCpu });
      queries = [...urls];
      usageRowsWritten = report.usageRowsChanged;
      // Prometheus alone: the same requests with the collector's own concurrency (two unanswered
      // at a time; here an answer is read at once), so Prometheus gets the same chance to use both cores.
      const queue = [...queries];
      const cpuBefore = await prometheusCpu(promUrl);
      const start = process.hrtime.bigint();
      const worker = async () => {
        for (let url = queue.shift(); url !== undefined; url = queue.shift()) await drain(url);
      };
      await Promise.all([worker(), worker()]);
      replays.push(seconds(start));
      replayCpu.push((await prometheusCpu(promUrl)) - cpuBefore);
    }
    const sequential: number[] = [];
    for (let r = 0; r < WARM_PASSES; r++) {
      const start = process.hrtime.bigint();
      for (const url of queries) await drain(url);
      sequential.push(seconds(start));
    }
    const middle = (pick: (p: WarmPass) => number): number => median(passes.map(pick));
    return {
      readApi: src.resolved() ?? "query",
      series,
      samples: data.samples,
      backfillSeconds: data.backfillSeconds,
      collectorSeconds: middle((p) => p.seconds),
      collectorCpuSeconds: middle((p) => p.cpuSeconds),
      collectorPassSeconds: passes.map((p) => p.seconds),
      collectorPassCpuSeconds: passes.map((p) => p.cpuSeconds),
      collectorColdSeconds,
      collectorColdCpuSeconds: (coldCpuUsage.user + coldCpuUsage.system) / 1e6,
      collectorQuerySeconds: middle((p) => p.querySeconds),
      prometheusSeconds: median(replays),
      prometheusReplaySeconds: replays,
      prometheusCpuDuringPassSeconds: middle((p) => p.prometheusCpuSeconds),
      postgresCpuDuringPassSeconds: middle((p) => p.postgresCpuSeconds),
      prometheusCpuReplaySeconds: median(replayCpu),
      prometheusSequentialSeconds: median(sequential),
      queries: queries.length,
      usageRowsWritten,
    };
  } finally {
    src.close();
    client.close();
  }
}

/** A pass over `series` counters on their own freshly backfilled data. */
export const benchCollector = (series = 10_000, log: (s: string) => void = () => {}, readApi: ReadApi = "auto"): Promise<CollectorFigures> =>
  withCollectorData(series, log, (data) => measureCollectorPass(data, readApi, log));
