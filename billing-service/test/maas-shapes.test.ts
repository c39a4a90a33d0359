/**
 * Series shaped like Red Hat OpenShift AI's MaaS stores them: Limitador counters named
 * `authorized_hits_total` (the older `authorized_hits` also present, with other values, as after a
 * migration: reading both would count twice), the plan in `subscription`, no `user` label
 * (`captureUser: false`), and the subscription's `organization_id` and `cost_center`. Backfilled
 * into a real Prometheus with promtool, collected into a real PostgreSQL, then usage API group-by,
 * invoice lines and FOCUS Tags: every number exact, on both read paths (query API and remote read).
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backfill, startPrometheus, type RunningPrometheus } from "../testkit/prometheus";
import { collectOnce } from "../src/collector/collect";
import { PrometheusClient } from "../src/collector/prometheus-client";
import { createSampleSource } from "../src/collector/sample-source";
import { parseCollectorSettings, type ReadApi } from "../src/contract/collector-settings";
import { periodOf } from "../src/invoices/periods";
import { invoicesToFocus } from "../src/invoices/render";
import { createInvoice, type Invoice } from "../src/invoices/store";
import { parsePriceBook } from "../src/pricebook/pricebook";
import { queryUsage, usageToCsv } from "../src/usage/query";
import { startBillingDb, type BillingTestDb } from "./support/billing-db";

const WINDOW = 15 * 60_000;
const WINDOWS = 4;
const STEP = 15_000;
const STEPS_PER_WINDOW = WINDOW / STEP;
/** Gateway tokens per scrape step per subscription's organization (MaaS labels), and requests. */
const ORGS = [
  { organization_id: "org-1", cost_center: "cc-42", tokensPerStep: 5, callsPerStep: 1 },
  { organization_id: "org-2", cost_center: "cc-77", tokensPerStep: 10, callsPerStep: 2 },
];
/** Model-server tokens per step (prompt : generation = 2 : 1, same total as the gateway). */
const PROMPT_PER_STEP = 10;
const GENERATION_PER_STEP = 5;

const BOOK = parsePriceBook(`
currency: USD
minorUnitDigits: 2
versions:
  - effectiveFrom: "2020-01-01T00:00:00Z"
    prices:
      # Request counts carry no model label (authorized_calls has none): "*" prices them.
      - { tier: gold, model: "*", inputPerMillionTokens: "7.00", outputPerMillionTokens: "21.00", perRequest: "0.01" }
`);

