/**
 * Limitador series shaped like Kuadrant's TokenRateLimitPolicy in `Reservation` mode (RFC 0021,
 * Kuadrant/limitador#515; sources in docs/collector.md "What authorized_hits counts"): on arrival the
 * gateway *reserves* an estimate (admission: `authorized_calls` +1, or `limited_calls` +1 when the
 * reservation would exceed the limit); when the model answers it *commits* the actual
 * `usage.total_tokens`, which Limitador applies to its counters like a Report (`authorized_hits`
 * +actual, at the commit's time, possibly one window later than the arrival); a request that fails
 * commits 0 and an abandoned reservation just expires: neither moves a counter, and nothing ever
 * decrements one (Prometheus counters). Backfilled into a real Prometheus with promtool and collected
 * into a real PostgreSQL:
 *  - "committed" (the behaviour the sources describe): every window's tokens are the commits that
 *    landed in it, requests the admissions, the month total equals the committed actual usage, and
 *    the reconciliation against the model servers' counters is clean;
 *  - "reservation counted" (a Limitador that also added the reserved estimate to `authorized_hits`,
 *    the reading docs/collector.md warns about): the collector's gateway figure is then the estimate
 *    plus the actual, and the reconciliation flags every window with the estimates' share, which is
 *    how an operator sees it (maas_billing_reconciliation_diff_ratio) before an invoice goes out.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backfill, startPrometheus } from "../testkit/prometheus";
import { collectOnce } from "../src/collector/collect";
import { PrometheusClient } from "../src/collector/prometheus-client";
import { parseCollectorSettings } from "../src/contract/collector-settings";
import { startBillingDb, type BillingTestDb } from "./support/billing-db";

const WINDOW = 15 * 60_000;
const WINDOWS = 4;
const STEP = 15_000;
/** The estimate the gateway reserves per request (RFC 0021's default amount is uint(5000)). */
const RESERVED = 5000;

type Outcome = "committed" | "failed" | "limited" | "expired";
interface Req {
  arrival: number;
  commit: number;
  outcome: Outcome;
  input: number;
  output: number;
}

let dir: string;
let db: BillingTestDb;
let fromMs: number;
let toMs: number;
let requests: Req[];

/** Deterministic requests: arrivals every 20 s, latencies up to 4 min (some commits land in the next window). */
const makeRequests = (start: number): Req[] => {
  const out: Req[] = [];
  let x = 7;
  const rnd = (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return (x >>> 16) % n; // the high bits: the low bits of this generator repeat with a short period
  };
  for (let t = start + 5_000; t < start + WINDOWS * WINDOW - 5 * 60_000; t += 20_000) {
    const kind = rnd(10);
    const outcome: Outcome = kind < 7 ? "committed" : kind === 7 ? "failed" : kind === 8 ? "limited" : "expired";
    out.push({ arrival: t, commit: t + 2_000 + rnd(240) * 1_000, outcome, input: 100 + rnd(900), output: 10 + rnd(400) });
  }
  return out;
};

/** A counter's value at sample time `t`: the sum of the increments at or before it. */
const valueAt = (events: Array<[number, number]>, t: number) => events.reduce((a, [at, n]) => (at <= t ? a + n : a), 0);

const openMetrics = (reservationCounted: boolean): string => {
  const start = fromMs - WINDOW;
  const times: number[] = [];
  for (let t = start; t <= toMs; t += STEP) times.push(t);
  const calls: Array<[number, number]> = requests.filter((r) => r.outcome !== "limited").map((r) => [r.arrival, 1]);
  const limited: Array<[number, number]> = requests.filter((r) => r.outcome === "limited").map((r) => [r.arrival, 1]);
  const hits: Array<[number, number]> = requests.filter((r) => r.outcome === "committed").map((r) => [r.commit, r.input + r.output]);
  const prompt: Array<[number, number]> = requests.filter((r) => r.outcome === "committed").map((r) => [r.commit, r.input]);
  const generation: Array<[number, number]> = requests.filter((r) => r.outcome === "committed").map((r) => [r.commit, r.output]);
  // The misreading: the reserved estimate also added to authorized_hits on every admitted arrival.
  const hitsSeen = reservationCounted ? [...hits, ...calls.map(([t]) => [t, RESERVED] as [number, number])] : hits;
  const lines: string[] = [];
  const family = (name: string, series: Array<[string, Record<string, string>, Array<[number, number]>]>) => {
    lines.push(`# TYPE ${name} counter`);
    for (const [sample, labels, events] of series) {
      const l = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(",");
      for (const t of times) lines.push(`${sample}{${l}} ${valueAt(events, t)} ${t / 1000}`);
    }
  };
  const gw = { limitador_namespace: "acme-models/llm", namespace: "kuadrant-system", tier: "gold" };
  family("authorized_hits", [["authorized_hits", { ...gw, model: "llama" }, hitsSeen]]);
  family("authorized_calls", [["authorized_calls", gw, calls]]);
  family("limited_calls", [["limited_calls", gw, limited]]);
  const pod = { namespace: "acme-models", model_name: "llama", pod: "llama-0" };
  family("vllm:prompt_tokens", [["vllm:prompt_tokens_total", pod, prompt]]);
  family("vllm:generation_tokens", [["vllm:generation_tokens_total", pod, generation]]);
  return `${lines.join("\n")}\n# EOF\n`;
};

