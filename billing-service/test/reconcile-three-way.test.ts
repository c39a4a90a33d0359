/**
 * Three-way reconciliation with injected disagreements, on real parts: Limitador and vLLM counters
 * in a real Prometheus read by the real collector, access logs posted over OTLP (the OpenTelemetry
 * JS serializer) to `maas-billing serve`, real PostgreSQL. Three 15-minute windows of one tenant
 * and model:
 *   1. all three sources agree (1,200 tokens each);
 *   2. a third of the access-log records never arrive (lost logs): access logs 800, the counters 1,200;
 *   3. traffic that bypassed the gateway: the model servers count 600 more than gateway and logs.
 * The report flags windows 2 and 3 with the disagreeing pairs, leaves window 1 alone, and the
 * invoice (billable source: access logs) bills the access-log rows, says so in its lineage, and
 * bills no gateway row.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { newToken } from "../src/auth/static";
import { collectOnce } from "../src/collector/collect";
import type { Sample } from "../src/collector/counter-usage";
import { PrometheusClient } from "../src/collector/prometheus-client";
import { parseCollectorSettings } from "../src/contract";
import { postLogs, serializeLogs, type AccessLogRecord } from "../testkit/access-logs";
import { backfill, startPrometheus, type RunningPrometheus } from "../testkit/prometheus";
import { startService, type ServiceProcess } from "../testkit/service";
import { startBillingDb, TEST_PRICE_BOOK_YAML, type BillingTestDb } from "./support/billing-db";
import { toOpenMetrics } from "./support/scenario";

const WINDOW = 15 * 60_000;
const SCRAPE = 15_000;
const SCRAPES = WINDOW / SCRAPE; // 60
const SETTINGS = { window: "15m", tenants: [{ name: "acme", namespaces: ["acme-models"] }], billableSource: "access-log" as const, reconcileTolerance: 0.05 };
const sender = newToken("sender-otel", { sources: ["//gateway/access-log"] });

let dir: string;
let prom: RunningPrometheus;
let db: BillingTestDb;
let service: ServiceProcess;
let fromMs: number;
let period: string;

/** A counter scraped every 15 s from `start` for `n` scrapes, growing by `perScrape` from `base`. */
const counter = (start: number, n: number, base: number, perScrape: (i: number) => number): Sample[] => {
  const out: Sample[] = [];
  let v = base;
  for (let i = 0; i < n; i++) {
    out.push({ t: start + i * SCRAPE, v });
    v += perScrape(i);
  }
  return out;
};

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "maas-reconcile-"));
  fromMs = Math.floor(Date.now() / WINDOW) * WINDOW - 8 * WINDOW;
  while (new Date(fromMs).getUTCMonth() !== new Date(fromMs + 4 * WINDOW).getUTCMonth()) fromMs -= WINDOW;
  period = new Date(fromMs).toISOString().slice(0, 7);
  // Window k covers (fromMs + k*W, fromMs + (k+1)*W]: samples from the start of window 1 (value 0) to the end of window 3.
  const start = fromMs + WINDOW;
  const n = 3 * SCRAPES + 1;
  // Per scrape: 15 prompt + 5 completion tokens = 20; in window 3 the model servers see 10 more per scrape.
  const windowOf = (i: number) => Math.floor((i * SCRAPE + SCRAPE - 1) / WINDOW); // the window of sample i+1
  const gatewayLabels = { limitador_namespace: "acme-models/llama", model: "llama", tier: "premium", user: "alice" };
  const vllmLabels = { namespace: "acme-models", model_name: "llama" };
  const series = [
    { metric: "authorized_hits", labels: gatewayLabels, samples: counter(start, n, 0, () => 20) },
    { metric: "authorized_calls", labels: { limitador_namespace: "acme-models/llama", tier: "premium", user: "alice" }, samples: counter(start, n, 0, () => 1) },
    { metric: "vllm:prompt_tokens_total", labels: vllmLabels, samples: counter(start, n, 0, (i) => (windowOf(i) === 2 ? 25 : 15)) },
    { metric: "vllm:generation_tokens_total", labels: vllmLabels, samples: counter(start, n, 0, () => 5) },
  ];
  await backfill(toOpenMetrics(series), path.join(dir, "data"), dir);
  [prom, db] = await Promise.all([startPrometheus({ dir }), startBillingDb()]);
  const client = new PrometheusClient({ url: prom.url });
  try {
    await collectOnce({ pool: db.pool, prometheus: client, settings: parseCollectorSettings(SETTINGS) }, { fromMs, toMs: fromMs + 4 * WINDOW });
  } finally {
    client.close();
  }
  const bookFile = path.join(dir, "pricebook.yaml");
  await writeFile(bookFile, TEST_PRICE_BOOK_YAML);
  const configFile = path.join(dir, "collector.yaml");
  await writeFile(configFile, stringify({ ...SETTINGS, start: new Date(fromMs).toISOString() }));
  service = await startService({
    databaseUrl: db.url,
    dataDir: dir,
    tokens: [sender.entry],
    env: { MAAS_BILLING_PROMETHEUS_URL: prom.url, MAAS_BILLING_COLLECTOR_CONFIG: configFile, MAAS_BILLING_PRICE_BOOK: bookFile, LOG_LEVEL: "warn" },
  });
  // One access-log record per request: 60 requests of 15 + 5 tokens per window, routed by namespace;
  // window 2 loses every third record on its way.
  const records: AccessLogRecord[] = [];
  for (let w = 0; w < 3; w++) {
    for (let i = 0; i < SCRAPES; i++) {
      if (w === 1 && i % 3 === 2) continue;
      const ms = fromMs + (w + 1) * WINDOW + i * SCRAPE + 1000;
      records.push({
        timeUnixNano: (BigInt(ms) * 1_000_000n + BigInt(i)).toString(),
        attributes: { route_namespace: "acme-models", user_id: "alice", subscription: "premium", model: "llama", key_id: "k1", key_name: "alice laptop", response_code: "200", response_type: "hit", tokens_prompt: "15", tokens_completion: "5", tokens_total: "20" },
      });
    }
  }
  const res = await postLogs(service.url, sender.token, serializeLogs(records, "protobuf"), "protobuf");
  expect(res.status).toBe(200);
}, 240_000);

