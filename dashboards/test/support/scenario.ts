// A deterministic scenario with known truth for the dashboard and rule queries: two tenants, five
// users in three tiers, two models, Limitador, vLLM (both metric families where newer KServe
// exposes both) and the billing service's metrics, scraped every 15 s from 23:50 to 02:00 UTC.
// Irregularities on purpose: Limitador restarts at 00:40:05 (counters reset; the increments
// between the 00:40:00 scrape and the restart are lost), and tenant-a's model servers miss ten
// minutes of scrapes after 01:00. Traffic per series is constant per scrape step, so rates and
// counts have exact answers; the truth functions below compute them from the definitions, not
// from Prometheus.
import type { Family, Labels, Sample } from "../../../billing-service/testkit/openmetrics";

export const STEP_SECONDS = 15;
/** 2026-03-02T00:00:00Z: "today" starts here. */
export const DAY_START = Date.UTC(2026, 2, 2) / 1000;
export const DATA_START = DAY_START - 10 * 60;
/** Evaluation time of every query ("now" in Grafana): 02:00:00Z, the last sample. */
export const EVAL_TIME = DAY_START + 2 * 3600;
/** Last Limitador scrape before its restart (the restart happens 5 s later). */
export const LAST_SCRAPE_BEFORE_RESTART = DAY_START + 40 * 60;
/** tenant-a's model-server scrapes with LAST_SCRAPE_BEFORE_GAP < t < FIRST_SCRAPE_AFTER_GAP are missing. */
export const LAST_SCRAPE_BEFORE_GAP = DAY_START + 3600;
export const FIRST_SCRAPE_AFTER_GAP = DAY_START + 3600 + 10 * 60;
/** Steps in "today so far" (DAY_START, EVAL_TIME]. */
export const STEPS_TODAY = (EVAL_TIME - DAY_START) / STEP_SECONDS;

export const TTFT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;
export const ITL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25] as const;

export interface Tenant {
  readonly name: string;
  readonly namespace: string;
  readonly route: string; // limitador_namespace
  readonly models: readonly string[];
  /** Newer KServe: model servers expose both vllm: and kserve_vllm: series. */
  readonly bothFamilies: boolean;
  readonly limitedPerStep: number; // multiple of 3
}

export interface User {
  readonly name: string;
  readonly tenant: string;
  readonly tier: string;
  /** Tokens per step per model at the gateway (multiples of 3: a third is lost at the restart, 2/3 are input). */
  readonly tokensPerStep: Readonly<Record<string, number>>;
  readonly callsPerStep: number; // multiple of 3
}

export interface ModelPod {
  readonly tenant: string;
  readonly model: string;
  readonly pod: string;
  readonly promptPerStep: number;
  readonly generationPerStep: number;
  readonly finishedPerStep: Readonly<Record<"stop" | "length" | "abort", number>>;
  /** TTFT of the step's requests spread evenly over [0.2, 1.8] × this base. */
  readonly ttftBase: number;
  /** Inter-token latency of the step's generated tokens spread evenly over [0.2, 1.8] × this base. */
  readonly itlBase: number;
  readonly kvCache: number;
  readonly running: number;
  readonly waiting: number;
}

export const TENANTS: readonly Tenant[] = [
  { name: "tenant-a", namespace: "tenant-a-models", route: "tenant-a-models/llm", models: ["llama-3-8b", "mistral-7b"], bothFamilies: true, limitedPerStep: 3 },
  { name: "tenant-b", namespace: "tenant-b-models", route: "tenant-b-models/llm", models: ["llama-3-8b"], bothFamilies: false, limitedPerStep: 6 },
];

export const USERS: readonly User[] = [
  { name: "alice", tenant: "tenant-a", tier: "free", tokensPerStep: { "llama-3-8b": 30, "mistral-7b": 12 }, callsPerStep: 3 },
  { name: "bob", tenant: "tenant-a", tier: "premium", tokensPerStep: { "llama-3-8b": 90, "mistral-7b": 45 }, callsPerStep: 6 },
  { name: "carol", tenant: "tenant-a", tier: "premium", tokensPerStep: { "llama-3-8b": 60, "mistral-7b": 21 }, callsPerStep: 3 },
  { name: "dave", tenant: "tenant-b", tier: "free", tokensPerStep: { "llama-3-8b": 24 }, callsPerStep: 3 },
  { name: "erin", tenant: "tenant-b", tier: "enterprise", tokensPerStep: { "llama-3-8b": 300 }, callsPerStep: 9 },
];

