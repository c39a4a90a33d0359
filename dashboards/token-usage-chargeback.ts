// Token usage and chargeback: who used how many tokens through the gateway (Limitador counters),
// and what it costs at the billing service's own prices (never numbers typed into a panel).
import {
  type DashboardJson,
  type DataSourceRef,
  type GatewayCounterSuffix,
  type PanelSpec,
  type TierLabel,
  TENANT_PROMETHEUS_DS_UID,
  barGauge,
  constantVariable,
  dashboard,
  gatewayCounter,
  prometheusDs,
  promQuery,
  percentSteps,
  periodCostExpr,
  queryVariable,
  selector,
  stat,
  table,
  tierColourOverrides,
  timeseries,
  userCostExpr,
  withOverrides,
} from "./common";

/** A token limit of one tier, as the tenant's TokenRateLimitPolicy applies it (per user and window). */
export interface TierTokenLimit {
  readonly tier: string;
  readonly limit: number;
  /** Prometheus duration of the limit's window, e.g. "1m". */
  readonly window: string;
}

export interface TokenUsageChargebackOptions {
  /** Tenant name as the billing service labels it (`tenant` label of maas_billing_* series). */
  readonly tenant: string;
  /** Label carrying the tier on Limitador series. Defaults to "tier". */
  readonly tierLabel?: TierLabel;
  /** How Limitador's counters are named (platform output `gatewayCounterSuffix`). Defaults to "". */
  readonly counterSuffix?: GatewayCounterSuffix;
  /** The tenant's token limits per tier (its TokenRateLimitPolicy): the "usage against limits" panel. None: no panel. */
  readonly tokenLimits?: readonly TierTokenLimit[];
  /** Datasource uid of the tenant Prometheus. Defaults to TENANT_PROMETHEUS_DS_UID. */
  readonly datasourceUid?: string;
}

export const TOKEN_USAGE_CHARGEBACK_UID = "maas-token-usage-chargeback";

const RANGE_NOTE =
  "Over the dashboard time range (default: today so far, UTC), estimated with increase(): it extrapolates to the window edges " +
  "and loses increments made between Limitador's last scrape and a restart (Limitador keeps counters in memory).";
const USER_NOTE = "Needs the user label on Limitador series (TelemetryPolicy / captureUser, off by default upstream); without it all usage shows under one empty user.";

/** "Usage against limits": per tier, the highest user's tokens in the limit's window over the limit (1 = at the limit). */
export const usageAgainstLimitsExpr = (hitsMetric: string, tierLabel: TierLabel, limits: readonly TierTokenLimit[], extraSelector = ""): string =>
  limits
    .map(
      (l) =>
        `label_replace(max by (${tierLabel}) (sum by (user, ${tierLabel}) (increase(${hitsMetric}{${tierLabel}="${l.tier}"${extraSelector}}[${l.window}]))) / ${l.limit}, "window", "${l.window}", "", "")`,
    )
    .join(" or ");