afterAll(async () => {
  await service?.kill("SIGTERM");
  await prom?.stop();
  await db?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe("three-way reconciliation: access logs vs Limitador vs model servers", () => {
  it("flags the windows where a pair disagrees beyond the tolerance, with the differences", async () => {
    const from = new Date(fromMs).toISOString();
    const to = new Date(fromMs + 5 * WINDOW).toISOString();
    const res = await fetch(`${service.url}/v1/tenants/acme/reconciliation?from=${from}&to=${to}`, { headers: { authorization: `Bearer ${service.token}` } });
    expect(res.status).toBe(200);
    const report = (await res.json()) as { present: string[]; billableSource: string; windowSeconds: number; rows: Array<{ windowStart: string; model: string; tokens: Record<string, string | null>; diffRatios: Record<string, number>; flagged: boolean }> };
    expect(report.present).toEqual(["access-log", "gateway", "model-server"]);
    expect(report.billableSource).toBe("access-log");
    expect(report.windowSeconds).toBe(900);
    const w = (k: number) => new Date(fromMs + k * WINDOW).toISOString();
    const rows = report.rows
      .filter((r) => r.model === "llama" && Object.values(r.tokens).some((v) => v !== null && v !== "0")).map((r) => ({ window: r.windowStart, tokens: r.tokens, flagged: r.flagged, diffs: r.diffRatios }));
    expect(rows).toEqual([
      { window: w(1), tokens: { "access-log": "1200", gateway: "1200", "model-server": "1200" }, flagged: false, diffs: { "access-log/gateway": 0, "access-log/model-server": 0, "gateway/model-server": 0 } },
      { window: w(2), tokens: { "access-log": "800", gateway: "1200", "model-server": "1200" }, flagged: true, diffs: { "access-log/gateway": 0.333333, "access-log/model-server": 0.333333, "gateway/model-server": 0 } },
      { window: w(3), tokens: { "access-log": "1200", gateway: "1200", "model-server": "1800" }, flagged: true, diffs: { "access-log/gateway": 0, "access-log/model-server": 0.333333, "gateway/model-server": 0.333333 } },
    ]);
    // A wider tolerance clears both.
    const wide = (await (await fetch(`${service.url}/v1/tenants/acme/reconciliation?from=${from}&to=${to}&tolerance=0.5`, { headers: { authorization: `Bearer ${service.token}` } })).json()) as { flaggedWindows: number };
    expect(wide.flaggedWindows).toBe(0);
  }, 60_000);

  it("bills the chosen source only and records it in the invoice lineage", async () => {
    const created = await fetch(`${service.url}/v1/tenants/acme/invoices`, {
      method: "POST",
      headers: { authorization: `Bearer ${service.token}`, "content-type": "application/json" },
      body: JSON.stringify({ period }),
    });
    expect(created.status).toBe(201);
    const invoice = (await created.json()) as { lines: Array<{ component: string; quantity: string; lineage: { billedFrom: string[]; origins: string[] } }> };
    const quantity = (c: string) => invoice.lines.filter((l) => l.component === c).reduce((a, l) => a + Number(l.quantity), 0);
    // 160 access-log requests of 15 + 5 tokens; the gateway's 3 x 1,200 tokens are not billed again.
    expect([quantity("input_tokens"), quantity("output_tokens"), quantity("requests")]).toEqual([2400, 800, 160]);
    expect(new Set(invoice.lines.flatMap((l) => l.lineage.billedFrom))).toEqual(new Set(["gateway access logs"]));
    const gatewayBilled = await db.pool.query("select count(*)::int as n from collector_usage where billable");
    expect(gatewayBilled.rows[0].n).toBe(0);
  }, 60_000);
});