export const MODEL_PODS: readonly ModelPod[] = [
  { tenant: "tenant-a", model: "llama-3-8b", pod: "llama-0", promptPerStep: 100, generationPerStep: 50, finishedPerStep: { stop: 8, length: 1, abort: 1 }, ttftBase: 0.3, itlBase: 0.02, kvCache: 0.42, running: 4, waiting: 1 },
  { tenant: "tenant-a", model: "llama-3-8b", pod: "llama-1", promptPerStep: 80, generationPerStep: 40, finishedPerStep: { stop: 6, length: 1, abort: 0 }, ttftBase: 0.6, itlBase: 0.03, kvCache: 0.58, running: 3, waiting: 0 },
  { tenant: "tenant-a", model: "mistral-7b", pod: "mistral-0", promptPerStep: 40, generationPerStep: 30, finishedPerStep: { stop: 4, length: 0, abort: 1 }, ttftBase: 0.15, itlBase: 0.012, kvCache: 0.2, running: 1, waiting: 0 },
  { tenant: "tenant-b", model: "llama-3-8b", pod: "llama-0", promptPerStep: 200, generationPerStep: 124, finishedPerStep: { stop: 10, length: 2, abort: 0 }, ttftBase: 1.2, itlBase: 0.05, kvCache: 0.9, running: 8, waiting: 5 },
];

/** Price book: minor units (US cents) per million tokens, by tier, model, direction. */
export const PRICES: Readonly<Record<string, Readonly<Record<string, { input: number; output: number }>>>> = {
  free: { "llama-3-8b": { input: 50, output: 150 }, "mistral-7b": { input: 25, output: 75 } },
  premium: { "llama-3-8b": { input: 100, output: 300 }, "mistral-7b": { input: 60, output: 180 } },
  enterprise: { "llama-3-8b": { input: 80, output: 240 }, "mistral-7b": { input: 40, output: 120 } },
};

/** Billing-service gauges at every sample (constant, so the truth at EVAL_TIME is the value). */
export const QUOTA_USED: readonly { tenant: string; kind: string; period: string; ratio: number }[] = [
  { tenant: "tenant-a", kind: "tokens", period: "month", ratio: 0.83 },
  { tenant: "tenant-a", kind: "cost", period: "month", ratio: 0.41 },
  { tenant: "tenant-b", kind: "tokens", period: "day", ratio: 1.02 },
];
export const COLLECTOR_LAG: Readonly<Record<string, number>> = { limitador: 45, vllm: 1230 };
export const RECONCILIATION_DIFF: readonly { tenant: string; model: string; ratio: number }[] = [
  { tenant: "tenant-a", model: "llama-3-8b", ratio: -0.031 },
  { tenant: "tenant-a", model: "mistral-7b", ratio: 0.002 },
  { tenant: "tenant-b", model: "llama-3-8b", ratio: 0 },
];
/** Month-to-date cost gauge (minor units): base + perStep × steps since DATA_START. */
export const MONTH_TO_DATE: readonly { tenant: string; base: number; perStep: number }[] = [
  { tenant: "tenant-a", base: 150_000, perStep: 3 },
  { tenant: "tenant-b", base: 20_000, perStep: 1 },
];
/**
 * Draft-invoice lines of the billing period (minor units): base + perStep × steps since DATA_START.
 * Exported by the replica holding the exporter lock: billing-0 until HANDOVER, billing-1 after it
 * (billing-0's last samples stay inside the panels' range).
 */
export const PERIOD = "2026-03";
export const HANDOVER = DAY_START + 3600;
export const PERIOD_COST: readonly { tenant: string; tier: string; model: string; component: string; base: number; perStep: number }[] = [
  { tenant: "tenant-a", tier: "free", model: "llama-3-8b", component: "input_tokens", base: 1_200, perStep: 1 },
  { tenant: "tenant-a", tier: "free", model: "llama-3-8b", component: "requests", base: 800, perStep: 2 },
  { tenant: "tenant-a", tier: "premium", model: "llama-3-8b", component: "output_tokens", base: 40_000, perStep: 3 },
  { tenant: "tenant-a", tier: "premium", model: "mistral-7b", component: "input_tokens", base: 9_000, perStep: 1 },
  { tenant: "tenant-b", tier: "enterprise", model: "llama-3-8b", component: "output_tokens", base: 70_000, perStep: 5 },
];
/**
 * Per-user cost of the billing period (minor units): base + perStep × steps since DATA_START,
 * exported like PERIOD_COST (billing-0 until HANDOVER, billing-1 after). "" = usage without a user.
 */
