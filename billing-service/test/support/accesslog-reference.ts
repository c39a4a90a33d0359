/**
 * The OTLP receiver's record -> row mapping as it was on main at 7331296 (session 4), kept verbatim
 * (only exports and imports adjusted; the decoded types are imported) as the reference the receiver's faster mapping is checked
 * against (test/accesslog-fast-path.test.ts): the same request must give the same rows, byte for
 * byte, including the SHA-256 record ids already stored. Do not "fix" or speed up this file.
 * One deliberate change of behaviour since (session 6, review finding F4): a tenant or namespace
 * attribute of "-" (Envoy's value for missing filter state) names no tenant; `tenantOf` below
 * follows it, marked, so the equality test keeps checking everything else.
 */
import { hash } from "node:crypto";
import type { AnyValue, Attributes, ExportLogsServiceRequest, FlatLogRecord, Int64, KeyValue } from "../../src/accesslog/otlp";
import { NAMESPACE_ATTRIBUTES, TENANT_ATTRIBUTES, type AccessLogRow, type RecordContext, type RecordOutcome } from "../../src/accesslog/records";

/** A record's attributes over its resource's, without copying the resource's per record. */
class LayeredAttributes implements Attributes {
  constructor(
    private readonly own: ReadonlyMap<string, string>,
    private readonly resource: ReadonlyMap<string, string>,
  ) {}
  get(key: string): string | undefined {
    return this.own.get(key) ?? this.resource.get(key);
  }
}

/** An unsigned fixed64 as protobufjs decodes it (a `long` Long): two 32-bit halves. */
interface Fixed64 {
  readonly low: number;
  readonly high: number;
  readonly unsigned: boolean;
}
const isFixed64 = (v: object): v is Fixed64 => (v as Fixed64).unsigned === true && typeof (v as Fixed64).low === "number";

const int64 = (v: Int64): string => {
  if (v === null || v === undefined) return "0";
  // Long.toString divides in 32-bit steps: BigInt from the halves is several times faster.
  if (typeof v === "object" && isFixed64(v)) return ((BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0)).toString();
  const s = typeof v === "object" ? v.toString() : String(v);
  return /^\d+$/.test(s) ? s : "0";
};

const valueText = (v: AnyValue | null | undefined): string | undefined => {
  if (!v) return undefined;
  if (v.stringValue !== null && v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== null && v.intValue !== undefined) return typeof v.intValue === "object" ? v.intValue.toString() : String(v.intValue);
  if (v.boolValue !== null && v.boolValue !== undefined) return String(v.boolValue);
  if (v.doubleValue !== null && v.doubleValue !== undefined) return String(v.doubleValue);
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(valueText).filter((s) => s !== undefined).join(",");
  return undefined;
};

const mergeAttributes = (into: Map<string, string>, attributes: KeyValue[] | null | undefined): void => {
  for (const kv of attributes ?? []) {
    const text = valueText(kv.value);
    if (kv.key && text !== undefined) into.set(kv.key, text);
  }
};

const hex = (b: Uint8Array | null | undefined): string => (b && b.length > 0 ? Buffer.from(b).toString("hex") : "");

/** Every record of the request, in order, with its resource's attributes merged under its own. */
export const referenceFlattenLogs = (request: ExportLogsServiceRequest): FlatLogRecord[] => {
  const out: FlatLogRecord[] = [];
  for (const rl of request.resourceLogs ?? []) {
    const resource = new Map<string, string>();
    mergeAttributes(resource, rl.resource?.attributes);
    for (const sl of rl.scopeLogs ?? []) {
      for (const r of sl.logRecords ?? []) {
        const own = new Map<string, string>();
        mergeAttributes(own, r.attributes);
        const attributes = new LayeredAttributes(own, resource);
        out.push({ timeUnixNano: int64(r.timeUnixNano), observedTimeUnixNano: int64(r.observedTimeUnixNano), attributes, traceId: hex(r.traceId), spanId: hex(r.spanId) });
      }
    }
  }
  return out;
};

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

const tenantOf = (a: Attributes, ctx: RecordContext): string | undefined => {
  if (ctx.senderTenant !== undefined) return ctx.senderTenant;
  // Session 6 (F4): "-" names no tenant.
  for (const k of TENANT_ATTRIBUTES) {
    const t = text(a, k);
    if (t !== undefined && t !== "-") return t;
  }
  for (const k of NAMESPACE_ATTRIBUTES) {
    const ns = text(a, k);
    if (ns !== undefined && ns !== "-") return ctx.tenantOfNamespace(ns);
  }
  return undefined;
};