describe.each<ReadApi>(["query", "remote-read"])("readApi %s (collector setting)", (readApi) => {
  let dir: string;
  let prom: RunningPrometheus;
  let db: BillingTestDb;
  let client: PrometheusClient;
  let fromMs: number;
  let toMs: number;

  /** OpenMetrics text: one sample per step over [fromMs - 15 min, toMs], counters from 0. */
  const openMetrics = (): string => {
    const start = fromMs - WINDOW;
    const times: number[] = [];
    for (let t = start; t <= toMs; t += STEP) times.push(t);
    const lines: string[] = [];
    const family = (name: string, type: string, series: Array<[string, Record<string, string>, number]>) => {
      lines.push(`# TYPE ${name} ${type}`);
      for (const [sample, labels, perStep] of series) {
        const l = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(",");
        for (const t of times) lines.push(`${sample}{${l}} ${((t - start) / STEP) * perStep} ${t / 1000}`);
      }
    };
    const gw = (o: (typeof ORGS)[number]) => ({
      limitador_namespace: "acme-models/llm",
      namespace: "kuadrant-system",
      subscription: "gold",
      organization_id: o.organization_id,
      cost_center: o.cost_center,
    });
    family("authorized_hits", "counter", ORGS.map((o) => ["authorized_hits_total", { ...gw(o), model: "llama" }, o.tokensPerStep]));
    family("authorized_calls", "counter", ORGS.map((o) => ["authorized_calls_total", gw(o), o.callsPerStep]));
    // The old name next to the new one (other values): the collector must read exactly one of them.
    family("authorized_hits_legacy", "unknown", ORGS.map((o) => ["authorized_hits", { ...gw(o), model: "llama" }, o.tokensPerStep * 1000]));
    const pod = { namespace: "acme-models", model_name: "llama", pod: "llama-0" };
    family("kserve_vllm:prompt_tokens", "counter", [["kserve_vllm:prompt_tokens_total", pod, PROMPT_PER_STEP]]);
    family("kserve_vllm:generation_tokens", "counter", [["kserve_vllm:generation_tokens_total", pod, GENERATION_PER_STEP]]);
    return `${lines.join("\n")}\n# EOF\n`;
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "maas-shapes-"));
    fromMs = Math.floor(Date.now() / WINDOW) * WINDOW - (WINDOWS + 4) * WINDOW;
    toMs = fromMs + WINDOWS * WINDOW;
    await backfill(openMetrics(), path.join(dir, "data"), dir);
    [prom, db] = await Promise.all([startPrometheus({ dir }), startBillingDb()]);
    client = new PrometheusClient({ url: prom.url });
    const settings = parseCollectorSettings({
      window: "15m",
      vllmFamily: "kserve_vllm",
      gatewayCounterSuffix: "_total",
      attributeLabels: ["organization_id", "cost_center"],
      tenants: [{ name: "acme", namespaces: ["acme-models"] }],
      strictTenants: true,
      readApi,
    });
    const source = createSampleSource(client, readApi);
    const report = await collectOnce({ pool: db.pool, prometheus: source, settings }, { fromMs, toMs });
    expect(source.resolved()).toBe(readApi);
    source.close();
    expect(report.status).toBe("collected");
  }, 180_000);

  afterAll(async () => {
    client?.close();
    await prom?.stop();
    await db?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The truth per organization over all windows: tokens split 2:1 like the model servers saw them. */
  const truth = ORGS.map((o) => {
    const tokens = o.tokensPerStep * STEPS_PER_WINDOW * WINDOWS;
    return { ...o, input: (tokens * 2) / 3, output: tokens / 3, requests: o.callsPerStep * STEPS_PER_WINDOW * WINDOWS };
  });

  describe("MaaS-shaped series: collector -> usage -> invoice -> FOCUS", () => {
    it("the ledger holds exactly the _total counters' usage, by organization and cost center, with the subscription as tier and no user", async () => {
      const rows = (
        await db.pool.query(
          `select tier, user_id, dimensions, sum(input_tokens)::int as i, sum(output_tokens)::int as o, sum(requests)::int as r
             from usage_ledger where tenant = 'acme' group by 1, 2, 3 order by dimensions->>'organization_id'`,
        )
      ).rows;
      expect(rows).toEqual(
        truth.map((t) => ({
          tier: "gold",
          user_id: null,
          dimensions: { cost_center: t.cost_center, organization_id: t.organization_id },
          i: t.input,
          o: t.output,
          r: t.requests,
        })),
      );
    });

    it("the usage API groups by the attribute labels (JSON and CSV)", async () => {
      const report = await queryUsage(db.pool, "acme", new Date(fromMs), new Date(toMs), ["organization_id", "cost_center"], BOOK);
      expect(report.rows.map((r) => [r.organization_id, r.cost_center, r.inputTokens, r.outputTokens, r.requests])).toEqual(
        truth.map((t) => [t.organization_id, t.cost_center, String(t.input), String(t.output), String(t.requests)]),
      );
      const csv = usageToCsv(report).trim().split("\n");
      expect(csv[0]).toBe("tenant,organization_id,cost_center,inputTokens,outputTokens,totalTokens,requests,ledgerRows,costMinor,currency");
      // org-1: 800 x 7.00/M + 400 x 21.00/M + 240 x 0.01 = 0.0056 + 0.0084 + 2.40 = 2.414 USD; rows share the invoice's rounding (total 724).
      expect(csv[1]).toBe(`acme,org-1,cc-42,${truth[0]!.input},${truth[0]!.output},${truth[0]!.input + truth[0]!.output},${truth[0]!.requests},${2 * WINDOWS},241,USD`);
      expect(report.rows.map((r) => r.costMinor)).toEqual(["241", "483"]);
      expect(report.costMinor).toBe("724");
      // Per window: one token row (model llama) and one request row (no model: Limitador's calls counter has no model label).
    });

    it("invoice lines carry the organization and cost center, amounts exact; FOCUS Tags carry them too", async () => {
      const periods = [...new Set([periodOf(new Date(fromMs)).label, periodOf(new Date(toMs - 1)).label])];
      const invoices: Invoice[] = [];
      for (const period of periods) {
        const r = await createInvoice(db.pool, BOOK, "acme", period);
        if (r.created) invoices.push(r.invoice);
      }
      const lines = invoices.flatMap((inv) => inv.lines);
      for (const t of truth) {
        const mine = lines.filter((l) => l.dimensions.organization_id === t.organization_id);
        expect(new Set(mine.map((l) => l.dimensions.cost_center))).toEqual(new Set([t.cost_center]));
        const qty = (c: string) => mine.filter((l) => l.component === c).reduce((a, l) => a + Number(l.quantity), 0);
        expect([qty("input_tokens"), qty("output_tokens"), qty("requests")]).toEqual([t.input, t.output, t.requests]);
      }
      // Exact total: input 2,400 x 7.00/M + output 1,200 x 21.00/M + 720 requests x 0.01 = 0.0168 + 0.0252 + 7.20 = 7.242 -> 7.24 USD.
      const totalMinor = invoices.reduce((a, inv) => a + Number(inv.totalMinor), 0);
      const exact = truth.reduce((a, t) => a + (t.input * 7 + t.output * 21) / 1e6 + t.requests * 0.01, 0);
      expect(totalMinor).toBe(Math.round(exact * 100));
      expect(totalMinor).toBe(724);
      const focus = invoicesToFocus(invoices);
      const header = focus.split("\n")[0]!.split(",");
      const tagsAt = header.indexOf("Tags");
      expect(tagsAt).toBeGreaterThan(-1);
      for (const t of truth) expect(focus).toContain(`""organization_id"":""${t.organization_id}""`);
      expect(focus).toContain(`""cost_center"":""cc-77""`);
    });

    it("the check can fail: the legacy name holds different numbers (reading it, or both, would be wrong)", async () => {
      const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent("sum(max_over_time(authorized_hits[1y]))")}&time=${toMs / 1000}`);
      const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
      // The legacy series' total is 1000 times the real one (and it is in the same Prometheus).
      expect(Number(body.data.result[0]!.value[1])).toBeGreaterThan(1000 * truth.reduce((a, t) => a + t.input + t.output, 0) - 1);
    });
  });
});
