/*
 * Open-loop HTTP load generator, run as its OWN process (bench/http-load.ts spawns it) so the
 * sender never shares an event loop with the server it measures or with the bench driver (which
 * reads serve's log pipe).
 *
 * Requests leave on a fixed schedule (t0 + i / rate) whether or not earlier ones have answered, and
 * each latency counts from the request's SCHEDULED time, not from when it actually left: a stall
 * of the server (or of this process) shows up in the figures instead of silently lowering the send
 * rate (coordinated omission). How late the sends themselves were (send lag) and this process's
 * own event-loop delay are reported apart, so a reader sees when the generator fell behind.
 *
 * Several targets (phases) are measured in interleaved rounds (A B C A B C ...): on a machine
 * shared with other work, load comes and goes, and interleaving gives a target and its baselines
 * the same share of it instead of whatever happened during one long window each.
 *
 * Input: one JSON argument (LoadSpec). Output: one JSON line on stdout (LoadResult[] per phase).
 */
import { readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { ProbeWindow } from "./loop-probe";

export interface PhaseSpec {
  name: string;
  url: string;
  method: "GET" | "POST";
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** An answer with another status counts as an error. */
  expectStatus: number;
  /** Text every answer's body must contain (e.g. "allowed":true); one without it counts as an error, under the status `<status> without <text>`. */
  expectBody?: string;
  /** Read serve's loop probe (loop-probe.ts) around this phase's windows. */
  probe?: boolean;
  /** The serve process this phase probes, when it is not the spec's (several serves in one run). */
  serve?: { pid: number; probeFile: string };
}

export interface LoadSpec {
  phases: PhaseSpec[];
  /** Requests per second. */
  rate: number;
  /** Measured seconds per phase, split over `rounds` windows. */
  seconds: number;
  rounds: number;
  /** Closed-loop requests per phase before the measured rounds (connections, JIT on both sides). */
  warmup: number;
  /** serve's pid and its probe file (loop-probe.ts), for phases with probe: true. */
  serve?: { pid: number; probeFile: string };
}

export interface LoadResult {
  name: string;
  scheduled: number;
  completed: number;
  errors: number;
  /** Completed answers per second over the phase's windows. */
  achievedRate: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** How late this process sent, against the schedule (its own lag, not the server's). */
  sendLagP99Ms: number;
  /** This process's event-loop delay p99 over the phase's windows (worst window). */
  loopDelayP99Ms: number;
  statuses: Record<string, number>;
  /** serve's loop delay and GC, worst window (p99, max) and sums (GC, CPU), when probed. */
  server?: ProbeWindow;
}

export const quantile = (sorted: ArrayLike<number>, q: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const readProbe = async (serve: NonNullable<LoadSpec["serve"]>): Promise<ProbeWindow> => {
  rmSync(serve.probeFile, { force: true });
  process.kill(serve.pid, "SIGUSR2");
  for (let i = 0; i < 200; i++) {
    try {
      return JSON.parse(readFileSync(serve.probeFile, "utf8")) as ProbeWindow;
    } catch {
      await sleep(10);
    }
  }
  throw new Error("serve's loop probe did not answer (is loop-probe.ts preloaded?)");
};

export const mergeProbe = (a: ProbeWindow | undefined, b: ProbeWindow): ProbeWindow =>
  a === undefined
    ? b
    : {
        loopDelayP50Ms: Math.max(a.loopDelayP50Ms, b.loopDelayP50Ms),
        loopDelayP99Ms: Math.max(a.loopDelayP99Ms, b.loopDelayP99Ms),
        loopDelayMaxMs: Math.max(a.loopDelayMaxMs, b.loopDelayMaxMs),
        gcCount: a.gcCount + b.gcCount,
        gcTotalMs: a.gcTotalMs + b.gcTotalMs,
        gcMaxMs: Math.max(a.gcMaxMs, b.gcMaxMs),
        gcMajor: a.gcMajor + b.gcMajor,
        cpuUserMs: a.cpuUserMs + b.cpuUserMs,
        cpuSystemMs: a.cpuSystemMs + b.cpuSystemMs,
      };

const sender = (phase: PhaseSpec, agent: http.Agent) => {
  const target = new URL(phase.path, phase.url);
  const payload = phase.body === undefined ? undefined : Buffer.from(JSON.stringify(phase.body));
  const headers: Record<string, string | number> = { ...phase.headers };
  if (payload) Object.assign(headers, { "content-type": "application/json", "content-length": payload.length });
  const options: http.RequestOptions = { method: phase.method, agent, headers, host: target.hostname, port: target.port, path: target.pathname + target.search };
  const expectBody = phase.expectBody;
  return (): Promise<number | string> =>
    new Promise((resolve, reject) => {
      const req = http.request(options, (res) => {
        const status = res.statusCode ?? 0;
        if (expectBody === undefined || status !== phase.expectStatus) {
          res.resume();
          res.on("end", () => resolve(status));
        } else {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (text += c));
          res.on("end", () => resolve(text.includes(expectBody) ? status : unexpectedBody(status, expectBody)));
        }
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(payload);
    });
};

/** The status key of an answer whose body lacks the expected text (loadgen.ts and vegeta.ts). */
export const unexpectedBody = (status: number, expected: string): string => `${status} without ${expected}`;

/** One open-loop window of `total` requests at `rate`; latencies and send lags appended. */
const window = (send: () => Promise<number | string>, rate: number, total: number, expect: number, acc: { lat: number[]; lag: number[]; statuses: Record<string, number>; errors: number }): Promise<number> => {
  const intervalMs = 1000 / rate;
  const t0 = performance.now() + 2;
  let completed = 0;
  let lastDone = t0;
  return new Promise((finished) => {
    let sent = 0;
    const settle = (scheduled: number, status: number | string) => {
      const done = performance.now();
      acc.lat.push(done - scheduled);
      lastDone = done;
      acc.statuses[status] = (acc.statuses[status] ?? 0) + 1;
      if (status !== expect) acc.errors += 1;
      if (++completed === total) finished((lastDone - t0) / 1000);
    };
    const tick = () => {
      const now = performance.now();
      // Every request whose time has come leaves now (several after a late timer: that lateness is
      // charged to their latency, counted from the scheduled time).
      while (sent < total && t0 + sent * intervalMs <= now) {
        const scheduled = t0 + sent * intervalMs;
        sent += 1;
        acc.lag.push(now - scheduled);
        send().then(
          (status) => settle(scheduled, status),
          () => settle(scheduled, "error"),
        );
      }
      // Sleep until the next send is due: never busy-wait, the generator must not take the CPU the
      // server needs (timers wake at ~1 ms granularity).
      if (sent < total) setTimeout(tick, Math.max(0, t0 + sent * intervalMs - performance.now()));
    };
    setTimeout(tick, Math.max(0, t0 - performance.now()));
  });
};

export const runPhases = async (spec: LoadSpec): Promise<LoadResult[]> => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const sends = spec.phases.map((p) => sender(p, agent));
  for (const send of sends) for (let k = 0; k < spec.warmup; k++) await send().catch(() => 0);
  const perWindow = Math.round((spec.rate * spec.seconds) / spec.rounds);
  const accs = spec.phases.map(() => ({ lat: [] as number[], lag: [] as number[], statuses: {} as Record<string, number>, errors: 0, seconds: 0, loopP99: 0, server: undefined as ProbeWindow | undefined }));
  for (let round = 0; round < spec.rounds; round++) {
    for (const [i, phase] of spec.phases.entries()) {
      const acc = accs[i];
      const serve = phase.serve ?? spec.serve;
      const probed = phase.probe === true && serve !== undefined;
      if (probed) await readProbe(serve); // starts serve's window here
      const loop = monitorEventLoopDelay({ resolution: 1 });
      loop.enable();
      acc.seconds += await window(sends[i], spec.rate, perWindow, phase.expectStatus, acc);
      loop.disable();
      acc.loopP99 = Math.max(acc.loopP99, loop.percentile(99) / 1e6);
      if (probed) acc.server = mergeProbe(acc.server, await readProbe(serve));
    }
  }
  agent.destroy();
  return spec.phases.map((phase, i) => summarize(phase.name, perWindow * spec.rounds, accs[i], accs[i].loopP99));
};

/** What one generator measured for one phase over its windows, as a LoadResult (loadgen.ts and vegeta.ts). */
export interface PhaseMeasurements {
  lat: number[];
  lag: number[];
  statuses: Record<string, number>;
  errors: number;
  seconds: number;
  server?: ProbeWindow;
}

export const summarize = (name: string, scheduled: number, a: PhaseMeasurements, loopDelayP99Ms: number): LoadResult => {
  const sorted = Float64Array.from(a.lat).sort();
  const lags = Float64Array.from(a.lag).sort();
  return {
    name,
    scheduled,
    completed: sorted.length,
    errors: a.errors,
    achievedRate: sorted.length / a.seconds,
    p50Ms: quantile(sorted, 0.5),
    p90Ms: quantile(sorted, 0.9),
    p99Ms: quantile(sorted, 0.99),
    p999Ms: quantile(sorted, 0.999),
    maxMs: sorted[sorted.length - 1],
    sendLagP99Ms: quantile(lags, 0.99),
    loopDelayP99Ms,
    statuses: a.statuses,
    ...(a.server ? { server: a.server } : {}),
  };
};

if (require.main === module) {
  runPhases(JSON.parse(process.argv[2]) as LoadSpec).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (e: Error) => {
      process.stderr.write(`loadgen: ${e.stack ?? e.message}\n`);
      process.exit(1);
    },
  );
}
