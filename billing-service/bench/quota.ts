/*
 * Quota benchmarks on a real `serve` process at a fixed arrival rate (open loop: requests leave on
 * schedule whether or not earlier ones finished, and latency counts from the scheduled time, so
 * stalls show instead of being hidden by a slower send rate):
 *   - POST /v1/quota/authorize, the gateway's request-path check, answered from memory
 *     (quota/view.ts); same-run baseline: GET /healthz (the HTTP round trip with no work) at the
 *     same rate over the same agent.
 *   - POST /v1/quota/check, the spending check (reservation, one transaction per tenant batch);
 *     same-run baseline: the same checker straight on PostgreSQL (no HTTP) at the same rate.
 * Both run with a month of ledger usage already in the database, so the figures include reading
 * it (the spending path reads the tenant's usage per batch).
 */
import http from "node:http";
import { kitPool } from "../testkit/postgres";
import { createQuotaChecker } from "../src/quota/batcher";
import { loadPriceBook } from "../src/pricebook/pricebook";
import { EXAMPLE_PRICE_BOOK } from "../src/config";
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
  /** Gateway checks from memory over HTTP. */
  authorize: LatencyFigures;
  /** GET /healthz over HTTP at the same rate: the floor of any HTTP answer. */
  healthz: LatencyFigures;
  /** Spending checks over HTTP. */
  http: LatencyFigures;
  /** The same spending checker straight on PostgreSQL at the same rate. */
  database: LatencyFigures;
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
        const text = body === undefined ? "" : JSON.stringify(body);
        const headers: Record<string, string | number> = { authorization: `Bearer ${service.token}` };
        if (body !== undefined) Object.assign(headers, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
        const req = http.request(new URL(path, service.url), { method, agent, headers }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        });
        req.on("error", reject);
        req.end(text);
      });
    for (const q of [
      { kind: "tokens", period: "month", limit: 1e15 },
      { kind: "cost", period: "month", limit: 1e15 },
      { kind: "tokens", period: "day", limit: 1e15, user: "alice" },
      { kind: "requests", period: "day", limit: 1e15, user: "alice" },
    ]) {
      const status = await call("PUT", "/v1/tenants/acme/quotas", q);
      if (status !== 200) throw new Error(`quota bench: setting a quota answered ${status}`);
    }
    // A month of usage in the ledger: one event per user, model and hour so far this month.
    const now = new Date();
    const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
    const events: unknown[] = [];
    for (let t = monthStart; t < now.getTime(); t += 3_600_000) {
      for (const user of ["alice", "bob", "carol"]) {
        for (const model of ["llama", "granite"]) {
          events.push({ id: `${user}-${model}-${t}`, source: "//bench", time: new Date(t).toISOString(), tenant: "acme", user, model, tier: "premium", inputTokens: 100, outputTokens: 50, requests: 1 });
        }
      }
    }
    for (let i = 0; i < events.length; i += 5000) {
      const status = await call("POST", "/v1/events", { events: events.slice(i, i + 5000) });
      if (status >= 300) throw new Error(`quota bench: posting events answered ${status}`);
    }
    const authorize = { tenant: "acme", user: "alice", tier: "premium" };
    const check = { tenant: "acme", user: "alice", tier: "premium", model: "llama", inputTokens: 120, outputTokens: 80 };
    const authorized = async () => (await call("POST", "/v1/quota/authorize", authorize)) === 200;
    // Warm-up: JIT, connections, the first refresh of the in-memory view.
    for (let i = 0; i < 300; i++) await call("POST", "/v1/quota/check", check);
    for (let i = 0; i < 300; i++) await authorized();
    for (let i = 0; i < 300; i++) await call("GET", "/healthz", undefined);
    const total = rate * durationSeconds;
    const healthz = await openLoop(rate, total, async () => (await call("GET", "/healthz", undefined)) === 200);
    const authorizeFigures = await openLoop(rate, total, authorized);
    const httpFigures = await openLoop(rate, total, async () => (await call("POST", "/v1/quota/check", check)) === 200);
    agent.destroy();
    // Same pool size as `serve` (src/db/open.ts: 10), so both sides put as many checks in flight.
    const { pool: direct } = kitPool(db.url, 10);
    let database: LatencyFigures;
    try {
      const book = loadPriceBook(EXAMPLE_PRICE_BOOK);
      const checker = createQuotaChecker(direct, { priceBook: () => book });
      database = await openLoop(rate, total, async () => (await checker.check({ tenant: "acme", user: "alice", tier: "premium", tokens: 200n, requests: 1n, costMinor: 1n })).allowed);
    } finally {
      await direct.end();
    }
    return { targetRate: rate, authorize: authorizeFigures, healthz, http: httpFigures, database };
  } finally {
    await stack.stop();
  }
}
