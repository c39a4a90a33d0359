/**
 * A usage scenario with known truth, for testing the collector against a real Prometheus.
 *
 * The generator simulates requests tick by tick (one tick per scrape interval): each request adds
 * input+output tokens to a Limitador `authorized_hits` series and one to `authorized_calls`, and
 * the same input and output tokens to the vLLM counters of the model's namespace. Along the way it
 * injects what makes `increase()` wrong: a Limitador restart (all gateway counters start again from
 * zero), a scrape outage (a gap), repeated scrapes of the same instant and 1 s later, samples that
 * reach Prometheus late, direct model-server traffic that bypassed the gateway (a reconciliation
 * difference) and a series whose route maps to no tenant.
 *
 * Truth is kept from the simulated increments, not from the samples: every increment is booked in
 * the window of the first scrape that observed it (increments during an outage are observed by the
 * scrape after it). The only thing no collector can know, increments between a counter's last
 * scrape and its restart, the generator avoids by restarting right after a scrape.
 */
import type { Sample } from "../../src/collector/counter-usage";
import { toOpenMetrics as writeOpenMetrics, type Family } from "../../testkit/openmetrics";

export interface ScenarioOptions {
  readonly seed: number;
  /** Start of the data (aligned to windowMs). */
  readonly startMs: number;
  readonly windows: number;
  readonly windowMs: number;
  readonly scrapeMs: number;
}

export interface ScenarioSeries {
  readonly metric: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Samples present from the start (sorted; may include repeated scrapes). */
  readonly samples: Sample[];
  /** Samples that reach Prometheus only later. */
  readonly lateSamples: Sample[];
}

/** The counts of one ledger row, in the truth and as stored. */
export interface UsageCounts {
  tokens: number;
  requests: number;
  limitedRequests: number;
  inputTokens: number;
  outputTokens: number;
}

/** Expected ledger row (gateway) or model-server totals, keyed like the collector's rows. */
export interface TruthRow extends UsageCounts {
  source: "gateway" | "model-server";
  tenant: string;
  user: string | null;
  tier: string | null;
  model: string | null;
  windowStartMs: number;
}

export interface Scenario {
  readonly options: ScenarioOptions;
  readonly series: ScenarioSeries[];
  /** Tenant map used by the scenario: acme owns two namespaces; globex is its own namespace. */
  readonly tenantMap: { name: string; namespaces: string[] }[];
  /** What happened, for the test log. */
  readonly events: string[];
  /** Truth with every sample (late ones included), and with the late ones still missing. */
  truth(includeLate: boolean): Map<string, TruthRow>;
  /** Unattributed gateway tokens (the stray route), with every sample. */
  readonly unattributedTokens: number;
  /** Tick time (ms) of the Limitador restart. */
  readonly restartAtMs: number;
  /** Scrape outages: which series had no samples in [fromMs, toMs). */
  readonly outages: ReadonlyArray<{ readonly affects: (s: ScenarioSeries) => boolean; readonly fromMs: number; readonly toMs: number }>;
}

export const truthKey = (
  source: string,
  tenant: string,
  user: string | null,
  tier: string | null,
  model: string | null,
  windowStartMs: number,
): string => JSON.stringify([source, tenant, user, tier, model, windowStartMs]);

