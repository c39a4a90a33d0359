// Ground truth of the scenario, computed from its definitions (never from Prometheus), keyed the
// way the panels group their results.
import {
  COLLECTOR_LAG,
  DATA_START,
  EVAL_TIME,
  ITL_BUCKETS,
  MODEL_PODS,
  MONTH_TO_DATE,
  PERIOD,
  PERIOD_COST,
  QUOTA_USED,
  RECONCILIATION_DIFF,
  STEP_SECONDS,
  STEPS_TODAY,
  TENANTS,
  TTFT_BUCKETS,
  UNATTRIBUTED_PER_STEP,
  USER_COST,
  USERS,
  billingUsagePerStep,
  spread,
} from "./scenario";

/** Stable key of a label set: `a=1,b=2` with labels sorted. */
export const keyOf = (labels: Readonly<Record<string, string>>): string =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(",");

export type Truth = Map<string, number>;

/** Sums values into keys. */
const tally = (rows: Iterable<[Record<string, string>, number]>): Truth => {
  const out: Truth = new Map();
  for (const [labels, v] of rows) out.set(keyOf(labels), (out.get(keyOf(labels)) ?? 0) + v);
  return out;
};

/** Truth for a gateway counter today: served tokens, and what the counters could record (served minus the restart loss). */
export interface GatewayToday {
  readonly served: Truth;
  readonly counted: Truth;
}

const gatewayToday = <T>(items: readonly T[], perSeries: (x: T) => [Record<string, string>, number][]): GatewayToday => ({
  served: tally(items.flatMap(perSeries).map(([l, p]) => [l, p * STEPS_TODAY] as [Record<string, string>, number])),
  // A third of one step's increments happened between the last scrape and the restart.
  counted: tally(items.flatMap(perSeries).map(([l, p]) => [l, p * STEPS_TODAY - p / 3] as [Record<string, string>, number])),
});

const usersOf = (tenant: string) => USERS.filter((u) => u.tenant === tenant);
const podsOf = (tenant: string) => MODEL_PODS.filter((p) => p.tenant === tenant);

/** Tokens per step of one user by model. */
const hitsOf = (u: (typeof USERS)[number]) => Object.entries(u.tokensPerStep);

/** Bucket [lower, upper] holding the nearest-rank 95th percentile of the observations. */
export const p95Bucket = (observations: number[], buckets: readonly number[]): [number, number] => {
  const sorted = [...observations].sort((a, b) => a - b);
  const p95 = sorted[Math.ceil(0.95 * sorted.length) - 1] as number;
  const upper = buckets.find((le) => p95 <= le) ?? Infinity;
  const lower = [...buckets].reverse().find((le) => le < p95) ?? 0;
  return [lower, upper];
};

/** Truth of the tenant model usage dashboard for one tenant (all models). */
export const tenantModelUsageTruth = (tenant: string) => {
  const pods = podsOf(tenant);
  const models = [...new Set(pods.map((p) => p.model))];
  const byModel = (f: (p: (typeof pods)[number]) => number) => tally(pods.map((p) => [{ model_name: p.model }, f(p)]));
  const requests = (p: (typeof pods)[number]) => p.finishedPerStep.stop + p.finishedPerStep.length + p.finishedPerStep.abort;
  const p95 = (obs: (p: (typeof pods)[number]) => number[], buckets: readonly number[]) =>
    new Map(models.map((m) => [keyOf({ model_name: m }), p95Bucket(pods.filter((p) => p.model === m).flatMap(obs), buckets)]));
  return {
    // Model-server counters have no reset and the gap is inside the window: increase() is exact.
    promptToday: byModel((p) => p.promptPerStep * STEPS_TODAY),
    generationToday: byModel((p) => p.generationPerStep * STEPS_TODAY),
    requestsToday: byModel((p) => requests(p) * STEPS_TODAY),
    requestRate: tally(pods.flatMap((p) => Object.entries(p.finishedPerStep).map(([r, n]) => [{ model_name: p.model, finished_reason: r }, n / STEP_SECONDS] as [Record<string, string>, number]))),
    promptRate: byModel((p) => p.promptPerStep / STEP_SECONDS),
    generationRate: byModel((p) => p.generationPerStep / STEP_SECONDS),
    ttftP95Bucket: p95((p) => spread(p.ttftBase, requests(p)), TTFT_BUCKETS),
    itlP95Bucket: p95((p) => spread(p.itlBase, p.generationPerStep), ITL_BUCKETS),
    kvCache: new Map(models.map((m) => {
      const ps = pods.filter((p) => p.model === m);
      return [keyOf({ model_name: m }), ps.reduce((a, p) => a + p.kvCache, 0) / ps.length];
    })),
    running: byModel((p) => p.running),
    waiting: byModel((p) => p.waiting),
  };
};

