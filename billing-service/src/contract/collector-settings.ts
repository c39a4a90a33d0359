/**
 * Collector settings (collector.yaml, `MAAS_BILLING_COLLECTOR_CONFIG`): one zod schema for flags,
 * env and the config file, with readable errors. The platform renders this file and parses what it
 * rendered with parseCollectorSettingsYaml, the service's own reader.
 */
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { parseMatcherList } from "../collector/remote-read/matchers";

/**
 * How Limitador's counters are named where they are stored: `""` = `authorized_hits` (Limitador's
 * own /metrics), `"_total"` = `authorized_hits_total` (the Red Hat OpenShift AI monitoring stack).
 * The collector, the dashboards, the rules and the tenants' federation all take the one platform
 * setting (`platform.telemetry.counterSuffix`).
 */
export const GATEWAY_COUNTER_SUFFIXES = ["", "_total"] as const;
export type GatewayCounterSuffix = (typeof GATEWAY_COUNTER_SUFFIXES)[number];

/** The vLLM metric-name families: plain `vllm:` or KServe's `kserve_vllm:`. */
export const VLLM_FAMILIES = ["vllm", "kserve_vllm"] as const;
export type VllmFamily = (typeof VLLM_FAMILIES)[number];

/** APIs the collector can read raw samples through (collector/sample-source.ts). */
export const READ_APIS = ["auto", "query", "remote-read"] as const;
export type ReadApi = (typeof READ_APIS)[number];

const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, 'expected a duration such as "30s", "5m" or "1h"')
  .transform((s) => {
    const n = Number(s.replace(/\D+$/, ""));
    const unit = s.replace(/^\d+/, "");
    const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit as "ms" | "s" | "m" | "h" | "d"];
    return n * factor;
  });

/** PromQL matchers in braces, read as the remote read API takes them (both paths use the same text). */
const matchers = (example: string) =>
  z.string().superRefine((s, ctx) => {
    try {
      parseMatcherList(s);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: `${(e as Error).message.replace(/^selector /, "")}; e.g. ${example}` });
    }
  });

/** Labels that are ledger dimensions already or route usage to a tenant: not attribute labels. */
export const RESERVED_LABELS = ["tenant", "user", "tier", "subscription", "model", "model_name", "namespace", "limitador_namespace", "route_namespace"];

/** The tenant registry: each tenant and its namespaces. */
const tenantRegistrySchema = z.array(z.object({ name: z.string().min(1), namespaces: z.array(z.string().min(1)).min(1) }));
export type TenantRegistry = z.output<typeof tenantRegistrySchema>;