/** The record's stable id: see the file comment for what it covers and why. */
const recordIdentity = (r: FlatLogRecord, tenant: string): string => {
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

/** The ledger row of one record, or why it cannot be one (the record is then rejected, never guessed). */
export const referenceToAccessLogRow = (r: FlatLogRecord, ctx: RecordContext): RecordOutcome => {
  const a = r.attributes;
  const time = r.timeUnixNano !== "0" ? r.timeUnixNano : r.observedTimeUnixNano;
  if (time === "0") return { ok: false, reason: "record has neither timeUnixNano nor observedTimeUnixNano" };
  // PostgreSQL timestamptz ends in 294276; bigint nanoseconds in 2262.
  if (time.length > 19 || BigInt(time) > 9_223_372_036_854_775_807n) return { ok: false, reason: `timeUnixNano ${time} is beyond 2262` };
  const tenant = tenantOf(a, ctx);
  if (tenant === undefined) return { ok: false, reason: `no tenant: set attribute ${TENANT_ATTRIBUTES[0]} or one of ${NAMESPACE_ATTRIBUTES.join(", ")} (a namespace of platform.tenants), or bind the sender to a tenant` };
  const input = tokenCount(a, "tokens_prompt");
  const output = tokenCount(a, "tokens_completion");
  const total = tokenCount(a, "tokens_total");
  for (const v of [input, output, total]) if (typeof v === "string") return { ok: false, reason: v };
  const codeText = a.get("response_code") ?? "";
  const responseCode = /^\d{1,3}$/.test(codeText) ? Number(codeText) : 0;
  const declared = text(a, "response_type");
  const responseType = declared ?? (responseCode === 429 ? "rate_limit" : responseCode >= 400 || responseCode === 0 ? "error" : "hit");
  const model = text(a, "model");
  const fields = { tenant, user: text(a, "user_id"), tier: text(a, "subscription"), model, keyId: text(a, "key_id"), keyName: text(a, "key_name"), organizationId: text(a, "organization_id"), groups: text(a, "groups"), responseType };
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined && (value.length > (name === "groups" ? 4096 : MAX_TEXT) || value.includes("\u0000"))) return { ok: false, reason: `${name}: at most ${MAX_TEXT} characters without NUL` };
  }
  return {
    ok: true,
    row: {
      tenant,
      source: ctx.source,
      recordId: recordIdentity(r, tenant),
      timeUnixNano: time,
      user: fields.user ?? null,
      tier: fields.tier ?? "",
      model: model === undefined || model === "-" ? "" : model,
      keyId: fields.keyId ?? null,
      keyName: fields.keyName ?? null,
      organizationId: fields.organizationId ?? null,
      groups: fields.groups ?? null,
      responseCode,
      responseType,
      inputTokens: input as number,
      outputTokens: output as number,
      totalTokens: total as number,
      billable: ctx.billable,
    },
  };
};


// ---- The COPY text of a batch as main wrote it at 748c4f3 (session 5): copyText and copyLines of
// db/copy-first.ts and eventTimeOfNanos and the column list of accesslog/store.ts, verbatim. ----

const referenceCopyText = (value: string | number | boolean | bigint | null | undefined): string => {
  if (value === null || value === undefined) return "\\N";
  const s = String(value);
  return /[\\\t\n\r]/.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r")) : s;
};

const referenceCopyLines = <R>(rows: readonly R[], columns: (row: R) => readonly (string | number | boolean | bigint | null | undefined)[]): string => {
  let out = "";
  for (const row of rows) out += `${columns(row).map(referenceCopyText).join("\t")}\n`;
  return out;
};

export const referenceEventTimeOfNanos = (timeUnixNano: string): string => {
  const micros = BigInt(timeUnixNano) / 1000n;
  const iso = new Date(Number(micros / 1000n)).toISOString();
  return `${iso.slice(0, 19)}.${(micros % 1_000_000n).toString().padStart(6, "0")}+00`;
};

/** What the receiver sent to `copy access_log_usage (...) from stdin` for a folded batch. */
export const referenceAccessLogCopyText = (folded: readonly AccessLogRow[]): string =>
  referenceCopyLines(folded, (r) => [
    r.tenant, r.source, r.recordId, r.timeUnixNano, referenceEventTimeOfNanos(r.timeUnixNano), r.user, r.tier, r.model, r.keyId, r.keyName,
    r.organizationId, r.groups, r.responseCode, r.responseType, r.inputTokens, r.outputTokens, r.totalTokens, r.billable,
  ]);
