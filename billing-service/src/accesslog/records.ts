/**
 * A gateway access-log record (MaaS usage logs: one OTLP log record per POST to
 * /v1/chat/completions or /v1/completions) as a ledger row. Pure: no I/O.
 *
 * Attributes read (strings, as Envoy's OpenTelemetry access log writes them): response_code,
 * response_type (hit | rate_limit | error), user_id, subscription, groups, key_id, key_name,
 * organization_id, tokens_prompt, tokens_completion, tokens_total ("0" when the response had no
 * usage), model ("-" when unknown); optional request_id (Envoy's x-request-id, when the access
 * log adds it) and the tenant routing attributes below.
 *
 * Identity (docs/usage-sources.md "Idempotency"): records carry no request id, so the row id is
 * the SHA-256 of what identifies a request and never changes between copies of its record: the
 * start time in nanoseconds, trace/span ids, request_id, tenant, user, subscription, model, key
 * id and name, organization, groups and service.name. Token counts and the response fields are
 * left out on purpose: a streaming response is logged first with tokens "0" and again with its
 * real usage, and both copies must land on one row (the one with more tokens wins). Attributes
 * a collector replica may add (host.name, service.instance.id, ...) are left out too, so the same
 * record through two replicas, or a retried batch, is one row.
 */
import { hash } from "node:crypto";
import type { Attributes, FlatLogRecord } from "./otlp";

/** One stored access-log row (the table access_log_usage, migration 060). */
export interface AccessLogRow {
  readonly tenant: string;
  readonly source: string;
  readonly recordId: string;
  readonly timeUnixNano: string;
  readonly user: string | null;
  readonly tier: string;
  /** "" when the gateway did not know it ("-"). */
  readonly model: string;
  readonly keyId: string | null;
  readonly keyName: string | null;
  readonly organizationId: string | null;
  readonly groups: string | null;
  readonly responseCode: number;
  readonly responseType: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly totalTokens: number;
  /** Usage of the billable source (the platform's choice, docs/usage-sources.md). */
  readonly billable: boolean;
}

/** Where a record's tenant comes from, first match wins (the sender's own tenant is checked before this). */
export const TENANT_ATTRIBUTES = ["tenant", "maas.tenant"] as const;
export const NAMESPACE_ATTRIBUTES = ["route_namespace", "k8s.namespace.name", "namespace"] as const;

/**
 * Every attribute this module reads, and nothing else: the OTLP receiver flattens only these
 * (otlp.ts AttributeSlots), and reading any other key there throws, so a key added below must be
 * added here.
 */
export const RECORD_ATTRIBUTES = [
  ...TENANT_ATTRIBUTES,
  ...NAMESPACE_ATTRIBUTES,
  "request_id",
  "user_id",
  "subscription",
  "model",
  "key_id",
  "key_name",
  "organization_id",
  "groups",
  "service.name",
  "response_code",
  "response_type",
  "tokens_prompt",
  "tokens_completion",
  "tokens_total",
] as const;

export interface RecordContext {
  readonly source: string;
  /** The sender's tenant when its token is bound to one: every record is that tenant's. */
  readonly senderTenant?: string;
  /** Namespace -> tenant (the collector settings' `tenants`); a namespace not listed is its own tenant unless strict. */
  readonly tenantOfNamespace: (namespace: string) => string | undefined;
  readonly billable: boolean;
}

export type RecordOutcome = { readonly ok: true; readonly row: AccessLogRow } | { readonly ok: false; readonly reason: string };

const MAX_TEXT = 256;

const text = (a: Attributes, key: string): string | undefined => {
  const v = a.get(key);
  return v === undefined || v === "" ? undefined : v;
};

const tokenCount = (a: Attributes, key: string): number | string => {
  const v = a.get(key);
  if (v === undefined || v === "" || v === "-") return 0;
  if (!/^\d{1,15}$/.test(v)) return `${key}: expected a whole number of tokens as a string, got ${JSON.stringify(v.slice(0, 40))}`;
  return Number(v);
};

/**
 * Envoy writes "-" for filter state it does not have (a route whose identity filter did not run):
 * such a record names no tenant and is refused, never billed to a tenant called "-".
 */
const named = (a: Attributes, key: string): string | undefined => {
  const v = text(a, key);
  return v === "-" ? undefined : v;
};

const tenantOf = (a: Attributes, ctx: RecordContext): string | undefined => {
  if (ctx.senderTenant !== undefined) return ctx.senderTenant;
  for (const k of TENANT_ATTRIBUTES) {
    const t = named(a, k);
    if (t !== undefined) return t;
  }
  for (const k of NAMESPACE_ATTRIBUTES) {
    const ns = named(a, k);
    if (ns !== undefined) return ctx.tenantOfNamespace(ns);
  }
  return undefined;
};

