// Token usage and chargeback: who used how many tokens through the gateway (Limitador counters),
// and what it costs at the billing service's own prices (never numbers typed into a panel).
import {
  type DashboardJson,
  type DataSourceRef,
  type PanelSpec,
  type TierLabel,
  TENANT_PROMETHEUS_DS_UID,
  barGauge,
  constantVariable,
  dashboard,
  prometheusDs,
  promQuery,
  periodCostExpr,
  queryVariable,
  selector,
  stat,
  timeseries,
} from "./common";

export interface TokenUsageChargebackOptions {
  /** Tenant name as the billing service labels it (`tenant` label of maas_billing_* series). */
  readonly tenant: string;
  /** Label carrying the tier on Limitador series. Defaults to "tier". */
  readonly tierLabel?: TierLabel;
  /** Datasource uid of the tenant Prometheus. Defaults to TENANT_PROMETHEUS_DS_UID. */
  readonly datasourceUid?: string;
}

export const TOKEN_USAGE_CHARGEBACK_UID = "maas-token-usage-chargeback";

const RANGE_NOTE =
  "Over the dashboard time range (default: today so far, UTC), estimated with increase(): it extrapolates to the window edges " +
  "and loses increments made between Limitador's last scrape and a restart (Limitador keeps counters in memory).";

/** The panels, as a function of the tier label, so tests can run each query. */
export const tokenUsageChargebackPanels = (tierLabel: TierLabel, ds: DataSourceRef) => {
  const ns = { label: "route_namespace", variable: "namespace" } as const;
  const tier = { label: tierLabel, variable: "tier" } as const;
  const user = { label: "user", variable: "user" } as const;
  const model = { label: "model", variable: "model" } as const;
  // Limitador puts response-body labels (model) only on authorized_hits, and limited_calls has
  // only the route, so each metric gets exactly the filters its labels allow.
  const hits = `authorized_hits${selector(ns, tier, user, model)}`;
  const calls = `authorized_calls${selector(ns, tier, user)}`;
  const limited = `limited_calls${selector(ns)}`;
  // Billing-service series always label the tier `tier` (whatever label the gateway uses).
  const billing = selector({ label: "tenant", variable: "tenant", op: "=" }, { label: "tier", variable: "tier" }, { label: "model", variable: "model" });
  return {
    tokensByTier: barGauge({
      title: "Tokens by tier",
      description: `Tokens counted by the gateway's token rate limits (prompt + completion) per ${tierLabel}. ${RANGE_NOTE}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [promQuery(ds, `sum by (${tierLabel}) (increase(${hits}[$__range]))`, `{{${tierLabel}}}`, { instant: true })],
    }),
    requestsByTier: barGauge({
      title: "Requests by tier",
      description: `Requests admitted by the gateway per ${tierLabel}. ${RANGE_NOTE}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [promQuery(ds, `sum by (${tierLabel}) (increase(${calls}[$__range]))`, `{{${tierLabel}}}`, { instant: true })],
    }),
    rateLimited: stat({
      title: "Rate-limited requests",
      description: `Requests rejected with 429 by rate or token limits on this tenant's routes. Limitador labels them only by route, so tier/user/model filters don't apply. ${RANGE_NOTE}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [promQuery(ds, `sum (increase(${limited}[$__range]))`, "rate-limited", { instant: true })],
    }),
    tokensByUser: barGauge({
      title: "Tokens by user",
      description: `Tokens per user. Needs the user label on Limitador series (TelemetryPolicy / captureUser, off by default upstream); without it all tokens show under one empty user. ${RANGE_NOTE}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [promQuery(ds, `sum by (user) (increase(${hits}[$__range]))`, "{{user}}", { instant: true })],
    }),
    tokensByModel: barGauge({
      title: "Tokens by model",
      description: `Tokens per model as reported in the response body to the gateway. ${RANGE_NOTE}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [promQuery(ds, `sum by (model) (increase(${hits}[$__range]))`, "{{model}}", { instant: true })],
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
    tokenRateByTier: timeseries({
      title: "Token rate by tier",
      description: `Tokens per second counted by the gateway per ${tierLabel}.`,
      datasource: ds,
      unit: "short",
      targets: [promQuery(ds, `sum by (${tierLabel}) (rate(${hits}[$__rate_interval]))`, `{{${tierLabel}}}`)],
    }),
    rateLimitedRate: timeseries({
      title: "Rate-limited requests per second",
      description: "Requests rejected with 429 per second on this tenant's routes, by route.",
      datasource: ds,
      unit: "reqps",
      targets: [promQuery(ds, `sum by (limitador_namespace) (rate(${limited}[$__rate_interval]))`, "{{limitador_namespace}}")],
    }),
  } satisfies Record<string, PanelSpec>;
};

export const tokenUsageChargebackDashboard = (o: TokenUsageChargebackOptions): DashboardJson => {
  const ds = prometheusDs(o.datasourceUid ?? TENANT_PROMETHEUS_DS_UID);
  const tierLabel = o.tierLabel ?? "tier";
  const p = tokenUsageChargebackPanels(tierLabel, ds);
  return dashboard({
    uid: TOKEN_USAGE_CHARGEBACK_UID,
    title: "Token usage and chargeback",
    description: "Tokens and requests through the gateway by tier, user and model, rate-limited requests, and cost at the billing service's prices.",
    tags: ["maas", "tenant", "chargeback"],
    time: { from: "now/d", to: "now" },
    variables: [
      constantVariable("tenant", o.tenant),
      queryVariable(ds, "namespace", "Namespace", "authorized_calls", "route_namespace"),
      queryVariable(ds, "tier", tierLabel === "tier" ? "Tier" : "Subscription", `authorized_calls{route_namespace=~"$namespace"}`, tierLabel),
      queryVariable(ds, "user", "User", `authorized_calls{route_namespace=~"$namespace"}`, "user"),
      queryVariable(ds, "model", "Model", `authorized_hits{route_namespace=~"$namespace"}`, "model"),
    ],
    rows: [
      [p.tokensByTier, p.requestsByTier, p.rateLimited],
      [p.tokensByUser, p.tokensByModel],
      [{ ...p.costByTierModel, width: 16 }, { ...p.costTotal, width: 8 }],
      [p.tokenRateByTier, p.rateLimitedRate],
    ],
  });
};
