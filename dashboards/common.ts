// House style for every maas-billing dashboard: one small typed builder that emits the subset of
// Grafana's dashboard model (schemaVersion 39) we use. Panels are plain values made by the default
// builders below; a dashboard file lists them row by row and `dashboard()` assigns ids and gridPos,
// so layout stays in one place and ids are unique by construction.

import type { GatewayCounterSuffix, TierLabel, VllmFamily } from "../components/contract";

/** Datasource uid of the tenant Prometheus in a tenant Grafana (provisioned with this fixed uid). */
export const TENANT_PROMETHEUS_DS_UID = "maas-tenant-prometheus";
/** Datasource uid of the platform Prometheus (the one scraping the billing service) in the platform Grafana. */
export const PLATFORM_PROMETHEUS_DS_UID = "maas-platform-prometheus";
/** Grafana dashboard schema version the JSON follows. */
export const SCHEMA_VERSION = 39;
/** Grid width of a Grafana dashboard. */
export const GRID_WIDTH = 24;

/** vLLM metric-name family, the label carrying the tier and Limitador's counter suffix: the platform contract's types. */
export type { GatewayCounterSuffix, TierLabel, VllmFamily };

/** Limitador's counters (field notes §2.1). */
export type GatewayCounterName = "authorized_hits" | "authorized_calls" | "limited_calls";

/**
 * A Limitador counter as stored in the Prometheus the dashboards read: `authorized_hits` or, where
 * the monitoring stack appends the counter suffix (the Red Hat OpenShift AI stack),
 * `authorized_hits_total`. One name, never a regex over both (where both exist, that counts twice).
 */
export const gatewayCounter = (name: GatewayCounterName, suffix: GatewayCounterSuffix = ""): string => `${name}${suffix}`;

/** Refresh intervals offered in the time picker; 30 s is the shortest (the seed dashboard's choice). */
export const REFRESH_INTERVALS = ["30s", "1m", "5m", "15m", "30m", "1h"] as const;

/**
 * Fixed colours of the well-known tiers (the MaaS seed dashboard's), so a tier keeps its colour on
 * every panel whatever the order of the series. Matched on the displayed series name, which the
 * tier panels set to the tier (legend `{{tier}}`).
 */
export const TIER_COLOURS: Readonly<Record<string, string>> = { free: "#06b6d4", premium: "#a855f7", enterprise: "#2563eb" };

/** Field overrides giving each well-known tier its colour (legend = the tier name). */
export const tierColourOverrides = (): FieldOverride[] =>
  Object.entries(TIER_COLOURS).map(([tier, colour]) => ({
    matcher: { id: "byName", options: tier },
    properties: [{ id: "color", value: { mode: "fixed", fixedColor: colour } }],
  }));

/** The same panel with extra field overrides (e.g. tierColourOverrides()). */
export const withOverrides = (panel: PanelSpec, overrides: readonly FieldOverride[]): PanelSpec => ({
  ...panel,
  fieldConfig: { ...panel.fieldConfig, overrides: [...panel.fieldConfig.overrides, ...overrides] },
});

export interface DataSourceRef {
  readonly type: "prometheus";
  readonly uid: string;
}

export interface PromTarget {
  readonly refId: string;
  readonly datasource: DataSourceRef;
  readonly expr: string;
  readonly legendFormat: string;
  readonly instant: boolean;
  readonly range: boolean;
  /** "table" for table panels (one row per series); time series otherwise. */
  readonly format?: "table" | "time_series";
}

export interface GridPos {
  readonly h: number;
  readonly w: number;
  readonly x: number;
  readonly y: number;
}

export type PanelType = "timeseries" | "stat" | "bargauge" | "table";

/** Grafana field override: a matcher and the properties it sets. */
export interface FieldOverride {
  readonly matcher: { readonly id: string; readonly options?: unknown };
  readonly properties: readonly { readonly id: string; readonly value?: unknown }[];
}