/** The panels, as a function of the tier label and counter names, so tests can run each query. */
export const tokenUsageChargebackPanels = (tierLabel: TierLabel, ds: DataSourceRef, counterSuffix: GatewayCounterSuffix = "", tokenLimits: readonly TierTokenLimit[] = []) => {
  const ns = { label: "route_namespace", variable: "namespace" } as const;
  const tier = { label: tierLabel, variable: "tier" } as const;
  const user = { label: "user", variable: "user" } as const;
  const model = { label: "model", variable: "model" } as const;
  // Limitador puts response-body labels (model) only on authorized_hits, and limited_calls has
  // only the route (field notes §2.2), so each metric gets exactly the filters its labels allow.
  const hitsName = gatewayCounter("authorized_hits", counterSuffix);
  const callsName = gatewayCounter("authorized_calls", counterSuffix);
  const hits = `${hitsName}${selector(ns, tier, user, model)}`;
  const calls = `${callsName}${selector(ns, tier, user)}`;
  const callsByRoute = `${callsName}${selector(ns)}`;
  const limited = `${gatewayCounter("limited_calls", counterSuffix)}${selector(ns)}`;
  // Billing-service series always label the tier `tier` (whatever label the gateway uses).
  const billing = selector({ label: "tenant", variable: "tenant", op: "=" }, { label: "tier", variable: "tier" }, { label: "model", variable: "model" });
  const billingTenant = selector({ label: "tenant", variable: "tenant", op: "=" }, { label: "user", variable: "user" });
  const tiers = (p: PanelSpec) => withOverrides(p, tierColourOverrides());
  const inRange = (m: string) => `increase(${m}[$__range])`;
  return {
    totalTokens: stat({
      title: "Total tokens",
      description: `Tokens counted by the gateway's token rate limits (Limitador authorized_hits: prompt + completion) on this tenant's routes. ${RANGE_NOTE}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [promQuery(ds, `sum (${inRange(hits)})`, "tokens", { instant: true })],
    }),
    activeUsers: stat({
      title: "Active users",
      description: `Users with at least one admitted request in the time range. ${USER_NOTE}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [promQuery(ds, `count (sum by (user) (${inRange(calls)}) > 0)`, "users", { instant: true })],
    }),
    successRate: stat({
      title: "Success rate",
      description:
        "Share of requests the gateway admitted: admitted / (admitted + refused with 429 by rate or token limits), on this tenant's routes. " +
        `Limitador labels refusals only by route, so tier and user filters do not apply here. ${RANGE_NOTE}`,
      datasource: ds,
      ...percentSteps("red", [0.9, "orange"], [0.99, "green"]),
      targets: [promQuery(ds, `sum (${inRange(callsByRoute)}) / (sum (${inRange(callsByRoute)}) + (sum (${inRange(limited)}) or vector(0)))`, "success rate", { instant: true })],
    }),
    tokensByTier: tiers(
      barGauge({
        title: "Tokens by tier",
        description: `Tokens counted by the gateway's token rate limits (prompt + completion) per ${tierLabel}. ${RANGE_NOTE}`,
        datasource: ds,
        unit: "short",
        decimals: 0,
        targets: [promQuery(ds, `sum by (${tierLabel}) (${inRange(hits)})`, `{{${tierLabel}}}`, { instant: true })],
      }),
    ),
    requestsByTier: tiers(
      barGauge({
        title: "Requests by tier",
        description: `Requests admitted by the gateway per ${tierLabel}. ${RANGE_NOTE}`,
        datasource: ds,
        unit: "short",
        decimals: 0,
        targets: [promQuery(ds, `sum by (${tierLabel}) (${inRange(calls)})`, `{{${tierLabel}}}`, { instant: true })],
      }),
    ),
    rateLimited: stat({
      title: "Rate-limited requests",
      description: `Requests rejected with 429 by rate or token limits on this tenant's routes. Limitador labels them only by route, so tier/user/model filters don't apply. ${RANGE_NOTE}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [promQuery(ds, `sum (${inRange(limited)})`, "rate-limited", { instant: true })],
    }),
    tokensByUser: barGauge({
      title: "Tokens by user",
      description: `Tokens per user. ${USER_NOTE} ${RANGE_NOTE}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [promQuery(ds, `sum by (user) (${inRange(hits)})`, "{{user}}", { instant: true })],
    }),
    topUsers: barGauge({
      title: "Top 10 users by tokens",
      description: `The ten users with the most tokens in the time range. ${USER_NOTE} ${RANGE_NOTE}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [promQuery(ds, `topk(10, sum by (user) (${inRange(hits)}))`, "{{user}}", { instant: true })],
    }),
    tokensByModel: barGauge({
      title: "Tokens by model",
      description: `Tokens per model as reported in the response body to the gateway. ${RANGE_NOTE}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [promQuery(ds, `sum by (model) (${inRange(hits)})`, "{{model}}", { instant: true })],
    }),
    userTable: table({
      title: "Usage per user",
      description: `Per user (and ${tierLabel}): tokens and admitted requests in the time range. ${USER_NOTE} ${RANGE_NOTE}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [
        promQuery(ds, `sum by (user, ${tierLabel}) (${inRange(hits)})`, "tokens", { instant: true }),
        promQuery(ds, `sum by (user, ${tierLabel}) (${inRange(calls)})`, "requests", { instant: true }),
      ],
      width: 24,
    }),
    costByTierModel: barGauge({
      title: "Cost by tier and model, this billing period (minor units)",
      description:
        "Cost of this billing period (calendar month, UTC) so far in minor currency units (e.g. cents), per billing period, tier and " +
        "model: the billing service's draft-invoice lines (token and per-request charges, each usage row priced with the price " +
        "version in force at its time), computed by the invoice code from the usage ledger. Summed over tiers and models it is " +
        "the draft invoice total to the minor unit.",
      datasource: ds,
      unit: "short",
      decimals: 0,
      timeFrom: "now/M",
      targets: [promQuery(ds, periodCostExpr(billing, "period, tier, model, currency"), "{{period}} {{tier}} {{model}} {{currency}}", { instant: true })],
    }),
    costTotal: stat({
      title: "Cost this billing period (minor units)",
      description:
        "This billing period's cost so far in minor currency units: the draft invoice total (all tiers, models, tokens and " +
        "per-request charges, effective-dated prices), per period and currency. With the tier or model filter set, the part of " +
        "the invoice on those lines.",
      datasource: ds,
      unit: "short",
      decimals: 0,
      timeFrom: "now/M",
      targets: [promQuery(ds, periodCostExpr(billing, "period, currency"), "{{period}} {{currency}}", { instant: true })],
    }),
    costByUser: barGauge({
      title: "Cost per user, this billing period (minor units)",
      description:
        "This billing period's cost so far per user (API key owner) in minor currency units, as the billing service computes it " +
        "with the invoice code (the usage API's cost per user): the users add up to the draft invoice total to the minor unit. " +
        "Usage without a user (gateway series without the user label) shows under an empty user.",
      datasource: ds,
      unit: "short",
      decimals: 0,
      timeFrom: "now/M",
      targets: [promQuery(ds, userCostExpr(billingTenant, "user, currency"), "{{user}} {{currency}}", { instant: true })],
    }),
    topUsersByCost: barGauge({
      title: "Top 5 users by cost, this billing period (minor units)",
      description: "The five users with the highest cost this billing period, from the same per-user cost as \"Cost per user\".",
      datasource: ds,
      unit: "short",
      decimals: 0,
      timeFrom: "now/M",
      targets: [promQuery(ds, `topk(5, ${userCostExpr(billingTenant, "user, currency")})`, "{{user}} {{currency}}", { instant: true })],
    }),
    tokenRateByTier: tiers(
      timeseries({
        title: "Token rate by tier",
        description: `Tokens per second counted by the gateway per ${tierLabel}.`,
        datasource: ds,
        unit: "short",
        targets: [promQuery(ds, `sum by (${tierLabel}) (rate(${hits}[$__rate_interval]))`, `{{${tierLabel}}}`)],
      }),
    ),
    userTokenRate: timeseries({
      title: "Token rate per user (5m)",
      description: `Tokens per second per user, averaged over 5 minutes. ${USER_NOTE}`,
      datasource: ds,
      unit: "short",
      targets: [promQuery(ds, `sum by (user) (rate(${hits}[5m]))`, "{{user}}")],
    }),
    hourlyTokensByUser: timeseries({
      title: "Tokens per hour by user",
      description: `Tokens each user used in the hour up to each point. ${USER_NOTE}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [promQuery(ds, `sum by (user) (increase(${hits}[1h]))`, "{{user}}")],
    }),
    rateLimitedRate: timeseries({
      title: "Rate-limited requests per second",
      description: "Requests rejected with 429 per second on this tenant's routes, by route.",
      datasource: ds,
      unit: "reqps",
      targets: [promQuery(ds, `sum by (limitador_namespace) (rate(${limited}[$__rate_interval]))`, "{{limitador_namespace}}")],
    }),
    limitEffectiveness: barGauge({
      title: "Rate-limit effectiveness by route (share refused)",
      description:
        "Per route, the share of requests the gateway's rate and token limits refused (429): refused / (admitted + refused). " +
        "Limitador labels refusals only by route (limitador_namespace), not by tier or user, so this is per route; the usage " +
        `against limits panel shows which ${tierLabel} is near its limit. ${RANGE_NOTE}`,
      datasource: ds,
      unit: "percentunit",
      decimals: 1,
      targets: [
        promQuery(
          ds,
          `sum by (limitador_namespace) (${inRange(limited)}) / (sum by (limitador_namespace) (${inRange(callsByRoute)}) + sum by (limitador_namespace) (${inRange(limited)}))`,
          "{{limitador_namespace}}",
          { instant: true },
        ),
      ],
    }),
    ...(tokenLimits.length > 0
      ? {
          usageAgainstLimits: tiers(
            barGauge({
              title: "Usage against token limits (highest user per tier)",
              description:
                `Per ${tierLabel} and limit window: the tokens of the user closest to the limit in the last window, over the limit ` +
                "of the tenant's TokenRateLimitPolicy (1 = at the limit; Limitador refuses above it). Limitador counts fixed windows, " +
                `this is the sliding window ending now, so it can read slightly above 1. ${USER_NOTE}`,
              datasource: ds,
              ...percentSteps("green", [0.8, "orange"], [1, "red"]),
              targets: [promQuery(ds, usageAgainstLimitsExpr(hitsName, tierLabel, tokenLimits, `, route_namespace=~"$namespace"`), `{{${tierLabel}}} / {{window}}`, { instant: true })],
            }),
          ),
        }
      : {}),
  } satisfies Record<string, PanelSpec>;
};