/** mulberry32: small, seedable, good enough for test data. */
const rng = (seed: number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

interface Client {
  readonly limitadorNamespace: string;
  readonly modelNamespace: string;
  readonly tenant: string | null;
  readonly user: string | null;
  readonly planLabel: "tier" | "subscription";
  readonly plan: string;
  readonly model: string;
  /** Requests per tick, on average. */
  readonly rate: number;
}

const CLIENTS: Client[] = [
  { limitadorNamespace: "acme-models/chat", modelNamespace: "acme-models", tenant: "acme", user: "alice", planLabel: "tier", plan: "premium", model: "llama-3-8b", rate: 1.5 },
  { limitadorNamespace: "acme-models/chat", modelNamespace: "acme-models", tenant: "acme", user: "bob", planLabel: "tier", plan: "free", model: "llama-3-8b", rate: 0.6 },
  { limitadorNamespace: "acme-dev/chat", modelNamespace: "acme-dev", tenant: "acme", user: "alice", planLabel: "tier", plan: "premium", model: "granite-8b", rate: 0.8 },
  // MaaS today: `subscription` instead of `tier`, and no user label (captureUser is off).
  { limitadorNamespace: "globex-llm/api", modelNamespace: "globex-llm", tenant: "globex-llm", user: null, planLabel: "subscription", plan: "enterprise", model: "llama-3-8b", rate: 2 },
  // A user who starts mid-range: Limitador creates the series on the first hit, so its first
  // value is usage (increase() drops it).
  { limitadorNamespace: "acme-models/chat", modelNamespace: "acme-models", tenant: "acme", user: "dave", planLabel: "tier", plan: "free", model: "llama-3-8b", rate: 0.7 },
  // A route whose label is not "<namespace>/<route>": counted as unattributed.
  { limitadorNamespace: "stray-route", modelNamespace: "", tenant: null, user: "mallory", planLabel: "tier", plan: "free", model: "llama-3-8b", rate: 0.4 },
];

interface Track {
  readonly metric: string;
  readonly labels: Record<string, string>;
  readonly source: "gateway" | "model-server";
  readonly client?: Client;
  value: number;
  /** Increments not yet observed by a scrape, with the quantity they belong to. */
  pending: number;
  readonly samples: Sample[];
  readonly late: Sample[];
  /** Per observed sample: the increment it observed, for truth. */
  readonly observed: { t: number; inc: number; late: boolean }[];
  /** Where in the scrape interval this target is scraped (Prometheus spreads targets). */
  readonly offsetMs: number;
}

export const generateScenario = (options: ScenarioOptions): Scenario => {
  const { seed, startMs, windows, windowMs, scrapeMs } = options;
  const rand = rng(seed);
  const ticks = Math.floor((windows * windowMs) / scrapeMs);
  const events: string[] = [];
  const tracks = new Map<string, Track>();
  const track = (metric: string, labels: Record<string, string>, source: Track["source"], client?: Client): Track => {
    const key = JSON.stringify([metric, labels]);
    let t = tracks.get(key);
    if (!t) {
      // Gateway series share Limitador's scrape slot, vLLM series their pod's; both are off the
      // window grid, as real scrapes are.
      const offsetMs = source === "gateway" ? 4_321 : 9_876;
      t = { metric, labels, source, client, value: 0, pending: 0, samples: [], late: [], observed: [], offsetMs };
      tracks.set(key, t);
    }
    return t;
  };
  const gatewayLabels = (c: Client): Record<string, string> => {
    const l: Record<string, string> = { job: "limitador", instance: "limitador-0", limitador_namespace: c.limitadorNamespace, [c.planLabel]: c.plan };
    if (c.user) l.user = c.user;
    return l;
  };
  const vllmLabels = (ns: string, model: string): Record<string, string> => ({ job: "vllm", namespace: ns, model_name: model });

  // Declare every series up front so each is scraped from the first tick (value 0).
  for (const c of CLIENTS) {
    if (c.user === "dave") continue;
    track("authorized_hits", { ...gatewayLabels(c), model: c.model }, "gateway", c);
    track("authorized_calls", gatewayLabels(c), "gateway", c);
    if (c.tenant) {
      track("vllm:prompt_tokens_total", vllmLabels(c.modelNamespace, c.model), "model-server");
      track("vllm:generation_tokens_total", vllmLabels(c.modelNamespace, c.model), "model-server");
    }
  }
  track("limited_calls", { job: "limitador", instance: "limitador-0", limitador_namespace: "acme-models/chat" }, "gateway");

  // Faults, placed by the seed but always inside the range and away from its edges.
  const restartTick = Math.floor(ticks * (0.3 + 0.2 * rand()));
  const outageStart = Math.floor(ticks * (0.6 + 0.1 * rand()));
  const outageTicks = 8 + Math.floor(rand() * 8); // 2-4 minutes at 15 s: beyond the gap threshold
  const bypassTick = Math.floor(ticks * (0.15 + 0.1 * rand()));
  // A vLLM pod unreachable for 150 minutes while it keeps serving: longer than the anchor lookback,
  // so the collector must look deeper for the value before the gap instead of counting it again.
  const partitionStart = Math.floor(ticks * (0.2 + 0.1 * rand()));
  const partitionTicks = 600;
  // After the restart, so his small counter never hides a reset (a restart is only visible as a drop).
  const daveFromTick = restartTick + 10 + Math.floor(ticks * 0.1 * rand());
  events.push(
    `user dave's first request at tick ${daveFromTick}`,
    `limitador restart after the scrape at tick ${restartTick} (${new Date(startMs + restartTick * scrapeMs).toISOString()})`,
    `gateway scrape outage for ticks ${outageStart}..${outageStart + outageTicks - 1}`,
    `vLLM of acme-dev unreachable for ticks ${partitionStart}..${partitionStart + partitionTicks - 1}`,
    `direct model-server traffic (bypassing the gateway) at tick ${bypassTick}`,
  );

  for (let tick = 1; tick <= ticks; tick++) {
    const t = startMs + tick * scrapeMs;
    // Requests during (t - scrape, t].
 for (const c of CLIENTS) {
      if (c.user === "dave" && tick < daveFromTick) continue;
      // Between half and twice the rate, rounded at random so low rates still send requests.
      const requests = Math.floor(c.rate * (0.5 + rand() * 1.5) + rand());
      for (let r = 0; r < Math.max(0, requests); r++) {
        const input = 20 + Math.floor(rand() * 400);
        const output = 10 + Math.floor(rand() * 600);
        bump(track("authorized_hits", { ...gatewayLabels(c), model: c.model }, "gateway", c), input + output);
        bump(track("authorized_calls", gatewayLabels(c), "gateway", c), 1);
        if (c.tenant) {
          bump(track("vllm:prompt_tokens_total", vllmLabels(c.modelNamespace, c.model), "model-server"), input);
          bump(track("vllm:generation_tokens_total", vllmLabels(c.modelNamespace, c.model), "model-server"), output);
        }
      }
    }
    if (rand() < 0.2) bump(track("limited_calls", { job: "limitador", instance: "limitador-0", limitador_namespace: "acme-models/chat" }, "gateway"), 1);
    if (tick === bypassTick) {
      bump(track("vllm:prompt_tokens_total", vllmLabels("globex-llm", "llama-3-8b"), "model-server"), 5000);
      bump(track("vllm:generation_tokens_total", vllmLabels("globex-llm", "llama-3-8b"), "model-server"), 7000);
    }
    // Scrape.
    const inOutage = tick >= outageStart && tick < outageStart + outageTicks;
    for (const tr of tracks.values()) {
      if (tr.source === "gateway" && inOutage) continue;
      if (tr.labels.namespace === "acme-dev" && tick >= partitionStart && tick < partitionStart + partitionTicks) continue;
      const late = tr.source === "model-server" ? tick % 97 === 13 : tick % 89 === 7;
      // Off the grid, with a little jitter, but always inside this tick's interval.
      const st = t - tr.offsetMs - Math.floor(rand() * 300);
      const sample = { t: st, v: tr.value };
      (late ? tr.late : tr.samples).push(sample);
      tr.observed.push({ t: st, inc: tr.pending, late });
      tr.pending = 0;
      // Repeated scrapes: the same instant twice, and a retry one second later.
      if (!late && tick % 53 === 5) tr.samples.push({ t: st, v: tr.value });
      if (!late && tick % 61 === 11 && st + 1000 < t) tr.samples.push({ t: st + 1000, v: tr.value });
    }
    if (tick === restartTick) {
      // Limitador restarts right after this scrape: every gateway counter starts again from 0.
      for (const tr of tracks.values()) if (tr.source === "gateway") tr.value = 0;
    }
  }

  const windowOf = (t: number) => startMs + Math.floor((t - startMs - 1) / windowMs) * windowMs;
  let unattributedTokens = 0;
  const truth = (includeLate: boolean): Map<string, TruthRow> => {
    const rows = new Map<string, TruthRow>();
    const row = (tr: Track, windowStartMs: number): TruthRow => {
      const l = tr.labels;
      const c = tr.client;
      const tenant = tr.source === "gateway" ? c?.tenant ?? "acme" /* limited_calls: acme-models */ : ownerOf(l.namespace);
      const key =
        tr.source === "gateway"
          ? truthKey("gateway", tenant, l.user ?? null, l.tier ?? l.subscription ?? null, l.model ?? null, windowStartMs)
          : truthKey("model-server", tenant, null, null, l.model_name, windowStartMs);
      let r = rows.get(key);
      if (!r) {
        r = {
          source: tr.source,
          tenant,
          user: tr.source === "gateway" ? l.user ?? null : null,
          tier: tr.source === "gateway" ? l.tier ?? l.subscription ?? null : null,
          model: tr.source === "gateway" ? l.model ?? null : l.model_name,
          windowStartMs,
          tokens: 0,
          requests: 0,
          limitedRequests: 0,
          inputTokens: 0,
          outputTokens: 0,
        };
        rows.set(key, r);
      }
      return r;
    };
    for (const tr of tracks.values()) {
      let carried = 0;
      for (const o of tr.observed) {
        if (o.late && !includeLate) {
          // Not in Prometheus yet: the next present scrape observes this increment.
          carried += o.inc;
          continue;
        }
        const inc = o.inc + carried;
        carried = 0;
        if (inc === 0) continue;
        if (tr.source === "gateway" && tr.client && tr.client.tenant === null) {
          if (tr.metric === "authorized_hits") unattributedTokens += includeLate ? inc : 0;
          continue;
        }
        const r = row(tr, windowOf(o.t));
        if (tr.metric === "authorized_hits") r.tokens += inc;
        else if (tr.metric === "authorized_calls") r.requests += inc;
        else if (tr.metric === "limited_calls") r.limitedRequests += inc;
        else if (tr.metric.endsWith("prompt_tokens_total")) r.inputTokens += inc;
        else r.outputTokens += inc;
      }
    }
    return rows;
  };
  const ownerOf = (ns: string) => (ns === "acme-models" || ns === "acme-dev" ? "acme" : ns);
  truth(true); // fills unattributedTokens

  return {
    options,
    series: [...tracks.values()].map((tr) => ({ metric: tr.metric, labels: tr.labels, samples: tr.samples, lateSamples: tr.late })),
    tenantMap: [{ name: "acme", namespaces: ["acme-models", "acme-dev"] }],
    events,
    truth,
    unattributedTokens,
    restartAtMs: startMs + restartTick * scrapeMs,
    outages: [
      {
        affects: (s: ScenarioSeries) => !s.metric.startsWith("vllm:"),
        fromMs: startMs + (outageStart - 1) * scrapeMs,
        toMs: startMs + (outageStart + outageTicks) * scrapeMs,
      },
      {
        affects: (s: ScenarioSeries) => s.labels.namespace === "acme-dev",
        fromMs: startMs + (partitionStart - 1) * scrapeMs,
        toMs: startMs + (partitionStart + partitionTicks) * scrapeMs,
      },
    ],
  };

  function bump(tr: Track, by: number) {
    tr.value += by;
    tr.pending += by;
  }
};

/**
 * OpenMetrics text for `promtool tsdb create-blocks-from openmetrics` (the test kit's writer).
 * Families are declared `unknown` so the series keep their exact names (a `counter` family would
 * need `_total` samples).
 */
export const toOpenMetrics = (series: readonly { metric: string; labels: Readonly<Record<string, string>>; samples: readonly Sample[] }[]): string => {
  const families = new Map<string, Family>();
  for (const s of series) {
    const family = families.get(s.metric) ?? { name: s.metric, type: "unknown" as const, series: [] };
    family.series.push({ name: s.metric, labels: s.labels, samples: s.samples.map((x) => ({ t: x.t / 1000, v: x.v })) });
    families.set(s.metric, family);
  }
  return writeOpenMetrics([...families.values()]);
};