/** A panel before layout: everything but `id` and `gridPos`. */
export interface PanelSpec {
  readonly type: PanelType;
  readonly title: string;
  readonly description: string;
  readonly datasource: DataSourceRef;
  readonly targets: readonly PromTarget[];
  readonly fieldConfig: { readonly defaults: Record<string, unknown>; readonly overrides: readonly FieldOverride[] };
  readonly options: Record<string, unknown>;
  /** Grafana data transformations (table panels: merge the queries into one row per series). */
  readonly transformations?: readonly { readonly id: string; readonly options: Record<string, unknown> }[];
  /** Panel-level relative time ("now/d" = today so far); changes `$__range` for this panel only. */
  readonly timeFrom?: string;
  /** Width in grid columns; defaults to an equal share of the row. */
  readonly width?: number;
  /** Height in grid rows; defaults to 8. */
  readonly height?: number;
}

export interface Panel extends Omit<PanelSpec, "width" | "height"> {
  readonly id: number;
  readonly gridPos: GridPos;
}

export interface Variable {
  readonly type: "query" | "constant";
  readonly name: string;
  readonly label?: string;
  readonly [key: string]: unknown;
}

export interface DashboardJson {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly tags: readonly string[];
  readonly schemaVersion: number;
  readonly version: number;
  readonly editable: boolean;
  readonly graphTooltip: number;
  readonly timezone: string;
  readonly refresh: string;
  readonly time: { from: string; to: string };
  /** Refresh intervals offered in the time picker. */
  readonly timepicker: { readonly refresh_intervals: readonly string[] };
  readonly templating: { list: readonly Variable[] };
  /** No annotations: the empty list Grafana expects. */
  readonly annotations: { list: readonly never[] };
  readonly panels: readonly Panel[];
  /** Dashboard links (top right), e.g. to the tenant billing portal. */
  readonly links?: readonly DashboardLink[];
}

/** A Grafana dashboard link of type "link" (fields as in @grafana/schema DashboardLink). */
export interface DashboardLink {
  readonly title: string;
  readonly type: "link";
  readonly url: string;
  readonly icon: string;
  readonly tooltip: string;
  readonly targetBlank: boolean;
  readonly asDropdown: boolean;
  readonly includeVars: boolean;
  readonly keepTime: boolean;
  readonly tags: readonly string[];
}

export const prometheusDs = (uid: string): DataSourceRef => ({ type: "prometheus", uid });

/** Metric name in the configured vLLM family, e.g. `kserve_vllm:prompt_tokens_total`. */
export const vllmMetric = (family: VllmFamily, name: string): string => `${family}:${name}`;

/** A label matched against a dashboard variable (multi-value variables need `=~`). */
export interface VariableMatcher {
  readonly label: string;
  readonly variable: string;
  /** `=~` for multi-value or All variables (default), `=` for single-value/constant ones. */
  readonly op?: "=" | "=~";
}

/**
 * The one place label selectors are written: `{label=~"$variable", ...}`.
 * Every query of every dashboard builds its braces here, so scoping can't drift between panels.
 */
export const selector = (...matchers: readonly VariableMatcher[]): string =>
  `{${matchers.map((m) => `${m.label}${m.op ?? "=~"}"$${m.variable}"`).join(", ")}}`;

/**
 * Cost of the billing period so far by invoice line, as the billing service exports it
 * (`maas_billing_period_cost_minor_total`, priced by the invoice code: a tenant's lines add up to its
 * draft invoice total to the minor unit), summed `by` the given labels. The last value in the range
 * counts (a line may move by one minor unit to another as rounding leftovers move, so never rate()),
 * and `max by` the line's identity first keeps one copy of each line even if the exporting replica
 * changed inside the range (the old holder's last samples stay in the range).
 */
