/**
 * The collector against a real Prometheus holding a scenario with known truth (resets, a gap,
 * repeated scrapes, late samples, traffic that bypassed the gateway, an unattributed route), and a
 * real PostgreSQL. The ledger must equal the truth exactly; the seeds' increase() is printed for
 * comparison. Every case runs on both read paths (collector setting `readApi`: the query API's
 * range selectors, and remote read), each against its own Prometheus and database; the Prometheus
 * has external labels, which remote read adds to every series and the collector must take off.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import os from "node:os";
import path from "node:path";
import { generateScenario, toOpenMetrics, type Scenario } from "./support/scenario";
import { startPostgres as startTestPostgres, type RunningPostgres as TestPostgres } from "../testkit/postgres";
import { gatewayTruth, readStoredReconciliations, readStoredUsage, reconciliationTruth } from "./support/scenario-ledger";
import { backfill, startPrometheus, type RunningPrometheus } from "../testkit/prometheus";
import { PrometheusClient } from "../src/collector/prometheus-client";
import { collectOnce, type CollectorDeps, type SampleSource } from "../src/collector/collect";
import { createSampleSource } from "../src/collector/sample-source";
import { parseCollectorSettings, type ReadApi } from "../src/contract";
import { migrate } from "../src/db/migrate";
import { COLLECTOR_ONLY } from "../src/db/migrations";
import { distribute } from "../src/pricebook/money";

const WINDOW = 15 * 60_000;
const WINDOWS = 16;
const SEED = Number(process.env.SCENARIO_SEED ?? 7);

/** Labels remote read adds to every series lacking them; `model` would land on rows that have none. */
const EXTERNAL_LABELS = "global:\n  scrape_interval: 15s\n  external_labels:\n    cluster: test-cluster\n    model: external-model\n";

