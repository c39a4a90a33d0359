/*
 * Quota check benchmark: POST /v1/quota/check on a real `serve` process at a fixed arrival rate
 * (open loop: requests leave on schedule whether or not earlier ones finished, and latency counts
 * from the scheduled time, so stalls show instead of being hidden by a slower send rate). Each
 * check spends tokens against a tenant quota and a user quota, atomically. Baseline in the same
 * run: the same check statement sent straight to PostgreSQL at the same rate.
 */
import http from "node:http";
import { checkQuota } from "../src/quota/store";
import { kitPool } from "../testkit/postgres";
import { startBenchStack } from "./setup";

export interface LatencyFigures {
  requests: number;
  achievedRate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
}

export interface QuotaFigures {
  targetRate: number;
  /** Checks that spend (the real path). */
  http: LatencyFigures;
  /** The same spending statement straight to PostgreSQL at the same rate. */
  database: LatencyFigures;
  /** dryRun checks over HTTP (read only: what the HTTP path costs without the hot-row write). */
  httpDryRun: LatencyFigures;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/** Calls `fn` `rate` times a second for `total` calls, on schedule; latency from the scheduled time. */
const openLoop = async (rate: number, total: number, fn: () => Promise<boolean>): Promise<LatencyFigures> => {
  const latencies: number[] = [];
  let errors = 0;
  let sent = 0;
  const inFlight: Promise<void>[] = [];
  const t0 = performance.now();
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now();
      while (sent < total && t0 + (sent * 1000) / rate <= now) {
        const scheduled = t0 + (sent * 1000) / rate;
        sent += 1;
        inFlight.push(
          fn().then(
            (ok) => {
              latencies.push(performance.now() - scheduled);
              if (!ok) errors += 1;
            },
            () => void (errors += 1),
          ),
        );
      }
      if (sent < total) setTimeout(tick, 1);
      else done();
    };
    tick();
  });
  await Promise.all(inFlight);
  const elapsed = (performance.now() - t0) / 1000;
  const sorted = [...latencies].sort((a, b) => a - b);
  return { requests: total, achievedRate: latencies.length / elapsed, p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), maxMs: sorted.at(-1) ?? NaN, errors };
};

export async function benchQuota(rate = 1000, durationSeconds = 10): Promise<QuotaFigures> {
  const stack = await startBenchStack();
  try {
    const { service, db } = stack;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const call = (method: string, path: string, body: unknown): Promise<number> =>
      new Promise((resolve, reject) => {
        const text = JSON.stringify(body);
        const req = http.request(new URL(path, service.url), { method, agent, headers: { authorization: `Bearer ${service.token}`, "content-type": "application/json", "content-length": Buffer.byteLength(text) } }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        });
        req.on("error", reject);
        req.end(text);
      });
    for (const q of [{ kind: "tokens", period: "month", limit: 1e15 }, { kind: "tokens", period: "day", limit: 1e15, user: "alice" }]) {
      const status = await call("PUT", "/v1/tenants/acme/quotas", q);
      if (status !== 200) throw new Error(`quota bench: setting a quota answered ${status}`);
    }
    const check = { tenant: "acme", user: "alice", inputTokens: 120, outputTokens: 80 };
    // Warm-up: JIT, connections, the quota rows in cache.
    for (let i = 0; i < 300; i++) await call("POST", "/v1/quota/check", check);
    const total = rate * durationSeconds;
    const httpFigures = await openLoop(rate, total, async () => (await call("POST", "/v1/quota/check", check)) === 200);
    const httpDryRun = await openLoop(rate, total, async () => (await call("POST", "/v1/quota/check", { ...check, dryRun: true })) === 200);
    agent.destroy();
    // Same pool size as `serve` (src/db/open.ts: 10), so both sides put as many checks in flight.
    const { pool: direct } = kitPool(db.url, 10);
    let database: LatencyFigures;
    try {
      database = await openLoop(rate, total, async () => (await checkQuota(direct, { tenant: "acme", user: "alice", tokens: 200n, costMinor: 0n })).allowed);
    } finally {
      await direct.end();
    }
    return { targetRate: rate, http: httpFigures, database, httpDryRun };
  } finally {
    await stack.stop();
  }
}