export const collectorSettingsSchema = z
  .object({
    /** Ledger window (bucket) size. Defaults to 1h. */
    window: duration.prefault("1h"),
    /** How long after its end a window is considered closed (late scrapes land first). Defaults to 5m. */
    offset: duration.prefault("5m"),
    /** Scrape interval of the counters; the gap threshold defaults to three of them. Defaults to 15s. */
    scrapeInterval: duration.prefault("15s"),
    /** A stretch without samples longer than this is a gap. Defaults to 3 x scrapeInterval. */
    gapThreshold: duration.optional(),
    /**
     * How far before a pass the previous sample (the anchor) is searched in the main query; older
     * anchors cost one extra query per series. Must exceed the gap threshold. Defaults to 15m.
     */
    anchorLookback: duration.prefault("15m"),
    /** For a series with no sample in anchorLookback: how far back to look before calling it new. Defaults to 31d. */
    anchorDeepLookback: duration.prefault("31d"),
    /** With more series than this lacking an anchor, ask one query per counter first. Defaults to 16. */
    anchorBatchAbove: z.number().int().min(0).default(16),
    /**
     * Lookback of that per-counter query (it reads every series of the counter over this range,
     * so keep it below Prometheus' sample limit: 6h of 10,000 series at 15 s is 14.4M). Defaults to 6h.
     */
    anchorBatchLookback: duration.prefault("6h"),
    /**
     * Windows read per Prometheus query. Defaults to as many as fit in 2h (at least one), which
     * keeps a query of 10,000 series at 15 s far below Prometheus' 50M-sample limit.
     */
    windowsPerQuery: z.number().int().min(1).max(1000).optional(),
    /** Already collected windows collected again on every pass, for samples later than the offset. Defaults to 1. */
    recollectWindows: z.number().int().min(0).max(1000).default(1),
    /** Relative gateway/model-server difference beyond which a window is flagged. Defaults to 0.05. */
    reconcileTolerance: z.number().min(0).max(1).default(0.05),
    /**
     * Bill max(gateway, model server) per tenant, model and window: where the model server served
     * more tokens than the gateway counted, beyond `reconcileTolerance`, the difference becomes a
     * billable row (source `model-server-max`, this `tier`, no user), so the invoice bills the model
     * server's count and records those windows (flag `meteringShortfallBilled`). Within the tolerance
     * the gateway stands (the max of two counters read at slightly different instants would bill the
     * noise). Omitted (the default): the shortfall is a `meteringShortfall` flag that blocks finalize.
     */
    shortfallBilling: z.strictObject({ tier: z.string().min(1) }).optional(),
    /** vLLM metric family: plain `vllm:` or KServe's `kserve_vllm:` (never both: that counts twice). */
    vllmFamily: z.enum(VLLM_FAMILIES).default("vllm"),
    /**
     * Extra label matchers for the gateway and model-server counters, e.g. `{job="limitador"}`, to
     * read one scrape job only when two jobs scrape the same target (which would count twice).
     */
    gatewayMatchers: matchers('{job="limitador"}').optional(),
    modelServerMatchers: matchers('{job="vllm"}').optional(),
    /**
     * Names of Limitador's counters: `""` reads `authorized_hits`, `authorized_calls`, `limited_calls`
     * (Limitador's own /metrics), `"_total"` reads `authorized_hits_total`, ... (what the Red Hat
     * OpenShift AI monitoring stack stores). One or the other, never both: reading both would count
     * twice. Defaults to "".
     */
    gatewayCounterSuffix: z.enum(GATEWAY_COUNTER_SUFFIXES).default(""),
    /**
     * Extra gateway labels carried into usage rows, invoice lines, FOCUS Tags and the usage API's
     * group-by, e.g. MaaS subscriptions' `organization_id` and `cost_center`, or `group`. Series
     * without the label carry no value for it. Defaults to none.
     */
    attributeLabels: z
      .array(
        z
          .string()
          .regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, "expected a Prometheus label name, e.g. organization_id")
          .refine((l) => !RESERVED_LABELS.includes(l), `already a ledger dimension or routing label (${RESERVED_LABELS.join(", ")})`),
      )
      .max(8)
      .default([]),
    /**
     * Which source is billed (docs/usage-sources.md): `gateway`, the Limitador counters read from
     * Prometheus (gateway rows billable, access-log rows kept for reports and reconciliation), or
     * `access-log`, the per-request records of POST /v1/logs (exact input/output split, per API
     * key; the gateway rows are then kept for reconciliation only). Never both: that bills twice.
     * The platform renders `access-log` when it deploys the access-log pipeline. Defaults to gateway.
     */
    billableSource: z.enum(["gateway", "access-log"]).default("gateway"),
    /**
     * Optional pull of the gateway's access logs from Loki (`GET /loki/api/v1/query_range`, directly
     * or through MaaS's usage tenancy proxy), into the same idempotent rows as `POST /v1/logs`
     * (docs/usage-sources.md "Pulling from Loki"). Runs in `serve` where the collector runs.
     */
    lokiPull: z
      .strictObject({
        /** Base URL of Loki's HTTP API or of the tenancy proxy, e.g. https://usage-tenancy-proxy.opendatahub.svc:8443. */
        url: z.url(),
        /** LogQL log query (not a metric query) selecting the usage records. */
        query: z.string().min(1).default('{service_name="models-as-a-service"}'),
        /** Source the rows are stored under (the sender-source of POST /v1/logs rows is another). */
        source: z.string().min(1).max(256).default("//gateway/loki"),
        /** Entries per query_range request (Loki's own cap, max_entries_limit_per_query, defaults to 5000). */
        limit: z.number().int().min(1).max(5000).default(1000),
        /** How far behind now a pass ends: Loki must have a window's entries by then. Defaults to 2m. */
        lag: duration.prefault("2m"),
        /** How often a pass runs. Defaults to 1m. */
        interval: duration.prefault("1m"),
        /** Where the first pass starts (ISO time); default one interval before now - lag. */
        start: z.iso.datetime({ offset: true }).optional(),
        /** File holding the bearer token for the tenancy proxy (a projected ServiceAccount token). */
        bearerTokenFile: z.string().min(1).optional(),
      })
      .optional(),
    /** Tenants and their namespaces; a namespace not listed is its own tenant unless `strictTenants`. */
    tenants: tenantRegistrySchema.default([]),
    /**
     * More tenant registry files (YAML `tenants: [...]`, entries as in `tenants`), read when the
     * service starts and added to `tenants`. The platform splits its registry over 16 ConfigMaps
     * this way, so that no one object lists every tenant (docs/scaling.md).
     */
    tenantFiles: z.array(z.string().min(1)).default([]),
    strictTenants: z.boolean().default(false),
    /**
     * Where the first pass starts when nothing was collected yet (ISO time, window-aligned).
     * Defaults to the newest closed window, so a new install never bills history by surprise.
     */
    start: z.iso.datetime({ offset: true }).optional(),
    /**
     * Which API raw samples are read through (docs/scaling.md "Reading the counters"): `query`
     * (PromQL range selectors; every query endpoint, Thanos querier included), `remote-read`
     * (Prometheus' POST /api/v1/read: the same samples without PromQL or JSON, 16x fewer bytes, but
     * about twice the collector's CPU: protobufjs decodes slower than the JSON scanner; needs the
     * source's /api/v1/status/config too), or `auto`: remote read where the source answers it, the
     * query API where it does not (a Thanos querier has no /api/v1/read). Anchor look-ups use the
     * query API on every path. Defaults to query (the faster path measured here, docs/scaling.md).
     */
    readApi: z.enum(READ_APIS).default("query"),
    /** How often the loop inside `serve` runs. Defaults to 1m. */
    interval: duration.prefault("1m"),
  })
  .strict()
  .transform((s) => ({
    ...s,
    gapThreshold: s.gapThreshold ?? 3 * s.scrapeInterval,
    windowsPerQuery: s.windowsPerQuery ?? Math.max(1, Math.floor(7_200_000 / s.window)),
  }));

