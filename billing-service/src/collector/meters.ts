/**
 * The counters the collector reads, and how their labels become ledger dimensions.
 *
 * Names and labels follow docs/contract.md ("Metric names"): Limitador's `authorized_hits`
 * (tokens under a TokenRateLimitPolicy: input+output, no split), `authorized_calls` (allowed
 * requests) and `limited_calls` (rejections); vLLM's prompt and generation token counters under
 * the `vllm:` or `kserve_vllm:` prefix (one of them, chosen in config: newer KServe exposes both,
 * and reading both would count twice).
 */
import type { GatewayCounterSuffix, VllmFamily } from "../contract";
import type { Attribution, TenantResolver } from "./tenant-map";

export type Source = "gateway" | "model-server";
/**
 * Source of the billable rows that bill max(gateway, model server): the model server's excess over
 * the gateway in a shortfall window (collector setting `shortfallBilling`, reconcile.ts).
 */
export const MAX_OF_COUNTERS_SOURCE = "model-server-max";
/** Where a ledger row of the collector comes from. */
export type RowSource = Source | typeof MAX_OF_COUNTERS_SOURCE;

/** What a counter measures once mapped to the ledger. */
export type Quantity = "tokens" | "requests" | "limited_requests" | "input_tokens" | "output_tokens";

export interface MeterDefinition {
  readonly source: Source;
  readonly metric: string;
  readonly quantity: Quantity;
}


/** Limitador's counters, named as stored: `authorized_hits` or (suffix "_total") `authorized_hits_total`. */
export const gatewayMeters = (suffix: GatewayCounterSuffix = ""): MeterDefinition[] => [
  { source: "gateway", metric: `authorized_hits${suffix}`, quantity: "tokens" },
  { source: "gateway", metric: `authorized_calls${suffix}`, quantity: "requests" },
  { source: "gateway", metric: `limited_calls${suffix}`, quantity: "limited_requests" },
];

export const modelServerMeters = (family: VllmFamily): MeterDefinition[] => [
  { source: "model-server", metric: `${family}:prompt_tokens_total`, quantity: "input_tokens" },
  { source: "model-server", metric: `${family}:generation_tokens_total`, quantity: "output_tokens" },
];

/** Ledger dimensions of one series. `user`, `tier` and `model` are null when the label is absent. */
export interface Dimensions {
  readonly tenant: string;
  readonly user: string | null;
  readonly tier: string | null;
  readonly model: string | null;
  /** The configured attribute labels the series carries (non-empty values only), e.g. organization_id. */
  readonly attributes: Readonly<Record<string, string>>;
}

export type SeriesAttribution =
  | ({ readonly kind: "tenant" } & Dimensions)
  | Extract<Attribution, { kind: "unattributed" }>;

/**
 * PostgreSQL text and jsonb cannot hold NUL (U+0000), and a tenant sets label values (its API
 * keys' `user` annotation, attribute labels): one NUL would fail the whole pass's write, for every
 * tenant. It becomes U+FFFD, so the usage stays billed, to the namespace's tenant, under a visibly
 * mangled name (docs/threat-model.md B8). Only ledger values: queries and series keys keep the raw
 * label (Prometheus matches the NUL; PromQL's lexer refuses a literal U+FFFD).
 */
export const withoutNul = (value: string): string => (value.includes("\u0000") ? value.replaceAll("\u0000", "\uFFFD") : value);

/** Whether some label value holds NUL (the collector warns about each such series). */
export const hasNul = (labels: Readonly<Record<string, string>>): boolean => Object.values(labels).some((v) => v.includes("\u0000"));

const label = (labels: Readonly<Record<string, string>>, name: string): string | null => {
  const v = labels[name];
  return v === undefined || v === "" ? null : withoutNul(v);
};

/**
 * Maps one series' labels to ledger dimensions. Gateway series may carry the plan as `tier` or
 * `subscription` (MaaS renamed it) and a user only when the TelemetryPolicy captures it.
 */
export const attributeSeries = (
  source: Source,
  labels: Readonly<Record<string, string>>,
  tenants: TenantResolver,
  attributeLabels: readonly string[] = [],
): SeriesAttribution => {
  const owner =
    source === "gateway"
      ? tenants.byLimitadorNamespace(labels.limitador_namespace)
      : tenants.byNamespace(labels.namespace);
  // The reason quotes the label value it could not read.
  if (owner.kind === "unattributed") return { kind: "unattributed", reason: withoutNul(owner.reason) };
  const tenant = withoutNul(owner.tenant);
  if (source === "gateway") {
    return {
      kind: "tenant",
      tenant,
      user: label(labels, "user"),
      tier: label(labels, "tier") ?? label(labels, "subscription"),
      model: label(labels, "model"),
      attributes: Object.fromEntries(
        [...attributeLabels].sort().flatMap((name) => {
          const v = label(labels, name);
          return v === null ? [] : [[name, v]];
        }),
      ),
    };
  }
  return { kind: "tenant", tenant, user: null, tier: null, model: label(labels, "model_name"), attributes: {} };
};