/**
 * The window a counter increment at `t` is booked in: windows are (start, end] and book each
 * increase at its later sample (src/collector/counter-usage.ts), here the first sample at or after `t`.
 */
const windowOf = (t: number) => Math.ceil((Math.ceil(t / STEP) * STEP - fromMs) / WINDOW) - 1;

const collectInto = async (reservationCounted: boolean, sub: string) => {
  const d = path.join(dir, sub);
  await mkdir(d, { recursive: true });
  await backfill(openMetrics(reservationCounted), path.join(d, "data"), d);
  const p = await startPrometheus({ dir: d });
  const c = new PrometheusClient({ url: p.url });
  try {
    await db.pool.query("truncate collector_usage, collector_reconciliation, collector_unattributed, collector_watermark");
    const settings = parseCollectorSettings({ window: "15m", tenants: [{ name: "acme", namespaces: ["acme-models"] }], strictTenants: true });
    const report = await collectOnce({ pool: db.pool, prometheus: c, settings }, { fromMs, toMs });
    expect(report.status).toBe("collected");
  } finally {
    c.close();
    await p.stop();
  }
};

const perWindow = async () =>
  (
    await db.pool.query<{ w: number; tokens: number; requests: number; limited: number }>(
      `select ((extract(epoch from window_start) * 1000 - $1) / $2)::int as w, sum(total_tokens)::int as tokens,
              sum(requests)::int as requests, sum(limited_requests)::int as limited
         from collector_usage where billable and tenant = 'acme' group by 1 order by 1`,
      [fromMs, WINDOW],
    )
  ).rows;

const reconciliations = async () =>
  (
    await db.pool.query<{ w: number; gateway: number; model: number; flagged: boolean; ratio: number }>(
      `select ((extract(epoch from window_start) * 1000 - $1) / $2)::int as w, gateway_tokens::int as gateway,
              (model_input_tokens + model_output_tokens)::int as model, flagged, diff_ratio as ratio
         from collector_reconciliation where tenant = 'acme' and model = 'llama' order by 1`,
      [fromMs, WINDOW],
    )
  ).rows;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "maas-reservation-"));
  fromMs = Math.floor(Date.now() / WINDOW) * WINDOW - (WINDOWS + 4) * WINDOW;
  toMs = fromMs + WINDOWS * WINDOW;
  requests = makeRequests(fromMs);
  db = await startBillingDb();
}, 180_000);

afterAll(async () => {
  await db?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("Reservation-mode Limitador series through the collector", () => {
  it("bills the committed actual usage in the window each commit landed in; failed, rejected and expired reservations bill nothing", async () => {
    await collectInto(false, "committed");
    const want = Array.from({ length: WINDOWS }, (_, w) => ({
      w,
      tokens: requests.filter((r) => r.outcome === "committed" && windowOf(r.commit) === w).reduce((a, r) => a + r.input + r.output, 0),
      requests: requests.filter((r) => r.outcome !== "limited" && windowOf(r.arrival) === w).length,
      limited: requests.filter((r) => r.outcome === "limited" && windowOf(r.arrival) === w).length,
    }));
    // The scenario has every case: commits one window after their arrival, and each outcome.
    expect(requests.some((r) => r.outcome === "committed" && windowOf(r.commit) !== windowOf(r.arrival))).toBe(true);
    expect(new Set(requests.map((r) => r.outcome))).toEqual(new Set(["committed", "failed", "limited", "expired"]));
    expect(await perWindow()).toEqual(want);
    const committed = requests.filter((r) => r.outcome === "committed").reduce((a, r) => a + r.input + r.output, 0);
    expect(want.reduce((a, w) => a + w.tokens, 0)).toBe(committed);
    // Gateway and model servers count the same commits: no window flagged.
    const recs = await reconciliations();
    expect(recs.length).toBe(WINDOWS);
    expect(recs.filter((r) => r.flagged)).toEqual([]);
    expect(recs.map((r) => r.gateway)).toEqual(recs.map((r) => r.model));
  }, 180_000);

  it("the check can fail: a Limitador that also counted the reserved estimate in authorized_hits is billed high, and the reconciliation flags every window", async () => {
    await collectInto(true, "reservation-counted");
    const rows = await perWindow();
    const committed = requests.filter((r) => r.outcome === "committed").reduce((a, r) => a + r.input + r.output, 0);
    const admitted = requests.filter((r) => r.outcome !== "limited").length;
    expect(rows.reduce((a, w) => a + w.tokens, 0)).toBe(committed + admitted * RESERVED);
    const recs = await reconciliations();
    expect(recs.length).toBe(WINDOWS);
    expect(recs.every((r) => r.flagged && r.gateway > r.model && r.ratio > 0.05)).toBe(true);
  }, 180_000);
});
