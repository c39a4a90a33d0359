/**
 * OTLP/HTTP logs on the wire, both encodings, through the OpenTelemetry project's own generated
 * protobuf code (the protobufjs root that @opentelemetry/otlp-transformer published up to 0.210,
 * installed under the alias `opentelemetry-otlp-protos`): ExportLogsServiceRequest decode and
 * fromObject (OTLP/JSON is the proto3 JSON mapping of the same messages), and the response
 * encode. Nothing here knows the wire format itself.
 *
 * What this module adds: the HTTP concerns of OTLP/HTTP (gzip/deflate bodies with a bound on the
 * inflated size, int64 values of OTLP/JSON kept exact), and a flat view of the records: each
 * record with the attributes of its resource, scope and itself merged, values as strings.
 */
import { gunzipSync, inflateSync } from "node:zlib";
import { flattenLogsWire } from "./otlp-wire";
// The generated root registers its namespaces on protobufjs' default root and exports it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const root = require("opentelemetry-otlp-protos/build/src/generated/root") as OtlpRoot;

interface Message<T> {
  decode(reader: Uint8Array): T;
  fromObject(object: unknown): T;
  encode(message: unknown): { finish(): Uint8Array };
}
interface OtlpRoot {
  opentelemetry: {
    proto: {
      collector: { logs: { v1: { ExportLogsServiceRequest: Message<ExportLogsServiceRequest>; ExportLogsServiceResponse: Message<unknown> } } };
    };
  };
}

/** A protobufjs int64 (the `long` package) or, from OTLP/JSON, a number or decimal string. */
export type Int64 = { toString(): string } | number | string | null | undefined;
export interface AnyValue {
  stringValue?: string | null;
  boolValue?: boolean | null;
  intValue?: Int64;
  doubleValue?: number | null;
  arrayValue?: { values?: AnyValue[] | null } | null;
  kvlistValue?: { values?: KeyValue[] | null } | null;
  bytesValue?: Uint8Array | null;
}
export interface KeyValue {
  key?: string | null;
  value?: AnyValue | null;
}
interface LogRecord {
  timeUnixNano?: Int64;
  observedTimeUnixNano?: Int64;
  attributes?: KeyValue[] | null;
  traceId?: Uint8Array | null;
  spanId?: Uint8Array | null;
  body?: AnyValue | null;
}
export interface ExportLogsServiceRequest {
  resourceLogs?: Array<{
    resource?: { attributes?: KeyValue[] | null } | null;
    scopeLogs?: Array<{ logRecords?: LogRecord[] | null }> | null;
  }> | null;
}

const messages = root.opentelemetry.proto.collector.logs.v1;

export type OtlpEncoding = "protobuf" | "json";

/** The request could not be read: 400, and the sender must not retry it unchanged. */
export class OtlpDecodeError extends Error {
  readonly statusCode = 400;
}

/** String values of a record's attributes: its own, else its resource's. */
export interface Attributes {
  get(key: string): string | undefined;
}

/**
 * The attributes a reader asks for (records.ts: RECORD_ATTRIBUTES), each given a slot. Flattening
 * keeps only these, in an array per record, instead of a Map of every attribute: a batch of 1,000
 * records then allocates 1,000 small arrays, not 1,000 Maps of every key, and values of attributes
 * nobody reads are never converted to text.
 */
export class AttributeSlots {
  private readonly slotOf: ReadonlyMap<string, number>;
  constructor(readonly keys: readonly string[]) {
    this.slotOf = new Map(keys.map((k, i) => [k, i]));
    if (this.slotOf.size !== keys.length) throw new Error("AttributeSlots: a key is listed twice");
  }
  slot(key: string): number | undefined {
    return this.slotOf.get(key);
  }
}

/** A record's attributes as slots: its own value of a key, else its resource's (the same layering as before). */
class SlotAttributes implements Attributes {
  constructor(
    private readonly slots: AttributeSlots,
    private readonly values: readonly (string | undefined)[],
  ) {}
  get(key: string): string | undefined {
    const slot = this.slots.slot(key);
    // A key not listed would read as missing and silently change rows and ids: fail loudly instead.
    if (slot === undefined) throw new Error(`attribute ${key} is not in the receiver's list of attributes read (RECORD_ATTRIBUTES in accesslog/records.ts)`);
    return this.values[slot];
  }
}