export const USER_COST: readonly { tenant: string; user: string; base: number; perStep: number }[] = [
  { tenant: "tenant-a", user: "alice", base: 2_000, perStep: 3 },
  { tenant: "tenant-a", user: "bob", base: 41_000, perStep: 2 },
  { tenant: "tenant-a", user: "carol", base: 8_000, perStep: 2 },
  { tenant: "tenant-b", user: "erin", base: 69_000, perStep: 5 },
  { tenant: "tenant-b", user: "", base: 1_000, perStep: 0 },
];
/**
 * The same Limitador counters are also stored as `authorized_hits_total`, ... (the Red Hat OpenShift
 * AI monitoring stack's names) at this multiple, so a panel reading the other name, or both, is caught.
 */
export const TOTAL_SUFFIX_FACTOR = 7;
export const UNATTRIBUTED_PER_STEP: Readonly<Record<string, number>> = { limitador: 6, vllm: 3 };

const tenantOf = (name: string): Tenant => {
  const t = TENANTS.find((x) => x.name === name);
  if (t === undefined) throw new Error(`unknown tenant ${name}`);
  return t;
};

/** Every scrape time from DATA_START to EVAL_TIME. */
export const scrapeTimes = (): number[] => {
  const out: number[] = [];
  for (let t = DATA_START; t <= EVAL_TIME; t += STEP_SECONDS) out.push(t);
  return out;
};

const stepsSinceStart = (t: number) => (t - DATA_START) / STEP_SECONDS;

/**
 * Limitador counter value at scrape time t for a series growing `perStep` per step. After the
 * restart at LAST_SCRAPE_BEFORE_RESTART + 5 s the counter starts from zero; the third of the next
 * step's increments made before the restart are lost.
 */
export const limitadorCounter = (perStep: number, t: number): number => {
  if (t <= LAST_SCRAPE_BEFORE_RESTART) return perStep * stepsSinceStart(t);
  return perStep * ((t - LAST_SCRAPE_BEFORE_RESTART) / STEP_SECONDS) - perStep / 3;
};

const inGap = (tenant: string, t: number) =>
  tenant === "tenant-a" && t > LAST_SCRAPE_BEFORE_GAP && t < FIRST_SCRAPE_AFTER_GAP;

/** Evenly spread values over [0.2, 1.8] × base: n observations of one step. */
export const spread = (base: number, n: number): number[] =>
  Array.from({ length: n }, (_, i) => base * (0.2 + (n === 1 ? 0.8 : (1.6 * i) / (n - 1))));

const requestsPerStep = (p: ModelPod) => p.finishedPerStep.stop + p.finishedPerStep.length + p.finishedPerStep.abort;

class FamilyBuilder {
  readonly families = new Map<string, Family>();
  add(family: string, type: Family["type"], name: string, labels: Labels, samples: Sample[]) {
    const f = this.families.get(family) ?? { name: family, type, series: [] };
    f.series.push({ name, labels, samples });
    this.families.set(family, f);
  }
}