export const periodCostExpr = (billingSelector: string, by: string): string =>
  `sum by (${by}) (max by (tenant, currency, period, tier, model, component) (last_over_time(maas_billing_period_cost_minor_total${billingSelector}[$__range])))`;

/**
 * Cost of the billing period so far per user (`maas_billing_user_period_cost_minor`: the billing
 * service's per-user cost, priced by the invoice code like the usage API's cost per user; a tenant's
 * users add up to its draft invoice total), summed `by` the given labels. Last value in the range,
 * `max by` the row's identity first, for the same reasons as periodCostExpr.
 */
export const userCostExpr = (billingSelector: string, by: string): string =>
  `sum by (${by}) (max by (tenant, currency, period, user) (last_over_time(maas_billing_user_period_cost_minor${billingSelector}[$__range])))`;

/** A Prometheus query target; `instant` for stat/bar-gauge panels that show one number per series. */
export const promQuery = (
  datasource: DataSourceRef,
  expr: string,
  legendFormat: string,
  opts: { instant?: boolean } = {},
): Omit<PromTarget, "refId"> => ({
  datasource,
  expr,
  legendFormat,
  instant: opts.instant ?? false,
  range: !(opts.instant ?? false),
});

interface PanelInput {
  readonly title: string;
  readonly description: string;
  readonly datasource: DataSourceRef;
  readonly targets: readonly Omit<PromTarget, "refId">[];
  /** Grafana unit id, e.g. "reqps", "s", "percentunit", "short". */
  readonly unit: string;
  readonly decimals?: number;
  /** Colour steps: values from `value` up get `color` (the first step starts at -infinity). */
  readonly thresholds?: readonly { readonly color: string; readonly value: number | null }[];
  readonly timeFrom?: string;
  readonly width?: number;
  readonly height?: number;
}

/**
 * A ratio in percent with one decimal, coloured in steps: `below` under the first break, then each
 * [break, colour] from that value up (e.g. green, orange from 0.8, red from 1).
 */
export const percentSteps = (below: string, ...steps: readonly (readonly [number, string])[]): Pick<PanelInput, "unit" | "decimals" | "thresholds"> => ({
  unit: "percentunit",
  decimals: 1,
  thresholds: [{ color: below, value: null }, ...steps.map(([value, color]) => ({ color, value }))],
});

const withRefIds = (targets: PanelInput["targets"]): PromTarget[] =>
  targets.map((t, i) => ({ refId: String.fromCharCode(65 + i), ...t }));

const base = (type: PanelType, p: PanelInput, options: Record<string, unknown>, custom: Record<string, unknown> = {}): PanelSpec => ({
  type,
  title: p.title,
  description: p.description,
  datasource: p.datasource,
  targets: withRefIds(p.targets),
  fieldConfig: {
    defaults: {
      unit: p.unit,
      ...(p.decimals === undefined ? {} : { decimals: p.decimals }),
      ...(p.thresholds === undefined ? {} : { thresholds: { mode: "absolute", steps: p.thresholds } }),
      custom,
    },
    overrides: [],
  },
  options,
  ...(p.timeFrom === undefined ? {} : { timeFrom: p.timeFrom }),
  ...(p.width === undefined ? {} : { width: p.width }),
  ...(p.height === undefined ? {} : { height: p.height }),
});

const legend = { displayMode: "table", placement: "bottom", calcs: ["lastNotNull", "max"], showLegend: true };

/** Time series with a table legend; the default for rates. */
export const timeseries = (p: PanelInput): PanelSpec =>
  base("timeseries", p, { legend, tooltip: { mode: "multi", sort: "desc" } }, { lineWidth: 1, fillOpacity: 10, spanNulls: false });

/** One big number per series (instant queries). */
export const stat = (p: PanelInput): PanelSpec =>
  base("stat", p, {
    reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false },
    colorMode: "value",
    graphMode: "none",
    textMode: "value_and_name",
    justifyMode: "auto",
    orientation: "auto",
  });