export const tokenUsageChargebackDashboard = (o: TokenUsageChargebackOptions): DashboardJson => {
  const ds = prometheusDs(o.datasourceUid ?? TENANT_PROMETHEUS_DS_UID);
  const tierLabel = o.tierLabel ?? "tier";
  const suffix = o.counterSuffix ?? "";
  const p = tokenUsageChargebackPanels(tierLabel, ds, suffix, o.tokenLimits ?? []);
  const calls = gatewayCounter("authorized_calls", suffix);
  return dashboard({
    uid: TOKEN_USAGE_CHARGEBACK_UID,
    title: "Token usage and chargeback",
    description:
      "Tokens and requests through the gateway by tier, user and model, active users, success rate, rate limits, and cost at the billing service's prices (per tier, model and user).",
    tags: ["maas", "tenant", "chargeback"],
    time: { from: "now/d", to: "now" },
    refresh: "30s",
    variables: [
      constantVariable("tenant", o.tenant),
      queryVariable(ds, "namespace", "Namespace", calls, "route_namespace"),
      queryVariable(ds, "tier", tierLabel === "tier" ? "Tier" : "Subscription", `${calls}{route_namespace=~"$namespace"}`, tierLabel),
      queryVariable(ds, "user", "User", `${calls}{route_namespace=~"$namespace"}`, "user"),
      queryVariable(ds, "model", "Model", `${gatewayCounter("authorized_hits", suffix)}{route_namespace=~"$namespace"}`, "model"),
    ],
    rows: [
      [p.totalTokens, p.activeUsers, p.successRate, p.rateLimited],
      [p.tokensByTier, p.requestsByTier, p.tokensByModel],
      [p.topUsers, p.tokensByUser],
      [p.userTable],
      [{ ...p.costByTierModel, width: 16 }, { ...p.costTotal, width: 8 }],
      [p.costByUser, p.topUsersByCost],
      [p.tokenRateByTier, p.userTokenRate],
      [p.hourlyTokensByUser, p.rateLimitedRate],
      [p.limitEffectiveness, ...("usageAgainstLimits" in p && p.usageAgainstLimits ? [p.usageAgainstLimits] : [])],
    ],
  });
};