/** Each of the tenant's period-cost lines with its value at EVAL_TIME. */
const periodCostAtEval = (tenant: string) =>
  PERIOD_COST.filter((c) => c.tenant === tenant).map((c) => [c, c.base + c.perStep * ((EVAL_TIME - DATA_START) / STEP_SECONDS)] as const);

/** A truth multiplied by a factor (the scenario's `_total` spellings). */
export const scaled = (truth: Truth, factor: number): Truth => new Map([...truth].map(([k, v]) => [k, v * factor]));
export const scaledToday = (g: GatewayToday, factor: number): GatewayToday => ({ served: scaled(g.served, factor), counted: scaled(g.counted, factor) });

/** The token limits the usage-against-limits panel and rule are checked with (per user and window). */
export const TEST_TOKEN_LIMITS = [
  { tier: "free", limit: 200, window: "1m" },
  { tier: "premium", limit: 1000, window: "1m" },
  { tier: "premium", limit: 30_000, window: "1h" },
] as const;

/** Truth of the token usage and chargeback dashboard for one tenant (all tiers, users, models). */
export const chargebackTruth = (tenantName: string) => {
  const tenant = TENANTS.find((t) => t.name === tenantName);
  if (tenant === undefined) throw new Error(tenantName);
  const users = usersOf(tenantName);
  // The draft-invoice lines at "now" (the last sample), whichever replica exported them.
  const costRows = periodCostAtEval(tenantName).map(([c, v]) => [{ period: PERIOD, tier: c.tier, model: c.model, currency: "USD" }, v] as [Record<string, string>, number]);
  return {
    tokensByTier: gatewayToday(users, (u) => hitsOf(u).map(([, p]) => [{ tier: u.tier }, p])),
    requestsByTier: gatewayToday(users, (u) => [[{ tier: u.tier }, u.callsPerStep]]),
    rateLimited: gatewayToday([tenant], (t) => [[{}, t.limitedPerStep]]),
    tokensByUser: gatewayToday(users, (u) => hitsOf(u).map(([, p]) => [{ user: u.name }, p])),
    tokensByModel: gatewayToday(users, (u) => hitsOf(u).map(([m, p]) => [{ model: m }, p])),
    costByTierModel: tally(costRows),
    costTotal: tally(costRows.map(([, v]) => [{ period: PERIOD, currency: "USD" }, v])),
    tokenRateByTier: tally(users.flatMap((u) => hitsOf(u).map(([, p]) => [{ tier: u.tier }, p / STEP_SECONDS] as [Record<string, string>, number]))),
    rateLimitedRate: tally([[{ limitador_namespace: tenant.route }, tenant.limitedPerStep / STEP_SECONDS]]),
    ...userPanelsTruth(tenant, users),
  };
};

