// Billing: month-to-date cost, quota burn and the collector's health and data-quality flags, all
// from the billing service's own /metrics (maas_billing_*), which the platform Prometheus scrapes.
import {
  type DashboardJson,
  type DataSourceRef,
  type PanelSpec,
  PLATFORM_PROMETHEUS_DS_UID,
  barGauge,
  constantVariable,
  percentSteps,
  periodCostExpr,
  dashboard,
  prometheusDs,
  promQuery,
  queryVariable,
  selector,
  timeseries,
} from "./common";
import { QUOTA_WARNING_RATIO } from "./rules";

export interface BillingDashboardOptions {
  /**
   * Pin the dashboard to one tenant (a tenant's own copy, for the tenant Grafana); omitted = a tenant
   * picker for the platform team. The tenant copy leaves out the platform-wide panels (collector lag,
   * unattributed tokens), whose series carry no tenant label and don't reach a tenant Prometheus.
   */
  readonly tenant?: string;
  /** Datasource uid of a Prometheus holding maas_billing_* series. Defaults to PLATFORM_PROMETHEUS_DS_UID. */
  readonly datasourceUid?: string;
}

export const BILLING_UID = "maas-billing";

const RANGE_NOTE = "Counted over the dashboard time range (default: this month so far, UTC).";

export const billingPanels = (ds: DataSourceRef, tenantOp: "=" | "=~") => {
  const t = selector({ label: "tenant", variable: "tenant", op: tenantOp });
  return {
    monthToDateCost: barGauge({
      title: "Month-to-date cost per tenant (minor units)",
      description:
        "Cost of the open billing period so far in minor currency units (e.g. cents): the draft invoice total, computed by the " +
        "billing service's invoice code (exact usage, effective-dated token and per-request prices, the invoice's rounding).",
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [promQuery(ds, `max by (tenant, currency) (maas_billing_month_to_date_cost_minor${t})`, "{{tenant}} {{currency}}", { instant: true })],
    }),
    periodCostLines: barGauge({
      title: "Cost this billing period by tier, model and charge (minor units)",
      description:
        "Draft-invoice lines of the open billing period per tenant: tier, model and charge (input tokens, output tokens, requests), " +
        "priced by the billing service's invoice code with effective-dated prices; per tenant they add up to the month-to-date cost.",
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [
        promQuery(ds, periodCostExpr(t, "tenant, period, tier, model, component, currency"), "{{tenant}} {{tier}} {{model}} {{component}} {{currency}}", {
          instant: true,
        }),
      ],
    }),
    quotaBurn: barGauge({
      title: "Quota burn",
      description: "Share of each quota used in its current period (tokens or cost; day or month). The warning alert fires at 80%, the critical one at 100%.",
      datasource: ds,
      // Same break points as the quota alerts.
      ...percentSteps("green", [QUOTA_WARNING_RATIO, "orange"], [1, "red"]),
      targets: [promQuery(ds, `max by (tenant, kind, period) (maas_billing_quota_used_ratio${t})`, "{{tenant}} {{kind}}/{{period}}", { instant: true })],
    }),
    meteredTokens: barGauge({
      title: "Metered tokens per tenant",
      description: `Input and output tokens the billing service metered per tenant. ${RANGE_NOTE}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [
        promQuery(ds, `sum by (tenant, direction) (increase(maas_billing_usage_tokens_total${t}[$__range]))`, "{{tenant}} {{direction}}", { instant: true }),
      ],
    }),
    keyUsage: barGauge({
      title: "Tokens per API key",
      description:
        `Billable input and output tokens per API key (its name and id, never the key itself) and model, from the gateway's access logs ` +
        "(docs/usage-sources.md), in the open billing period (calendar month, UTC); empty when the gateway counters are the billable source.",
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [
        promQuery(ds, `max by (tenant, key_name, key_id, model, direction) (last_over_time(maas_billing_key_period_tokens${t}[$__range]))`, "{{tenant}} {{key_name}} ({{key_id}}) {{model}} {{direction}}", {
          instant: true,
        }),
      ],
    }),
    collectorLag: timeseries({
      title: "Collector lag",
      description: "How far behind real time the billing collector's last complete window is, per source. The alert fires when it stays above the configured threshold.",
      datasource: ds,
      unit: "s",
      targets: [promQuery(ds, "max by (source) (maas_billing_collector_lag_seconds)", "{{source}}")],
    }),
    counterResets: barGauge({
      title: "Counter resets seen",
      description: `Counter resets (e.g. Limitador restarts) the collector handled per tenant and source. Increments between the last scrape and a restart are lost. ${RANGE_NOTE}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [
        promQuery(ds, `sum by (tenant, source) (increase(maas_billing_collector_counter_resets_total${t}[$__range]))`, "{{tenant}} {{source}}", { instant: true }),
      ],
    }),
    scrapeGaps: barGauge({
      title: "Scrape gaps seen",
      description: `Gaps in the raw samples (missed scrapes) the collector found per tenant and source; usage across a gap is still counted from the next sample. ${RANGE_NOTE}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [promQuery(ds, `sum by (tenant, source) (increase(maas_billing_collector_gaps_total${t}[$__range]))`, "{{tenant}} {{source}}", { instant: true })],
    }),
    gatewayModelMismatch: barGauge({
      title: "Gateway vs model-server mismatch",
      description: "Relative difference between tokens counted at the gateway (Limitador) and at the model servers (vLLM), per tenant and model, as an absolute ratio. Large values point to missing labels, a second scrape of the same target, or lost counters.",
      datasource: ds,
      unit: "percentunit",
      decimals: 2,
      targets: [promQuery(ds, `max by (tenant, model) (abs(maas_billing_reconciliation_diff_ratio${t}))`, "{{tenant}} {{model}}", { instant: true })],
    }),
    unattributedTokens: barGauge({
      title: "Unattributed tokens",
      description: `Tokens the collector could not assign to a tenant (series without the labels the meters need), per source. ${RANGE_NOTE}`,
      datasource: ds,
      unit: "short",
      decimals: 0,
      targets: [promQuery(ds, "sum by (source) (increase(maas_billing_unattributed_tokens_total[$__range]))", "{{source}}", { instant: true })],
    }),
  } satisfies Record<string, PanelSpec>;
};