describe.each<ReadApi>(["query", "remote-read"])(`collector on scenario seed ${SEED}, readApi %s`, (readApi) => {
  let dir: string;
  let prom: RunningPrometheus;
  let db: TestPostgres;
  let client: PrometheusClient;
  let source: ReturnType<typeof createSampleSource>;
  let scenario: Scenario;
  let fromMs: number;
  let toMs: number;
  let deps: CollectorDeps;

  /** `maas-billing collect --once` (the real binary) as a separate process; returns its JSON report. */
  const collectCli = async (...args: string[]) => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [path.join(__dirname, "..", "bin", "maas-billing.cjs"), "--log-level", "warn", "collect", "--once", "--prometheus-url", prom.url, "--config", path.join(dir, "collector.yaml"), ...args],
      { env: { ...process.env, DATABASE_URL: db.url } },
    );
    return JSON.parse(stdout) as Record<string, unknown>;
  };
  const iso = (ms: number) => new Date(ms).toISOString();

  const snapshot = async () =>
    (await db.pool.query(`select idempotency_key, xmin::text as x, content_hash from collector_usage order by 1`)).rows;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "maas-collector-"));
    // Recent data (Prometheus serves it like live data), aligned to the window size.
    fromMs = Math.floor(Date.now() / WINDOW) * WINDOW - (WINDOWS + 8) * WINDOW;
    toMs = fromMs + WINDOWS * WINDOW;
    scenario = generateScenario({ seed: SEED, startMs: fromMs, windows: WINDOWS, windowMs: WINDOW, scrapeMs: 15_000 });
    await backfill(toOpenMetrics(scenario.series), path.join(dir, "data"), dir);
    [prom, db] = await Promise.all([startPrometheus({ dir, config: EXTERNAL_LABELS }), startTestPostgres()]);
    await migrate(db.pool, COLLECTOR_ONLY);
    client = new PrometheusClient({ url: prom.url });
    source = createSampleSource(client, readApi);
    await writeFile(
      path.join(dir, "collector.yaml"),
      `window: 15m\nwindowsPerQuery: 4\nreadApi: ${readApi}\ntenants:\n${scenario.tenantMap.map((t) => `  - name: ${t.name}\n    namespaces: [${t.namespaces.join(", ")}]\n`).join("")}`,
    );
    deps = {
      pool: db.pool,
      prometheus: source,
      settings: parseCollectorSettings({ window: "15m", windowsPerQuery: 4, readApi, tenants: scenario.tenantMap }),
    };
  });

  afterAll(async () => {
    source?.close();
    client?.close();
    await prom?.stop();
    await db?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const expectLedgerEqualsTruth = async (includeLate: boolean) => {
    const truth = scenario.truth(includeLate);
    const stored = await readStoredUsage(db.pool);
    const got = new Map([...stored].filter(([, r]) => r.tokens + r.requests + r.limitedRequests > 0).map(([k, r]) => [k, { tokens: r.tokens, requests: r.requests, limitedRequests: r.limitedRequests }]));
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(gatewayTruth(truth)));
    // Model-server side, per tenant, model and window, as stored by the reconciliation.
    const recs = await readStoredReconciliations(db.pool);
    const modelGot = Object.fromEntries(
      recs.filter((r) => r.model !== null).map((r) => [JSON.stringify([r.tenant, r.model, r.windowStartMs]), { gateway: r.gatewayTokens, input: r.modelInputTokens, output: r.modelOutputTokens }]),
    );
    expect(modelGot).toEqual(Object.fromEntries(reconciliationTruth(truth)));
  };

  it("books exactly the truth, with the late samples still missing (collect --once)", async () => {
    const report = await collectCli("--from", iso(fromMs), "--to", iso(toMs));
    expect(report).toMatchObject({ status: "collected", chunks: 4, from: iso(fromMs), to: iso(toMs) });
    await expectLedgerEqualsTruth(false);
  });

  it("changes nothing when the same range is collected again", async () => {
    const before = await snapshot();
    const report = await collectCli("--from", iso(fromMs), "--to", iso(toMs));
    expect(report).toMatchObject({ usageRowsChanged: 0, usageRowsZeroed: 0, reconciliationsChanged: 0, unattributedChanged: 0 });
    expect(await snapshot()).toEqual(before);
  });

  it("corrects the windows when late samples arrive, and still equals the truth", async () => {
    await backfill(toOpenMetrics(scenario.series.map((s) => ({ ...s, samples: s.lateSamples }))), prom.dataDir, dir);
    prom = await prom.restart();
    source.close();
    client.close();
    client = new PrometheusClient({ url: prom.url });
    source = createSampleSource(client, readApi);
    deps = { ...deps, prometheus: source };
    const report = await collectOnce(deps, { fromMs, toMs });
    expect(source.resolved()).toBe(readApi);
    expect(report.usageRowsChanged + report.reconciliationsChanged).toBeGreaterThan(0);
    await expectLedgerEqualsTruth(true);
  });

  it("flags resets and gaps on the rows where they happened", async () => {
    const windowOf = (t: number) => Math.floor(t / WINDOW) * WINDOW;
    const rows = (await db.pool.query(`select source, window_start, resets, gaps, series from collector_usage where resets > 0 or gaps > 0`)).rows;
    // One Limitador restart: each gateway series that lived through it (hits and calls of every
    // user and limited_calls) shows one reset, in the window of the first scrape after it.
    const resetWindows = new Set(rows.filter((r) => r.resets > 0).map((r) => (r.window_start as Date).getTime()));
    expect([...resetWindows]).toEqual([windowOf(scenario.restartAtMs + 15_000)]);
    const resets = rows.reduce((a, r) => a + r.resets, 0);
    const gatewaySeriesBeforeRestart = scenario.series.filter((s) => s.metric !== "vllm:prompt_tokens_total" && s.metric !== "vllm:generation_tokens_total" && s.labels.user !== "dave" && s.labels.limitador_namespace !== "stray-route").length;
    expect(resets).toBe(gatewaySeriesBeforeRestart);
    // Each scrape outage is a gap in the window of the first sample after it, and in the window of
    // the last sample before it when that window ends more than the threshold later; nowhere else.
    const gapWindows = new Set(rows.filter((r) => r.gaps > 0).map((r) => `${r.source} ${(r.window_start as Date).toISOString()}`));
    const expected = new Set<string>();
    for (const o of scenario.outages) {
      for (const s of scenario.series.filter(o.affects)) {
        const all = [...s.samples, ...s.lateSamples].map((x) => x.t);
        const lastBefore = Math.max(...all.filter((t) => t <= o.fromMs));
        const firstAfter = Math.min(...all.filter((t) => t >= o.toMs - 15_000));
        const source = s.metric.startsWith("vllm:") ? "model-server" : "gateway";
        expected.add(`${source} ${new Date(windowOf(firstAfter)).toISOString()}`);
        if (windowOf(lastBefore) + WINDOW - lastBefore > 45_000) expected.add(`${source} ${new Date(windowOf(lastBefore)).toISOString()}`);
      }
    }
    expect([...gapWindows].sort()).toEqual([...expected].sort());
  });

  it("reports the unattributed route instead of dropping it", async () => {
    const res = await db.pool.query(`select reason, sum(amount)::bigint as amount from collector_unattributed where metric = 'authorized_hits' group by reason`);
    expect(scenario.unattributedTokens).toBeGreaterThan(0);
    expect(res.rows).toEqual([{ reason: 'limitador_namespace "stray-route" is not "<namespace>/<route>"', amount: String(scenario.unattributedTokens) }]);
  });

  it("reconciles gateway with model server, flags the bypass and apportions the split exactly", async () => {
    const recs = await readStoredReconciliations(db.pool);
    const usage = [...(await readStoredUsage(db.pool)).values()];
    for (const r of recs.filter((x) => x.model !== null)) {
      const scale = Math.max(r.gatewayTokens, r.modelInputTokens + r.modelOutputTokens);
      expect(r.diffTokens).toBe(r.gatewayTokens - r.modelInputTokens - r.modelOutputTokens);
      expect(r.flagged).toBe(scale > 0 && Math.abs(r.diffTokens) / scale > 0.05);
      const [input] = distribute(BigInt(r.gatewayTokens), [BigInt(r.modelInputTokens), BigInt(r.modelOutputTokens)]);
      if (r.modelInputTokens + r.modelOutputTokens > 0) expect(r.apportionedInputTokens).toBe(Number(input));
    }
    // The direct model-server traffic (12,000 tokens that never crossed the gateway) is flagged.
    expect(recs.some((r) => r.tenant === "globex-llm" && r.diffTokens <= -12_000 && r.flagged)).toBe(true);
    // Every row's input + output equals its total, and the rows of a group add up to the group's split.
    for (const u of usage) expect(u.inputTokens + u.outputTokens).toBe(u.tokens);
    const byGroup = new Map<string, number>();
    for (const u of usage) if (u.reconciliationKey) byGroup.set(u.reconciliationKey, (byGroup.get(u.reconciliationKey) ?? 0) + u.inputTokens);
    const groups = await db.pool.query(`select tenant, model, window_start, apportioned_input_tokens from collector_reconciliation where gateway_tokens > 0`);
    for (const g of groups.rows) {
      const key = `${g.tenant}|${g.model ?? ""}|${(g.window_start as Date).toISOString()}`;
      expect(byGroup.get(key)).toBe(Number(g.apportioned_input_tokens));
    }
  });

  it("resumes after a crash in the middle of a range without loss or double counting", async () => {
    await db.pool.query("truncate collector_usage, collector_reconciliation, collector_unattributed, collector_watermark");
    // The third chunk dies after its first query, as if the process were killed mid-range.
    let queries = 0;
    const crashing: SampleSource = {
      lastValueAtOrBefore: (...args) => source.lastValueAtOrBefore(...args),
      rawSamples: async (...args) => {
        queries += 1;
        if (queries === 2 * 5 + 1) throw new Error("simulated crash");
        return source.rawSamples(...args);
      },
    };
    await expect(collectOnce({ ...deps, prometheus: crashing }, { fromMs, toMs })).rejects.toThrow("simulated crash");
    const wm = await db.pool.query(`select source, collected_until from collector_watermark order by source`);
    expect(wm.rows.map((r) => (r.collected_until as Date).getTime())).toEqual([fromMs + 8 * WINDOW, fromMs + 8 * WINDOW]);
    // Resume from the watermark (minus one window collected again) up to the end.
    const report = await collectOnce(deps, { toMs });
    expect(report).toMatchObject({ status: "collected", fromMs: fromMs + 7 * WINDOW, toMs });
    await expectLedgerEqualsTruth(true);
  });

  it.each([
    ["one exact-series query per series", 16],
    ["one query per counter first (as after an outage of every target)", 0],
  ])("a pass that starts inside a long outage finds the value from before it, %s", async (_name, anchorBatchAbove) => {
    await db.pool.query("truncate collector_usage, collector_reconciliation, collector_unattributed, collector_watermark");
    // The 150-minute vLLM partition: split the range an hour into it, far beyond the lookback.
    const partition = scenario.outages[1];
    const mid = Math.floor((partition.fromMs + 3_600_000) / WINDOW) * WINDOW;
    const d = { ...deps, settings: { ...deps.settings, anchorBatchAbove } };
    await collectOnce(d, { fromMs, toMs: mid });
    await collectOnce(d, { fromMs: mid, toMs });
    await expectLedgerEqualsTruth(true);
  });

  it("reads only the scrape job given in the matchers (a second job on the same target would count twice)", async () => {
    await db.pool.query("truncate collector_usage, collector_reconciliation, collector_unattributed, collector_watermark");
    const only = (gatewayMatchers: string) => ({ ...deps, settings: { ...deps.settings, gatewayMatchers } });
    await collectOnce(only('{job="limitador-duplicate"}'), { fromMs, toMs });
    const counts = await db.pool.query(`select source, count(*)::int as n from collector_usage group by 1 order by 1`);
    expect(counts.rows).toEqual([{ source: "model-server", n: expect.any(Number) }]);
    await collectOnce(only('{job="limitador"}'), { fromMs, toMs });
    await expectLedgerEqualsTruth(true);
  });

  it("prints how far the seeds' increase() is from the truth on the same data", async () => {
    const truth = gatewayTruth(scenario.truth(true));
    const truthTotal = [...truth.values()].reduce((a, r) => a + r.tokens, 0);
    const ours = (await db.pool.query(`select coalesce(sum(total_tokens), 0)::bigint as t from collector_usage where billable`)).rows[0].t;
    const sel = `authorized_hits{limitador_namespace!="stray-route"}`;
    const whole = await client.instant(`sum(increase(${sel}[${(toMs - fromMs) / 1000}s]))`, toMs);
    let perWindowSum = 0;
    let worst = 0;
    const lines: string[] = [];
    for (let w = fromMs; w < toMs; w += WINDOW) {
      const v = await client.instant(`sum(increase(${sel}[${WINDOW / 1000}s]))`, w + WINDOW);
      const inc = v.length ? Number(v[0].value[1]) : 0;
      const t = [...scenario.truth(true).values()].filter((r) => r.source === "gateway" && r.windowStartMs === w).reduce((a, r) => a + r.tokens, 0);
      perWindowSum += inc;
      if (Math.abs((100 * (inc - t)) / t) > Math.abs(worst)) worst = (100 * (inc - t)) / t;
      lines.push(`${new Date(w).toISOString().slice(11, 16)}  truth ${String(t).padStart(8)}  increase() ${inc.toFixed(1).padStart(11)}  off ${((100 * (inc - t)) / t).toFixed(2).padStart(7)}%`);
    }
    const wholeInc = Number(whole[0].value[1]);
    // What an invoice line sees: per tenant, user, tier, model and window, increase() vs truth.
    const truthRows = scenario.truth(true);
    const owner = (ns: string) => scenario.tenantMap.find((t) => t.namespaces.includes(ns))?.name ?? ns;
    let rows = 0;
    let exactRows = 0;
    let absErrorSum = 0;
    let worstRow = 0;
    for (let w = fromMs; w < toMs; w += WINDOW) {
      const v = await client.instant(`sum by (limitador_namespace, user, tier, subscription, model) (increase(${sel}[${WINDOW / 1000}s]))`, w + WINDOW);
      for (const e of v) {
        const m = e.metric;
        const key = JSON.stringify(["gateway", owner(m.limitador_namespace.split("/")[0]), m.user ?? null, m.tier ?? m.subscription ?? null, m.model ?? null, w]);
        const t = truthRows.get(key)?.tokens ?? 0;
        if (t === 0) continue;
        const err = (100 * (Number(e.value[1]) - t)) / t;
        rows += 1;
        if (Number(e.value[1]) === t) exactRows += 1;
        absErrorSum += Math.abs(err);
        if (Math.abs(err) > Math.abs(worstRow)) worstRow = err;
      }
    }
    // 002's dashboards read the raw counter: the difference of sums at the range edges loses
    // everything counted before the restart.
    const rawAt = async (t: number) => Number((await client.instant(`sum(${sel})`, t))[0]?.value[1] ?? 0);
    const rawDiff = (await rawAt(toMs)) - (await rawAt(fromMs + 15_000));
    const pct = (x: number) => `${((100 * (x - truthTotal)) / truthTotal).toFixed(3)}%`;
    console.log(
      [
        `scenario seed ${SEED}: ${scenario.events.join("; ")}`,
        ...lines,
        `total tokens: truth ${truthTotal}, collector ${ours} (off ${pct(Number(ours))}),`,
        `  sum of per-window increase() ${perWindowSum.toFixed(1)} (off ${(perWindowSum - truthTotal).toFixed(1)}, ${pct(perWindowSum)}; worst window ${worst.toFixed(2)}%)`,
        `  increase() over the whole range ${wholeInc.toFixed(1)} (off ${(wholeInc - truthTotal).toFixed(1)}, ${pct(wholeInc)})`,
        `  per ledger row (tenant, user, tier, model, 15-min window): increase() exact on ${exactRows} of ${rows} rows, mean |error| ${(absErrorSum / rows).toFixed(2)}%, worst ${worstRow.toFixed(2)}%; collector exact on all rows`,
        `  raw counter difference (sum at end - sum at start) ${rawDiff} (off ${rawDiff - truthTotal}, ${pct(rawDiff)})`,
      ].join("\n"),
    );
    expect(Number(ours)).toBe(truthTotal);
    expect(perWindowSum).not.toBe(truthTotal);
    expect(exactRows).toBeLessThan(rows);
  });
});