/** Truth of the per-user, success-rate and limit panels (gateway counters, and the billing per-user cost). */
const userPanelsTruth = (tenant: (typeof TENANTS)[number], users: readonly (typeof USERS)[number][]) => {
  const tokensPerStep = (u: (typeof USERS)[number]) => hitsOf(u).reduce((a, [, p]) => a + p, 0);
  const counted = (perStep: number) => perStep * STEPS_TODAY - perStep / 3;
  const calls = users.reduce((a, u) => a + counted(u.callsPerStep), 0);
  const limited = counted(tenant.limitedPerStep);
  const costs = USER_COST.filter((c) => c.tenant === tenant.name).map((c) => [{ user: c.user, currency: "USD" }, c.base + c.perStep * ((EVAL_TIME - DATA_START) / STEP_SECONDS)] as [Record<string, string>, number]);
  const byTierWindow = new Map<string, number>();
  for (const l of TEST_TOKEN_LIMITS) {
    const steps = l.window === "1m" ? 60 / STEP_SECONDS : 3600 / STEP_SECONDS;
    const top = Math.max(...users.filter((u) => u.tier === l.tier).map((u) => tokensPerStep(u) * steps), -Infinity);
    if (top > -Infinity) byTierWindow.set(keyOf({ tier: l.tier, window: l.window }), top / l.limit);
  }
  return {
    totalTokens: tally(users.map((u) => [{}, counted(tokensPerStep(u))])),
    activeUsers: tally([[{}, users.filter((u) => u.callsPerStep > 0).length]]),
    successRate: tally([[{}, calls / (calls + limited)]]),
    topUsers: tally(users.map((u) => [{ user: u.name }, counted(tokensPerStep(u))])),
    userTableTokens: tally(users.map((u) => [{ user: u.name, tier: u.tier }, counted(tokensPerStep(u))])),
    userTableRequests: tally(users.map((u) => [{ user: u.name, tier: u.tier }, counted(u.callsPerStep)])),
    costByUser: tally(costs),
    topUsersByCost: tally(costs),
    userTokenRate: tally(users.map((u) => [{ user: u.name }, tokensPerStep(u) / STEP_SECONDS])),
    // The last hour (01:00-02:00) has no Limitador restart: every step's tokens are counted.
    hourlyTokensByUser: tally(users.map((u) => [{ user: u.name }, tokensPerStep(u) * (3600 / STEP_SECONDS)])),
    limitEffectiveness: tally([[{ limitador_namespace: tenant.route }, limited / (calls + limited)]]),
    usageAgainstLimits: byTierWindow,
  };
};

/** Truth of the billing dashboard over "today" for the given tenants. */
export const billingTruth = (tenants: readonly string[]) => {
  const has = (t: string) => tenants.includes(t);
  const steps = (EVAL_TIME - DATA_START) / STEP_SECONDS;
  return {
    monthToDateCost: tally(MONTH_TO_DATE.filter((m) => has(m.tenant)).map((m) => [{ tenant: m.tenant, currency: "USD" }, m.base + m.perStep * steps])),
    periodCostLines: tally(
      tenants.flatMap((t) =>
        periodCostAtEval(t).map(([c, v]) => [{ tenant: c.tenant, period: PERIOD, tier: c.tier, model: c.model, component: c.component, currency: "USD" }, v] as [Record<string, string>, number]),
      ),
    ),
    quotaBurn: tally(QUOTA_USED.filter((q) => has(q.tenant)).map((q) => [{ tenant: q.tenant, kind: q.kind, period: q.period }, q.ratio])),
    meteredTokens: tally(
      billingUsagePerStep()
        .filter(([t]) => has(t))
        .flatMap(([tenant, , , p]) => [
          [{ tenant, direction: "input" }, ((p * 2) / 3) * STEPS_TODAY],
          [{ tenant, direction: "output" }, (p / 3) * STEPS_TODAY],
        ] as [Record<string, string>, number][]),
    ),
    collectorLag: tally(Object.entries(COLLECTOR_LAG).map(([source, v]) => [{ source }, v])),
    // One reset (the Limitador restart) per tenant; one gap (tenant-a's model servers).
    counterResets: tally(tenants.map((tenant) => [{ tenant, source: "limitador" }, 1])),
    scrapeGaps: tally(tenants.map((tenant) => [{ tenant, source: "vllm" }, tenant === "tenant-a" ? 1 : 0])),
    gatewayModelMismatch: tally(RECONCILIATION_DIFF.filter((r) => has(r.tenant)).map((r) => [{ tenant: r.tenant, model: r.model }, Math.abs(r.ratio)])),
    unattributedTokens: tally(Object.entries(UNATTRIBUTED_PER_STEP).map(([source, p]) => [{ source }, p * STEPS_TODAY])),
  };
};