/** The record's stable id: see the file comment for what it covers and why. */
export const recordIdentity = (r: FlatLogRecord, tenant: string): string => {
  const a = r.attributes;
  const parts = [
    "maas-access-log/v1",
    r.timeUnixNano !== "0" ? r.timeUnixNano : r.observedTimeUnixNano,
    r.traceId,
    r.spanId,
    a.get("request_id") ?? "",
    tenant,
    a.get("user_id") ?? "",
    a.get("subscription") ?? "",
    a.get("model") ?? "",
    a.get("key_id") ?? "",
    a.get("key_name") ?? "",
    a.get("organization_id") ?? "",
    a.get("groups") ?? "",
    a.get("service.name") ?? "",
  ];
  // One-shot hash (node:crypto hash): the same digest as createHash().update().digest(), cheaper per record.
  return hash("sha256", JSON.stringify(parts), "hex");
};

/** Nanoseconds past 2^63 - 1 (bigint nanoseconds end in 2262; timestamptz in 294276). */
const MAX_NANOS = "9223372036854775807";
const beyond2262 = (time: string): boolean => {
  if (time.length !== MAX_NANOS.length) return time.length > MAX_NANOS.length;
  // Equal-length digit strings compare as numbers; anything else is left to BigInt, as before.
  return /^\d+$/.test(time) ? time > MAX_NANOS : BigInt(time) > 9_223_372_036_854_775_807n;
};

/** Why a text field cannot be stored, or undefined when it can (groups may be longer). */
const badText = (name: string, value: string | undefined, max = MAX_TEXT): string | undefined =>
  value !== undefined && (value.length > max || value.includes("\u0000")) ? `${name}: at most ${MAX_TEXT} characters without NUL` : undefined;

/** The ledger row of one record, or why it cannot be one (the record is then rejected, never guessed). */
export const toAccessLogRow = (r: FlatLogRecord, ctx: RecordContext): RecordOutcome => {
  const a = r.attributes;
  const time = r.timeUnixNano !== "0" ? r.timeUnixNano : r.observedTimeUnixNano;
  if (time === "0") return { ok: false, reason: "record has neither timeUnixNano nor observedTimeUnixNano" };
  // PostgreSQL timestamptz ends in 294276; bigint nanoseconds in 2262.
  if (beyond2262(time)) return { ok: false, reason: `timeUnixNano ${time} is beyond 2262` };
  const tenant = tenantOf(a, ctx);
  if (tenant === undefined) return { ok: false, reason: `no tenant: set attribute ${TENANT_ATTRIBUTES[0]} or one of ${NAMESPACE_ATTRIBUTES.join(", ")} (a namespace of platform.tenants), or bind the sender to a tenant` };
  const input = tokenCount(a, "tokens_prompt");
  if (typeof input === "string") return { ok: false, reason: input };
  const output = tokenCount(a, "tokens_completion");
  if (typeof output === "string") return { ok: false, reason: output };
  const total = tokenCount(a, "tokens_total");
  if (typeof total === "string") return { ok: false, reason: total };
  const codeText = a.get("response_code") ?? "";
  const responseCode = /^\d{1,3}$/.test(codeText) ? Number(codeText) : 0;
  const declared = text(a, "response_type");
  const responseType = declared ?? (responseCode === 429 ? "rate_limit" : responseCode >= 400 || responseCode === 0 ? "error" : "hit");
  const user = text(a, "user_id");
  const tier = text(a, "subscription");
  const model = text(a, "model");
  const keyId = text(a, "key_id");
  const keyName = text(a, "key_name");
  const organizationId = text(a, "organization_id");
  const groups = text(a, "groups");
  // The first field that cannot be stored is named (in this order).
  const bad =
    badText("tenant", tenant) ??
    badText("user", user) ??
    badText("tier", tier) ??
    badText("model", model) ??
    badText("keyId", keyId) ??
    badText("keyName", keyName) ??
    badText("organizationId", organizationId) ??
    badText("groups", groups, 4096) ??
    badText("responseType", responseType);
  if (bad !== undefined) return { ok: false, reason: bad };
  return {
    ok: true,
    row: {
      tenant,
      source: ctx.source,
      recordId: recordIdentity(r, tenant),
      timeUnixNano: time,
      user: user ?? null,
      tier: tier ?? "",
      model: model === undefined || model === "-" ? "" : model,
      keyId: keyId ?? null,
      keyName: keyName ?? null,
      organizationId: organizationId ?? null,
      groups: groups ?? null,
      responseCode,
      responseType,
      inputTokens: input,
      outputTokens: output,
      totalTokens: total,
      billable: ctx.billable,
    },
  };
};

/**
 * Copies of one request within a batch (the streaming "0" record and the real one, or a record
 * repeated by a retry) folded to the copy with the most tokens: PostgreSQL cannot upsert one row
 * twice in a statement.
 */
export const foldCopies = (rows: readonly AccessLogRow[]): AccessLogRow[] => {
  const byKey = new Map<string, AccessLogRow>();
  for (const row of rows) {
    const key = `${row.tenant}\u0000${row.source}\u0000${row.recordId}`;
    const seen = byKey.get(key);
    if (seen === undefined || weight(row) > weight(seen)) byKey.set(key, row);
  }
  return [...byKey.values()];
};

const weight = (r: AccessLogRow): number => r.inputTokens + r.outputTokens + r.totalTokens;