export const billingDashboard = (o: BillingDashboardOptions = {}): DashboardJson => {
  const ds = prometheusDs(o.datasourceUid ?? PLATFORM_PROMETHEUS_DS_UID);
  const p = billingPanels(ds, o.tenant === undefined ? "=~" : "=");
  return dashboard({
    uid: o.tenant === undefined ? BILLING_UID : `${BILLING_UID}-tenant`,
    title: o.tenant === undefined ? "Billing" : "Billing (tenant)",
    description: "Month-to-date cost, quota burn, collector lag and data-quality flags from the billing service.",
    tags: ["maas", "billing"],
    time: { from: "now/M", to: "now" },
    variables: [
      o.tenant === undefined
        ? queryVariable(ds, "tenant", "Tenant", "maas_billing_month_to_date_cost_minor", "tenant")
        : constantVariable("tenant", o.tenant),
    ],
    rows:
      o.tenant === undefined
        ? [
            [p.monthToDateCost, p.quotaBurn, p.meteredTokens],
            [p.periodCostLines],
            [p.keyUsage],
            [p.collectorLag, p.counterResets, p.scrapeGaps],
            [p.gatewayModelMismatch, p.unattributedTokens],
          ]
        : [
            [p.monthToDateCost, p.quotaBurn, p.meteredTokens],
            [p.periodCostLines],
            [p.keyUsage],
            [p.counterResets, p.scrapeGaps, p.gatewayModelMismatch],
          ],
  });
};
