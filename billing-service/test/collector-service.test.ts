/**
 * The collector loop as `serve` runs it (env configuration, metrics), and one replica at a time.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Registry } from "prom-client";
import { generateScenario, toOpenMetrics, type Scenario } from "./support/scenario";
import { startPostgres as startTestPostgres, type RunningPostgres as TestPostgres } from "../testkit/postgres";
import { backfill, startPrometheus, type RunningPrometheus } from "../testkit/prometheus";
import { startCollectorService } from "../src/collector/service";
import { loadConfig } from "../src/config";
import { collectOnce } from "../src/collector/collect";
import { PrometheusClient } from "../src/collector/prometheus-client";
import { parseCollectorSettings } from "../src/contract";
import { COLLECTOR_LOCK_KEY } from "../src/collector/lock";
import { migrate } from "../src/db/migrate";
import { COLLECTOR_ONLY } from "../src/db/migrations";

const WINDOW = 15 * 60_000;
let dir: string;
let prom: RunningPrometheus;
let db: TestPostgres;
let scenario: Scenario;
let fromMs: number;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "maas-collector-svc-"));
  fromMs = Math.floor(Date.now() / WINDOW) * WINDOW - 12 * WINDOW;
  scenario = generateScenario({ seed: 3, startMs: fromMs, windows: 8, windowMs: WINDOW, scrapeMs: 15_000 });
  await backfill(toOpenMetrics(scenario.series.map((s) => ({ ...s, samples: [...s.samples, ...s.lateSamples].sort((a, b) => a.t - b.t) }))), path.join(dir, "data"), dir);
  [prom, db] = await Promise.all([startPrometheus({ dir }), startTestPostgres()]);
  await migrate(db.pool, COLLECTOR_ONLY);
});

afterAll(async () => {
  await prom?.stop();
  await db?.stop();
  await rm(dir, { recursive: true, force: true });
});

const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => {
  for (let i = 0; i < 900; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
};

describe("collector service", () => {
  it("skips a pass while another replica holds the lock", async () => {
    const holder = await db.pool.connect();
    try {
      await holder.query("select pg_advisory_lock($1::bigint)", [COLLECTOR_LOCK_KEY.toString()]);
      const client = new PrometheusClient({ url: prom.url });
      const report = await collectOnce(
        { pool: db.pool, prometheus: client, settings: parseCollectorSettings({ window: "15m" }) },
        { fromMs, toMs: fromMs + WINDOW },
      );
      client.close();
      expect(report.status).toBe("locked");
      expect((await db.pool.query("select count(*)::int as n from collector_usage")).rows[0].n).toBe(0);
    } finally {
      await holder.query("select pg_advisory_unlock($1::bigint)", [COLLECTOR_LOCK_KEY.toString()]);
      holder.release();
    }
  });

  it("runs inside serve from env settings, catches up from the configured start and exports its metrics", async () => {
    const config = path.join(dir, "collector.yaml");
    await writeFile(config, `window: 15m\nstart: ${new Date(fromMs).toISOString()}\ninterval: 1s\ntenants:\n  - name: acme\n    namespaces: [acme-models, acme-dev]\n`);
    const registry = new Registry();
    const logs: string[] = [];
    const service = await startCollectorService({
      pool: db.pool,
      registry,
      log: { info: (_o, m) => logs.push(m), warn: (_o, m) => logs.push(m) },
      collector: loadConfig({}, { MAAS_BILLING_PROMETHEUS_URL: prom.url, MAAS_BILLING_COLLECTOR_CONFIG: config, MAAS_BILLING_DATA_DIR: dir }).collector,
    });
    expect(service).toBeDefined();
    try {
      // The scenario's 8 windows end before the newest closed window; the loop collects all of them.
      const watermark = await waitFor("the watermark to pass the scenario", async () => {
        const r = await db.pool.query(`select min(collected_until) as w from collector_watermark`);
        const w = r.rows[0].w as Date | null;
        return w && w.getTime() >= fromMs + 8 * WINDOW ? w : undefined;
      });
      expect(watermark.getTime() % WINDOW).toBe(0);
    } finally {
      await service!.stop();
    }
    const truthTokens = [...scenario.truth(true).values()].filter((r) => r.source === "gateway").reduce((a, r) => a + r.tokens, 0);
    const stored = await db.pool.query(`select sum(total_tokens)::bigint as t from collector_usage where billable`);
    expect(Number(stored.rows[0].t)).toBe(truthTokens);

    const text = await registry.metrics();
    const value = (line: RegExp) => Number(text.split("\n").find((l) => line.test(l))?.split(" ").pop());
    // One Limitador restart in the scenario: one reset per gateway series that lived through it.
    const resets = text.split("\n").filter((l) => l.startsWith("maas_billing_collector_counter_resets_total{")).reduce((a, l) => a + Number(l.split(" ").pop()), 0);
    const dbResets = (await db.pool.query(`select sum(resets)::int as n from collector_usage`)).rows[0].n;
    expect(resets).toBe(dbResets);
    expect(resets).toBeGreaterThan(0);
    expect(value(/^maas_billing_unattributed_tokens_total\{source="gateway"\}/)).toBe(scenario.unattributedTokens);
    expect(text).toMatch(/maas_billing_reconciliation_diff_ratio\{tenant="acme",model="llama-3-8b"\}/);
    expect(value(/^maas_billing_collector_lag_seconds\{source="gateway"\}/)).toBeGreaterThan(0);
    expect(logs).toContain("collector: started");
  }, 120_000);
});
