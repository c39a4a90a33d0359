/**
 * Fault: Prometheus goes away while the collector loop (the one `serve` runs) is working, for
 * several windows, then comes back on the same address. The collector must not advance while it
 * cannot read, must write nothing partial, and must catch up afterwards: every window booked once,
 * equal to the truth, with no gap flagged (the samples never had one: only the reader was down).
 * Real Prometheus process (stopped with SIGTERM and started again), real embedded PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { backfill } from "../testkit/prometheus";
import { collectOnce, runCollectorLoop, type CollectorDeps } from "../src/collector/collect";
import { PrometheusClient } from "../src/collector/prometheus-client";
import { parseCollectorSettings } from "../src/contract";
import { migrate } from "../src/db/migrate";
import { COLLECTOR_ONLY } from "../src/db/migrations";
import { toOpenMetrics } from "./support/scenario";
import { startPostgres as startTestPostgres, type RunningPostgres as TestPostgres } from "../testkit/postgres";
import { restartablePrometheus, type RestartablePrometheus } from "../testkit/prometheus";

const WINDOW = 15 * 60_000;
const WINDOWS = 8;
const STEP = 15_000;
const OFFSET = 5 * 60_000;
// Recent, window-aligned data (Prometheus serves it like live data).
const T0 = Math.floor(Date.now() / WINDOW) * WINDOW - (WINDOWS + 4) * WINDOW;

/** Three tenants' gateway token counters, scraped every 15 s without a miss from before T0. */
const SERIES = ["acme", "globex", "initech"].map((tenant, i) => {
  const samples = [];
  let v = 1_000 * i;
  for (let t = T0 - 60_000 + 2_345; t <= T0 + WINDOWS * WINDOW; t += STEP) {
    v += 1 + ((Math.floor(t / STEP) * (i + 3)) % 57);
    samples.push({ t, v });
  }
  return { metric: "authorized_hits", labels: { limitador_namespace: `${tenant}/chat`, tier: "premium", user: `user-${i}`, model: "m" }, samples, tenant };
});

/** Truth per tenant and window: the counter's rise between the last samples of consecutive windows. */
const truth = (): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const s of SERIES) {
    const lastAtOrBefore = (t: number) => s.samples.filter((x) => x.t <= t).at(-1)!.v;
    for (let w = 0; w < WINDOWS; w++) {
      const start = T0 + w * WINDOW;
      out[`${s.tenant} ${new Date(start).toISOString()}`] = lastAtOrBefore(start + WINDOW) - lastAtOrBefore(start);
    }
  }
  return out;
};

let dir: string;
let prom: RestartablePrometheus;
let db: TestPostgres;
let client: PrometheusClient;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "maas-faults-prom-"));
  await backfill(toOpenMetrics(SERIES), path.join(dir, "data"), dir);
  prom = await restartablePrometheus(dir);
  [db] = await Promise.all([startTestPostgres(), prom.start()]);
  await migrate(db.pool, COLLECTOR_ONLY);
  client = new PrometheusClient({ url: prom.url, timeoutMs: 5_000 });
});

afterAll(async () => {
  client?.close();
  await prom?.stop();
  await db?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const watermark = async (): Promise<number | undefined> => {
  const r = await db.pool.query(`select min(collected_until) as w from collector_watermark`);
  return r.rows[0]?.w ? (r.rows[0].w as Date).getTime() : undefined;
};

const ledger = async () =>
  (await db.pool.query(`select tenant, window_start, total_tokens, gaps, idempotency_key, xmin::text as x from collector_usage where billable order by 1, 2`)).rows;

const waitFor = async (what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe("collector loop with Prometheus down for several windows", () => {
  it("does not advance while Prometheus is down, then catches up with every window booked once", async () => {
    let now = T0 + 3 * WINDOW + OFFSET;
    const failures: string[] = [];
    const deps: CollectorDeps = {
      pool: db.pool,
      prometheus: client,
      settings: parseCollectorSettings({ window: "15m", offset: "5m", interval: "100ms", start: new Date(T0).toISOString() }),
      now: () => now,
      log: { info: () => {}, warn: (o, msg) => void (/pass failed/.test(msg) && failures.push(String((o as { err?: string }).err))) },
    };
    const stop = new AbortController();
    const loop = runCollectorLoop(deps, stop.signal);
    try {
      await waitFor("the first three windows", async () => (await watermark()) === T0 + 3 * WINDOW).catch(async (e) => {
        throw new Error(`${(e as Error).message}; watermark ${await watermark()}, T0 ${T0}, failures: ${failures.slice(0, 3).join(" | ")}`);
      });
      const before = await ledger();
      expect(before).toHaveLength(3 * SERIES.length);

      // Prometheus goes away; three more windows close meanwhile.
      await prom.stop();
      now = T0 + 6 * WINDOW + OFFSET;
      await waitFor("failed passes while Prometheus is down", () => failures.length >= 3);
      expect(failures.filter((f) => !/ECONNREFUSED|Prometheus/.test(f))).toEqual([]);
      expect(await watermark()).toBe(T0 + 3 * WINDOW);
      expect(await ledger()).toEqual(before); // nothing partial, nothing rewritten

      // Back on the same address: the next passes catch up, and later windows follow as usual.
      await prom.start();
      await waitFor("catch-up", async () => (await watermark()) === T0 + 6 * WINDOW);
      now = T0 + WINDOWS * WINDOW + OFFSET;
      await waitFor("the last windows", async () => (await watermark()) === T0 + WINDOWS * WINDOW);
    } finally {
      stop.abort();
      await loop;
    }

    const rows = await ledger();
    const got = Object.fromEntries(rows.map((r) => [`${r.tenant} ${(r.window_start as Date).toISOString()}`, Number(r.total_tokens)]));
    expect(got).toEqual(truth()); // every window, each once, exactly the truth
    expect(rows.filter((r) => r.gaps > 0)).toEqual([]); // the reader's outage is not a data gap

    // One more pass over the whole range rewrites nothing.
    const again = await collectOnce(deps, { fromMs: T0, toMs: T0 + WINDOWS * WINDOW });
    expect(again).toMatchObject({ status: "collected", usageRowsChanged: 0, usageRowsZeroed: 0 });
    expect(await ledger()).toEqual(rows);
  });
});