/** All series of the scenario as OpenMetrics families. */
export const scenarioFamilies = (): Family[] => {
  const times = scrapeTimes();
  const b = new FamilyBuilder();
  const counter = (perStep: number) => times.map((t) => ({ t, v: perStep * stepsSinceStart(t) }));
  const gauge = (v: number, ts = times) => ts.map((t) => ({ t, v }));
  const limitador = (perStep: number) => times.map((t) => ({ t, v: limitadorCounter(perStep, t) }));
  // Labels as the platform's Limitador ServiceMonitor leaves them (UWM forces namespace).
  const gw = (tenant: Tenant) => ({ limitador_namespace: tenant.route, route_namespace: tenant.namespace, namespace: "kuadrant-system", job: "limitador" });

  for (const u of USERS) {
    const tenant = tenantOf(u.tenant);
    for (const [model, perStep] of Object.entries(u.tokensPerStep)) {
      b.add("authorized_hits", "unknown", "authorized_hits", { ...gw(tenant), tier: u.tier, user: u.name, model }, limitador(perStep));
    }
    b.add("authorized_calls", "unknown", "authorized_calls", { ...gw(tenant), tier: u.tier, user: u.name }, limitador(u.callsPerStep));
  }
  for (const tenant of TENANTS) b.add("limited_calls", "unknown", "limited_calls", gw(tenant), limitador(tenant.limitedPerStep));
  // The "_total" spellings at TOTAL_SUFFIX_FACTOR times the values.
  for (const u of USERS) {
    const tenant = tenantOf(u.tenant);
    for (const [model, perStep] of Object.entries(u.tokensPerStep)) {
      b.add("authorized_hits_total", "unknown", "authorized_hits_total", { ...gw(tenant), tier: u.tier, user: u.name, model }, limitador(perStep * TOTAL_SUFFIX_FACTOR));
    }
    b.add("authorized_calls_total", "unknown", "authorized_calls_total", { ...gw(tenant), tier: u.tier, user: u.name }, limitador(u.callsPerStep * TOTAL_SUFFIX_FACTOR));
  }
  for (const tenant of TENANTS) b.add("limited_calls_total", "unknown", "limited_calls_total", gw(tenant), limitador(tenant.limitedPerStep * TOTAL_SUFFIX_FACTOR));

  for (const p of MODEL_PODS) {
    const tenant = tenantOf(p.tenant);
    const ts = times.filter((t) => !inGap(p.tenant, t));
    const labels = { namespace: tenant.namespace, model_name: p.model, pod: p.pod, job: "kserve-llm-isvc-vllm-engine" };
    const cnt = (perStep: number) => ts.map((t) => ({ t, v: perStep * stepsSinceStart(t) }));
    for (const family of tenant.bothFamilies ? (["vllm", "kserve_vllm"] as const) : (["kserve_vllm"] as const)) {
      const n = (s: string) => `${family}:${s}`;
      b.add(n("prompt_tokens"), "counter", n("prompt_tokens_total"), labels, cnt(p.promptPerStep));
      b.add(n("generation_tokens"), "counter", n("generation_tokens_total"), labels, cnt(p.generationPerStep));
      for (const [reason, perStep] of Object.entries(p.finishedPerStep)) {
        b.add(n("request_success"), "counter", n("request_success_total"), { ...labels, finished_reason: reason }, cnt(perStep));
      }
      const histogram = (name: string, buckets: readonly number[], observations: number[]) => {
        for (const le of [...buckets, Infinity]) {
          const perStep = observations.filter((o) => o <= le).length;
          b.add(n(name), "histogram", n(`${name}_bucket`), { ...labels, le: le === Infinity ? "+Inf" : String(le) }, cnt(perStep));
        }
        b.add(n(name), "histogram", n(`${name}_count`), labels, cnt(observations.length));
        const sum = observations.reduce((a, o) => a + o, 0);
        b.add(n(name), "histogram", n(`${name}_sum`), labels, ts.map((t) => ({ t, v: sum * stepsSinceStart(t) })));
      };
      histogram("time_to_first_token_seconds", TTFT_BUCKETS, spread(p.ttftBase, requestsPerStep(p)));
      histogram("inter_token_latency_seconds", ITL_BUCKETS, spread(p.itlBase, p.generationPerStep));
      b.add(n("kv_cache_usage_perc"), "gauge", n("kv_cache_usage_perc"), labels, gauge(p.kvCache, ts));
      b.add(n("num_requests_running"), "gauge", n("num_requests_running"), labels, gauge(p.running, ts));
      b.add(n("num_requests_waiting"), "gauge", n("num_requests_waiting"), labels, gauge(p.waiting, ts));
    }
  }

  // Billing service metrics (exact usage: no reset, no gap).
  const billing = { job: "maas-billing" };
  for (const [tenant, tier, model, perStep] of billingUsagePerStep()) {
    b.add("maas_billing_usage_tokens", "counter", "maas_billing_usage_tokens_total", { ...billing, tenant, tier, model, direction: "input" }, counter((perStep * 2) / 3));
    b.add("maas_billing_usage_tokens", "counter", "maas_billing_usage_tokens_total", { ...billing, tenant, tier, model, direction: "output" }, counter(perStep / 3));
  }
  for (const [tier, models] of Object.entries(PRICES)) {
    for (const [model, price] of Object.entries(models)) {
      for (const direction of ["input", "output"] as const) {
        b.add("maas_billing_price_per_million_tokens_minor", "gauge", "maas_billing_price_per_million_tokens_minor", { ...billing, tier, model, direction, currency: "USD" }, gauge(price[direction]));
      }
    }
  }
  for (const m of MONTH_TO_DATE) {
    b.add("maas_billing_month_to_date_cost_minor", "gauge", "maas_billing_month_to_date_cost_minor", { ...billing, tenant: m.tenant, currency: "USD" }, times.map((t) => ({ t, v: m.base + m.perStep * stepsSinceStart(t) })));
  }
  for (const c of PERIOD_COST) {
    const labels = { ...billing, tenant: c.tenant, currency: "USD", period: PERIOD, tier: c.tier, model: c.model, component: c.component };
    const value = (t: number) => ({ t, v: c.base + c.perStep * stepsSinceStart(t) });
    b.add("maas_billing_period_cost_minor", "counter", "maas_billing_period_cost_minor_total", { ...labels, instance: "billing-0" }, times.filter((t) => t < HANDOVER).map(value));
    b.add("maas_billing_period_cost_minor", "counter", "maas_billing_period_cost_minor_total", { ...labels, instance: "billing-1" }, times.filter((t) => t >= HANDOVER).map(value));
  }
  for (const c of USER_COST) {
    const labels = { ...billing, tenant: c.tenant, currency: "USD", period: PERIOD, user: c.user };
    const value = (t: number) => ({ t, v: c.base + c.perStep * stepsSinceStart(t) });
    b.add("maas_billing_user_period_cost_minor", "gauge", "maas_billing_user_period_cost_minor", { ...labels, instance: "billing-0" }, times.filter((t) => t < HANDOVER).map(value));
    b.add("maas_billing_user_period_cost_minor", "gauge", "maas_billing_user_period_cost_minor", { ...labels, instance: "billing-1" }, times.filter((t) => t >= HANDOVER).map(value));
  }
  for (const q of QUOTA_USED) {
    b.add("maas_billing_quota_used_ratio", "gauge", "maas_billing_quota_used_ratio", { ...billing, tenant: q.tenant, kind: q.kind, period: q.period }, gauge(q.ratio));
  }
  for (const [source, lag] of Object.entries(COLLECTOR_LAG)) {
    b.add("maas_billing_collector_lag_seconds", "gauge", "maas_billing_collector_lag_seconds", { ...billing, source }, gauge(lag));
  }
  // The collector notices the reset at the first scrape after it, and the gap when it ends.
  const step = (at: number) => times.map((t) => ({ t, v: t >= at ? 1 : 0 }));
  for (const tenant of TENANTS) {
    b.add("maas_billing_collector_counter_resets", "counter", "maas_billing_collector_counter_resets_total", { ...billing, tenant: tenant.name, source: "limitador" }, step(LAST_SCRAPE_BEFORE_RESTART + STEP_SECONDS));
    b.add("maas_billing_collector_gaps", "counter", "maas_billing_collector_gaps_total", { ...billing, tenant: tenant.name, source: "vllm" }, tenant.name === "tenant-a" ? step(FIRST_SCRAPE_AFTER_GAP) : gauge(0));
  }
  for (const r of RECONCILIATION_DIFF) {
    b.add("maas_billing_reconciliation_diff_ratio", "gauge", "maas_billing_reconciliation_diff_ratio", { ...billing, tenant: r.tenant, model: r.model }, gauge(r.ratio));
  }
  for (const [source, perStep] of Object.entries(UNATTRIBUTED_PER_STEP)) {
    b.add("maas_billing_unattributed_tokens", "counter", "maas_billing_unattributed_tokens_total", { ...billing, source }, counter(perStep));
  }
  return [...b.families.values()];
};

/** Billing-metered tokens per step by [tenant, tier, model, total]: the gateway traffic, exactly. */
export const billingUsagePerStep = (): [string, string, string, number][] => {
  const sums = new Map<string, number>();
  for (const u of USERS) {
    for (const [model, perStep] of Object.entries(u.tokensPerStep)) {
      const key = JSON.stringify([u.tenant, u.tier, model]);
      sums.set(key, (sums.get(key) ?? 0) + perStep);
    }
  }
  return [...sums.entries()].map(([k, v]) => [...(JSON.parse(k) as [string, string, string]), v]);
};