export type CollectorSettings = z.output<typeof collectorSettingsSchema>;
export type CollectorSettingsInput = z.input<typeof collectorSettingsSchema>;

/** Parses settings; errors name the field: `collector.window: expected a duration ...`. */
export const parseCollectorSettings = (raw: unknown): CollectorSettings => {
  const res = collectorSettingsSchema.safeParse(raw ?? {});
  if (!res.success) {
    const lines = res.error.issues.map((i) => `collector.${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new Error(lines.join("\n"));
  }
  const s = res.data;
  if (s.window <= 0) throw new Error("collector.window: must be positive");
  // A gap shorter than the lookback must be found by the lookback, so both ways of finding an
  // anchor (lookback, or the deeper per-series query) flag the same gaps.
  if (s.anchorLookback <= s.gapThreshold) {
    throw new Error(`collector.anchorLookback: must be longer than the gap threshold (${s.gapThreshold / 1000}s)`);
  }
  return s;
};

/** A YAML file's value; a syntax error names the file (`origin`). */
const readYaml = (text: string, origin: string): unknown => {
  try {
    return parseYaml(text) as unknown;
  } catch (e) {
    throw new Error(`${origin}: not valid YAML: ${(e as Error).message}`);
  }
};

/** One tenant registry file (`tenantFiles`): `tenants: [{ name, namespaces }]`; errors name the file and the entry. */
export const parseTenantRegistryYaml = (text: string, origin: string): TenantRegistry => {
  const raw = readYaml(text, origin);
  const res = z.strictObject({ tenants: tenantRegistrySchema }).safeParse(raw);
  if (!res.success) throw new Error(res.error.issues.map((i) => `${origin}: ${i.path.join(".") || "(root)"}: ${i.message}`).join("\n"));
  return res.data.tenants;
};

/**
 * Parses collector.yaml text (empty file: all defaults); errors name the file and the field.
 * `overrides` (command-line flags) replace the file's keys.
 */
export const parseCollectorSettingsYaml = (text: string, origin = "collector.yaml", overrides: Record<string, unknown> = {}): CollectorSettings => {
  const raw = readYaml(text, origin);
  if (raw !== null && raw !== undefined && (typeof raw !== "object" || Array.isArray(raw))) {
    throw new Error(`${origin}: expected a YAML mapping of collector settings`);
  }
  return parseCollectorSettings({ ...((raw ?? {}) as Record<string, unknown>), ...overrides });
};