/** One log record as the receiver sees it: timestamps in nanoseconds (decimal strings), attributes flat. */
export interface FlatLogRecord {
  readonly timeUnixNano: string;
  readonly observedTimeUnixNano: string;
  /** Resource, then scope-less record attributes on top (a record attribute wins). */
  readonly attributes: Attributes;
  /** Hex, empty when unset. */
  readonly traceId: string;
  readonly spanId: string;
}

/** Inflated bodies larger than this are refused (a small gzip bomb must not exhaust memory). */
export const MAX_INFLATED_BYTES = 64 * 1024 * 1024;

/** The body as sent, inflated per Content-Encoding (`gzip`, `deflate` or none: what otlphttp sends). */
export const inflateBody = (body: Buffer, contentEncoding: string | undefined): Buffer => {
  const encoding = (contentEncoding ?? "identity").trim().toLowerCase();
  try {
    if (encoding === "gzip" || encoding === "x-gzip") return gunzipSync(body, { maxOutputLength: MAX_INFLATED_BYTES });
    if (encoding === "deflate") return inflateSync(body, { maxOutputLength: MAX_INFLATED_BYTES });
  } catch (e) {
    throw new OtlpDecodeError(`Content-Encoding ${encoding}: cannot inflate the body (${(e as Error).message}); at most ${MAX_INFLATED_BYTES} bytes inflated`);
  }
  if (encoding === "identity" || encoding === "") return body;
  throw new OtlpDecodeError(`Content-Encoding ${encoding} is not supported: send gzip, deflate or none`);
};

// OTLP/JSON carries 64-bit integers as decimal strings, but some senders write bare numbers, which
// JSON.parse would round above 2^53 (every nanosecond timestamp is): take their source text.
const INT64_FIELDS = new Set(["timeUnixNano", "observedTimeUnixNano", "intValue", "time_unix_nano", "observed_time_unix_nano", "int_value"]);
const exactReviver = function (this: unknown, key: string, value: unknown, context?: { source?: string }): unknown {
  return typeof value === "number" && INT64_FIELDS.has(key) && context?.source !== undefined ? context.source : value;
};

