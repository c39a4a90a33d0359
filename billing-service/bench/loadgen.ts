/*
 * Open-loop HTTP load generator, run as its OWN process (bench/http-load.ts spawns it) so the
 * sender never shares an event loop with the server it measures.
 *
 * Requests leave on a fixed schedule (t0 + i / rate) whether or not earlier ones have answered, and
 * each latency counts from the request's SCHEDULED time, not from when it actually left: a stall
 * of the server (or of this process) shows up in the figures instead of silently lowering the send
 * rate (coordinated omission). How late the sends themselves were (send lag) is reported apart, so
 * a reader sees when the generator, not the server, fell behind.
 *
 * Input: one JSON argument (LoadSpec). Output: one JSON line on stdout (LoadResult).
 */
import http from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";

export interface LoadSpec {
  url: string;
  method: "GET" | "POST";
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** Requests per second. */
  rate: number;
  seconds: number;
  /** Closed-loop requests before the measured run (connections, JIT on both sides). */
  warmup: number;
  /** An answer with another status counts as an error. */
  expectStatus: number;
}

export interface LoadResult {
  scheduled: number;
  completed: number;
  errors: number;
  /** Completed answers per second over the run (last answer - first scheduled send). */
  achievedRate: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** How late this process sent, against the schedule (its own lag, not the server's). */
  sendLagP99Ms: number;
  /** This process's event-loop delay p99 during the run. */
  loopDelayP99Ms: number;
  statuses: Record<string, number>;
}

export const quantile = (sorted: readonly number[], q: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];

const run = async (spec: LoadSpec): Promise<LoadResult> => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const target = new URL(spec.path, spec.url);
  const payload = spec.body === undefined ? undefined : Buffer.from(JSON.stringify(spec.body));
  const headers: Record<string, string | number> = { ...spec.headers };
  if (payload) Object.assign(headers, { "content-type": "application/json", "content-length": payload.length });
  const options: http.RequestOptions = { method: spec.method, agent, headers, host: target.hostname, port: target.port, path: target.pathname + target.search };
  const send = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = http.request(options, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(payload);
    });

  for (let i = 0; i < spec.warmup; i++) await send().catch(() => 0);

  const total = Math.round(spec.rate * spec.seconds);
  const latencies = new Float64Array(total);
  const lags = new Float64Array(total);
  const statuses: Record<string, number> = {};
  let completed = 0;
  let errors = 0;
  let lastDone = 0;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const t0 = performance.now() + 5;
  const intervalMs = 1000 / spec.rate;
  await new Promise<void>((finished) => {
    let sent = 0;
    const settle = (i: number, status: number | "error") => {
      const done = performance.now();
      latencies[i] = done - (t0 + i * intervalMs);
      lastDone = done;
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status !== spec.expectStatus) errors += 1;
      completed += 1;
      if (completed === total) finished();
    };
    const tick = () => {
      const now = performance.now();
      // Every request whose time has come leaves now (several after a late timer: that lateness is
      // charged to the latency, from the scheduled time).
      while (sent < total && t0 + sent * intervalMs <= now) {
        const i = sent++;
        lags[i] = now - (t0 + i * intervalMs);
        send().then(
          (status) => settle(i, status),
          () => settle(i, "error"),
        );
      }
      if (sent < total) {
        // Sleep until the next send is due (timers wake at ~1 ms granularity, never busy-wait:
        // the generator must not take the CPU the server needs).
        setTimeout(tick, Math.max(0, t0 + sent * intervalMs - performance.now()));
      }
    };
    setTimeout(tick, Math.max(0, t0 - performance.now()));
  });
  loop.disable();
  agent.destroy();
  const sorted = Array.from(latencies).sort((a, b) => a - b);
  const lagSorted = Array.from(lags).sort((a, b) => a - b);
  return {
    scheduled: total,
    completed,
    errors,
    achievedRate: completed / ((lastDone - t0) / 1000),
    p50Ms: quantile(sorted, 0.5),
    p90Ms: quantile(sorted, 0.9),
    p99Ms: quantile(sorted, 0.99),
    p999Ms: quantile(sorted, 0.999),
    maxMs: sorted[sorted.length - 1],
    sendLagP99Ms: quantile(lagSorted, 0.99),
    loopDelayP99Ms: loop.percentile(99) / 1e6,
    statuses,
  };
};

if (require.main === module) {
  run(JSON.parse(process.argv[2]) as LoadSpec).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (e: Error) => {
      process.stderr.write(`loadgen: ${e.stack ?? e.message}\n`);
      process.exit(1);
    },
  );
}