/** Horizontal bars, one per series (instant queries): rankings such as tokens by user. */
export const barGauge = (p: PanelInput): PanelSpec =>
  base("bargauge", p, {
    reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false },
    displayMode: "basic",
    orientation: "horizontal",
    showUnfilled: true,
  });

/**
 * A table with one row per series and one column per query (instant queries, "table" format, merged
 * on their common labels): e.g. per user its tokens, requests and cost side by side.
 */
export const table = (p: PanelInput): PanelSpec => ({
  ...base("table", { ...p, targets: p.targets.map((t) => ({ ...t, format: "table" })) }, { showHeader: true, cellHeight: "sm", footer: { show: false, reducer: ["sum"], countRows: false, fields: "" } }),
  transformations: [{ id: "merge", options: {} }, { id: "organize", options: { excludeByName: { Time: true } } }],
});

/** Label-value query variable (`label_values(metric, label)`), multi-select with All = `.*`. */
export const queryVariable = (
  datasource: DataSourceRef,
  name: string,
  label: string,
  metric: string,
  labelName: string,
): Variable => {
  const definition = `label_values(${metric}, ${labelName})`;
  return {
    type: "query",
    name,
    label,
    datasource,
    definition,
    query: definition, // the plain-string form every Grafana version reads (newer ones migrate it)
    refresh: 2, // on time-range change, so new models/users appear
    includeAll: true,
    multi: true,
    allValue: ".*",
    current: { selected: true, text: ["All"], value: ["$__all"] },
    sort: 1,
    hide: 0,
    options: [],
  };
};

/** Hidden constant variable (e.g. the tenant a tenant Grafana belongs to). */
export const constantVariable = (name: string, value: string): Variable => ({
  type: "constant",
  name,
  query: value,
  hide: 2,
  current: { selected: true, text: value, value },
  options: [{ selected: true, text: value, value }],
});

export interface DashboardInput {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly tags: readonly string[];
  /** Default time range, e.g. { from: "now-6h", to: "now" }. */
  readonly time: { from: string; to: string };
  /** Auto-refresh interval, one of REFRESH_INTERVALS. Defaults to "1m". */
  readonly refresh?: (typeof REFRESH_INTERVALS)[number];
  readonly variables: readonly Variable[];
  /** Panels in reading order, one array per row. */
  readonly rows: readonly (readonly PanelSpec[])[];
}

/** Lays rows out left to right, top to bottom, and numbers panels from 1. */
export const layout = (rows: DashboardInput["rows"]): Panel[] => {
  const panels: Panel[] = [];
  let y = 0;
  for (const row of rows) {
    const share = Math.floor(GRID_WIDTH / row.length);
    let x = 0;
    let rowHeight = 0;
    for (const spec of row) {
      const { width, height, ...rest } = spec;
      const w = width ?? share;
      const h = height ?? 8;
      panels.push({ ...rest, id: panels.length + 1, gridPos: { h, w, x, y } });
      x += w;
      rowHeight = Math.max(rowHeight, h);
    }
    if (x > GRID_WIDTH) throw new Error(`row starting with "${row[0]?.title}" is ${x} columns wide; the grid has ${GRID_WIDTH}`);
    y += rowHeight;
  }
  return panels;
};

/**
 * A complete dashboard. Timezone is UTC so "today" starts at the same midnight as the billing
 * service's daily buckets and quotas.
 */
export const dashboard = (d: DashboardInput): DashboardJson => ({
  uid: d.uid,
  title: d.title,
  description: d.description,
  tags: d.tags,
  schemaVersion: SCHEMA_VERSION,
  version: 1,
  editable: false,
  graphTooltip: 1,
  timezone: "utc",
  refresh: d.refresh ?? "1m",
  time: d.time,
  timepicker: { refresh_intervals: REFRESH_INTERVALS },
  templating: { list: d.variables },
  annotations: { list: [] },
  panels: layout(d.rows),
});