/** Decodes an ExportLogsServiceRequest in either encoding (body already inflated). */
export const decodeLogsRequest = (body: Buffer, encoding: OtlpEncoding): ExportLogsServiceRequest => {
  if (encoding === "protobuf") {
    try {
      return messages.ExportLogsServiceRequest.decode(body);
    } catch (e) {
      throw new OtlpDecodeError(`not an OTLP ExportLogsServiceRequest in protobuf: ${(e as Error).message}`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"), exactReviver as (key: string, value: unknown) => unknown);
  } catch (e) {
    throw new OtlpDecodeError(`body is not JSON: ${(e as Error).message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new OtlpDecodeError("expected an OTLP/JSON ExportLogsServiceRequest object ({\"resourceLogs\": [...]})");
  // OTLP/JSON ids are hex, not the base64 of the generic proto3 mapping: convert them first.
  for (const rl of asArray((parsed as Record<string, unknown>).resourceLogs)) {
    for (const sl of asArray((rl as Record<string, unknown>)?.scopeLogs)) {
      for (const r of asArray((sl as Record<string, unknown>)?.logRecords)) {
        if (r && typeof r === "object") {
          const rec = r as Record<string, unknown>;
          if (typeof rec.traceId === "string" || typeof rec.spanId === "string") {
            rec.traceId = hexToBytes(rec.traceId, "traceId");
            rec.spanId = hexToBytes(rec.spanId, "spanId");
          }
        }
      }
    }
  }
  // fromObject is the generated proto3 JSON reader (int64 from decimal strings, enums by number
  // or name); verify() is not used: it wants int64 as numbers, which OTLP/JSON sends as strings.
  try {
    return messages.ExportLogsServiceRequest.fromObject(parsed);
  } catch (e) {
    throw new OtlpDecodeError(`not an OTLP/JSON ExportLogsServiceRequest: ${(e as Error).message}`);
  }
};

const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

const hexToBytes = (v: unknown, field: string): Uint8Array | undefined => {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string" || !/^([0-9a-fA-F]{2})*$/.test(v)) throw new OtlpDecodeError(`logRecords[].${field}: expected hex, got ${JSON.stringify(v)}`);
  return Buffer.from(v, "hex");
};

/** An unsigned fixed64 as protobufjs decodes it (a `long` Long): two 32-bit halves. */
interface Fixed64 {
  readonly low: number;
  readonly high: number;
  readonly unsigned: boolean;
}
const isFixed64 = (v: object): v is Fixed64 => (v as Fixed64).unsigned === true && typeof (v as Fixed64).low === "number";

const int64 = (v: Int64): string => {
  if (v === null || v === undefined) return "0";
  // An unset observed time (the usual case) is a zero Long: no BigInt for it.
  if (typeof v === "object" && isFixed64(v) && v.low === 0 && v.high === 0) return "0";
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

/** Writes the text of each listed attribute into its slot; a later copy of a key wins, values with no text are skipped. */
const setSlots = (values: (string | undefined)[], slots: AttributeSlots, attributes: KeyValue[] | null | undefined): void => {
  if (!attributes) return;
  for (let i = 0; i < attributes.length; i++) {
    const kv = attributes[i];
    if (!kv.key) continue;
    const slot = slots.slot(kv.key);
    if (slot === undefined) continue;
    const text = valueText(kv.value);
    if (text !== undefined) values[slot] = text;
  }
};

// Decoded from a Buffer, bytes fields are Buffers already: read them in place instead of copying.
const hex = (b: Uint8Array | null | undefined): string => (b && b.length > 0 ? (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)).toString("hex") : "");

/**
 * Every record of the request, in order, with the listed attributes of its resource under its own
 * (a record's attribute wins, scope attributes are not read). `get` of a key not in `slots` throws.
 */
export const flattenLogs = (request: ExportLogsServiceRequest, slots: AttributeSlots): FlatLogRecord[] => {
  const out: FlatLogRecord[] = [];
  const width = slots.keys.length;
  for (const rl of request.resourceLogs ?? []) {
    const resource = new Array<string | undefined>(width).fill(undefined);
    setSlots(resource, slots, rl.resource?.attributes);
    for (const sl of rl.scopeLogs ?? []) {
      const logRecords = sl.logRecords;
      if (!logRecords) continue;
      for (let i = 0; i < logRecords.length; i++) {
        const r = logRecords[i];
        const values = resource.slice();
        setSlots(values, slots, r.attributes);
        out.push({ timeUnixNano: int64(r.timeUnixNano), observedTimeUnixNano: int64(r.observedTimeUnixNano), attributes: new SlotAttributes(slots, values), traceId: hex(r.traceId), spanId: hex(r.spanId) });
      }
    }
  }
  return out;
};

/**
 * The request's flat records, as flattenLogs(decodeLogsRequest(body, encoding)) gives them: a
 * protobuf body read straight from its bytes when the wire road takes it (otlp-wire.ts: the same
 * records, without the decoded objects), else through the library.
 */
export const decodeFlatLogs = (body: Buffer, encoding: OtlpEncoding, slots: AttributeSlots): FlatLogRecord[] => {
  if (encoding === "protobuf") {
    const fast = flattenLogsWire(body, slots.keys, (values) => new SlotAttributes(slots, values));
    if (fast !== undefined) return fast;
  }
  return flattenLogs(decodeLogsRequest(body, encoding), slots);
};

/** The ExportLogsServiceResponse, in the request's encoding; partial success when records were rejected. */
export const encodeLogsResponse = (encoding: OtlpEncoding, rejected: number, errorMessage: string): Buffer => {
  const body = rejected > 0 ? { partialSuccess: { rejectedLogRecords: rejected, errorMessage } } : {};
  if (encoding === "json") return Buffer.from(JSON.stringify(rejected > 0 ? { partialSuccess: { rejectedLogRecords: String(rejected), errorMessage } } : {}));
  return Buffer.from(messages.ExportLogsServiceResponse.encode(messages.ExportLogsServiceResponse.fromObject(body)).finish());
};

/** Decodes a response (tests read what the receiver answered with the same generated code). */
export const decodeLogsResponse = (body: Uint8Array): { partialSuccess?: { rejectedLogRecords?: Int64; errorMessage?: string | null } | null } =>
  messages.ExportLogsServiceResponse.decode(body) as { partialSuccess?: { rejectedLogRecords?: Int64; errorMessage?: string | null } | null };
