/**
 * The receiver's wire road (otlp-wire.ts, taken by decodeFlatLogs for protobuf bodies) against the
 * library road it replaces, flattenLogs(decodeLogsRequest()) with the OpenTelemetry generated code:
 *   - every request the library encodes (random ones of every field the library knows: resource
 *     and scope attributes, entity refs, bodies, every AnyValue kind and several at once, nested
 *     arrays and key-value lists, negative severities, trace/span ids) is taken by the wire road
 *     and gives the same records: times, ids and every listed attribute's text;
 *   - the same requests damaged at random (bytes changed, cut, inserted, repeated): whenever the
 *     wire road takes a body, the library decodes it too and to the same records; when the library
 *     refuses a body, the wire road does not take it (decodeFlatLogs then refuses it as the
 *     library does);
 *   - orders and repeats no encoder writes (resource after its records, a key after its value, a
 *     field given twice, unknown fields of every wire type, groups) give the library's records.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AttributeSlots, decodeFlatLogs, decodeLogsRequest, flattenLogs, OtlpDecodeError, type FlatLogRecord } from "../src/accesslog/otlp";
import { flattenLogsWire } from "../src/accesslog/otlp-wire";
import { RECORD_ATTRIBUTES } from "../src/accesslog/records";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const root = require("opentelemetry-otlp-protos/build/src/generated/root");
const Request = root.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Writer } = require("protobufjs/minimal") as { Writer: { create(): ProtoWriter } };
interface ProtoWriter {
  uint32(v: number): ProtoWriter;
  int32(v: number): ProtoWriter;
  string(v: string): ProtoWriter;
  bytes(v: Uint8Array): ProtoWriter;
  fixed64(lo: number, hi: number): ProtoWriter;
  fixed32(v: number): ProtoWriter;
  double(v: number): ProtoWriter;
  finish(): Uint8Array;
}

const SLOTS = new AttributeSlots(RECORD_ATTRIBUTES);

/** A record as data: times, ids and the text of every listed attribute. */
const view = (records: readonly FlatLogRecord[]) => records.map((r) => [r.timeUnixNano, r.observedTimeUnixNano, r.traceId, r.spanId, ...SLOTS.keys.map((k) => r.attributes.get(k))]);
const library = (body: Buffer): ReturnType<typeof view> | Error => {
  try {
    return view(flattenLogs(decodeLogsRequest(body, "protobuf"), SLOTS));
  } catch (e) {
    return e as Error;
  }
};
const wire = (body: Buffer) => {
  const records = flattenLogsWire(body, SLOTS.keys, (values) => ({ get: (k: string) => values[SLOTS.slot(k)!] }));
  return records === undefined ? undefined : view(records);
};

// ---- random requests in the proto3 JSON shape fromObject reads ----
const KEYS = [...RECORD_ATTRIBUTES, "host.name", "other", ""];
const textArb = fc.oneof(fc.constantFrom("", "0", "-", "acme", "team-a", "user-1", "200", "é ü 字", "x".repeat(200)), fc.string({ maxLength: 10 }), fc.string({ unit: "binary", maxLength: 6 }));
const int64Arb = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String);
const { anyValue: anyValueArb } = fc.letrec<{ anyValue: Record<string, unknown>; keyValue: Record<string, unknown> }>((tie) => ({
  // Any subset of the value's fields at once (the library keeps each; the text takes the first of string, int, bool, double, array).
  // Nested values at most a few levels deep (the wire road leaves nesting deeper than 32 messages to the library).
  anyValue: fc.oneof(
    { maxDepth: 3, depthIdentifier: "v" },
    fc.record({ stringValue: textArb, intValue: int64Arb, boolValue: fc.boolean() }, { requiredKeys: [] }),
    fc.record(
    {
      stringValue: textArb,
      intValue: int64Arb,
      boolValue: fc.boolean(),
      doubleValue: fc.oneof(fc.double(), fc.constantFrom(-0, 1e21, 5e-324)),
      arrayValue: fc.record({ values: fc.array(tie("anyValue"), { maxLength: 3, depthIdentifier: "v" }) }),
      kvlistValue: fc.record({ values: fc.array(tie("keyValue"), { maxLength: 2, depthIdentifier: "v" }) }),
      bytesValue: fc.uint8Array({ maxLength: 4 }),
    },
    { requiredKeys: [] },
    ),
  ),
  keyValue: fc.record({ key: fc.constantFrom(...KEYS), value: tie("anyValue") }, { requiredKeys: [] }),
}));
const attributesArb = fc.array(fc.record({ key: fc.constantFrom(...KEYS), value: fc.oneof({ weight: 4, arbitrary: textArb.map((s) => ({ stringValue: s })) }, anyValueArb) }, { requiredKeys: ["key"] }), { maxLength: 16 });
const nanosArb = fc.oneof(fc.constant("0"), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String), fc.bigInt({ min: 1_700_000_000_000_000_000n, max: 1_800_000_000_000_000_000n }).map(String));
const recordArb = fc.record(
  {
    timeUnixNano: nanosArb,
    observedTimeUnixNano: nanosArb,
    severityNumber: fc.integer({ min: -3, max: 24 }),
    severityText: textArb,
    body: anyValueArb,
    attributes: attributesArb,
    droppedAttributesCount: fc.nat(),
    flags: fc.nat(),
    traceId: fc.uint8Array({ maxLength: 16 }),
    spanId: fc.uint8Array({ maxLength: 8 }),
    eventName: textArb,
  },
  { requiredKeys: ["timeUnixNano", "attributes"] },
);
const requestArb = fc.array(
  fc.record(
    {
      resource: fc.record({ attributes: attributesArb, droppedAttributesCount: fc.nat(), entityRefs: fc.array(fc.record({ schemaUrl: textArb, type: textArb, idKeys: fc.array(textArb, { maxLength: 2 }) }), { maxLength: 2 }) }, { requiredKeys: [] }),
      scopeLogs: fc.array(
        fc.record(
          { scope: fc.record({ name: textArb, version: textArb, attributes: attributesArb, droppedAttributesCount: fc.nat() }, { requiredKeys: [] }), logRecords: fc.array(recordArb, { maxLength: 5 }), schemaUrl: textArb },
          { requiredKeys: ["logRecords"] },
        ),
        { maxLength: 3 },
      ),
      schemaUrl: textArb,
    },
    { requiredKeys: ["scopeLogs"] },
  ),
  { maxLength: 3 },
);
const encode = (resourceLogs: unknown): Buffer => Buffer.from(Request.encode(Request.fromObject({ resourceLogs })).finish());

/** Random damage: bytes changed, cut, inserted or a stretch repeated. */
const damageArb = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant("set" as const), at: fc.nat(), byte: fc.nat(255) }),
    fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
    fc.record({ kind: fc.constant("repeat" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  ),
  { minLength: 1, maxLength: 3 },
);
type Damage = { kind: "set"; at: number; byte: number } | { kind: "cut"; at: number } | { kind: "insert"; at: number; bytes: Uint8Array } | { kind: "repeat"; at: number; length: number };
const damage = (body: Buffer, steps: readonly Damage[]): Buffer => {
  let b = Buffer.from(body);
  for (const s of steps) {
    if (b.length === 0) break;
    const at = s.at % b.length;
    if (s.kind === "set") b[at] = s.byte;
    else if (s.kind === "cut") b = b.subarray(0, at);
    else if (s.kind === "insert") b = Buffer.concat([b.subarray(0, at), s.bytes, b.subarray(at)]);
    else b = Buffer.concat([b.subarray(0, at + s.length), b.subarray(at, at + s.length), b.subarray(at + s.length)]);
  }
  return b;
};

describe("OTLP protobuf read straight from the wire: the library's records", () => {
  it("takes every request the library encodes, with the library's records", () => {
    fc.assert(
      fc.property(requestArb, (resourceLogs) => {
        const body = encode(resourceLogs);
        const expected = library(body);
        expect(expected).not.toBeInstanceOf(Error);
        expect(wire(body)).toEqual(expected);
        expect(view(decodeFlatLogs(body, "protobuf", SLOTS))).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  }, 120_000);

  it("damaged requests: taken only with the library's records, never when the library refuses them", () => {
    let taken = 0;
    let refused = 0;
    fc.assert(
      fc.property(requestArb, damageArb, (resourceLogs, steps) => {
        const body = damage(encode(resourceLogs), steps);
        const expected = library(body);
        const got = wire(body);
        if (expected instanceof Error) {
          refused++;
          expect(got).toBeUndefined();
          expect(() => decodeFlatLogs(body, "protobuf", SLOTS)).toThrow(OtlpDecodeError);
        } else {
          if (got !== undefined) {
            taken++;
            expect(got).toEqual(expected);
          }
          expect(view(decodeFlatLogs(body, "protobuf", SLOTS))).toEqual(expected);
        }
      }),
      { numRuns: 1500 },
    );
    // Else the property compared little: damage the wire road takes, and damage the library refuses.
    expect(taken).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(50);
  }, 300_000);

  it("orders and repeats no encoder writes: the library's records", () => {
    const w = () => Writer.create();
    const tag = (field: number, wireType: number) => (field << 3) | wireType;
    const str = (field: number, s: string) => w().uint32(tag(field, 2)).string(s).finish();
    const msg = (field: number, ...parts: Uint8Array[]) => w().uint32(tag(field, 2)).bytes(Buffer.concat(parts)).finish();
    const kv = (parts: Uint8Array[]) => msg(1, ...parts); // a KeyValue as field 1 (resource attributes)
    const attr = (parts: Uint8Array[]) => msg(6, ...parts); // a KeyValue as a record's attribute
    const value = (...parts: Uint8Array[]) => msg(2, ...parts);
    const time = (lo: number, hi: number) => w().uint32(tag(1, 1)).fixed64(lo, hi).finish();
    const unknown = [
      w().uint32(tag(99, 0)).uint32(300).finish(),
      w().uint32(tag(98, 1)).fixed64(1, 2).finish(),
      w().uint32(tag(97, 2)).string("?").finish(),
      w().uint32(tag(96, 5)).fixed32(7).finish(),
    ];
    const record = (...parts: Uint8Array[]) => msg(2, ...parts);
    const request = (...resourceLogsParts: Uint8Array[]) => Buffer.from(msg(1, ...resourceLogsParts));
    const cases: Record<string, Buffer> = {
      "resource after its records, given twice (the last wins)": request(
        msg(2, record(time(5, 1), attr([str(1, "user_id"), value(str(1, "u1"))]))),
        msg(1, kv([str(1, "tenant"), value(str(1, "first"))]), kv([str(1, "groups"), value(str(1, "first only"))])),
        msg(1, kv([str(1, "tenant"), value(str(1, "second"))]), kv([str(1, "model"), value(str(1, "llama"))])),
      ),
      "a key after its value, a key twice, a value twice": request(
        msg(2, record(time(1, 0), attr([value(str(1, "v1")), str(1, "tenant")]), attr([str(1, "other"), value(str(1, "v2")), str(1, "model")]), attr([str(1, "groups"), value(str(1, "g1")), value(str(1, "g2"))]))),
      ),
      "a value of several kinds at once, in any order; an empty key; a key without a value": request(
        msg(
          2,
          record(
            attr([str(1, "tenant"), value(w().uint32(tag(3, 0)).int32(-5).finish(), str(1, "text"))]),
            attr([str(1, "model"), value(w().uint32(tag(4, 1)).double(2.5).finish(), w().uint32(tag(2, 0)).uint32(7).finish())]),
            attr([str(1, ""), value(str(1, "nobody"))]),
            attr([str(1, "user_id")]),
            time(0, 0),
            time(9, 9),
          ),
        ),
      ),
      "unknown fields of every wire type at every level": request(
        ...unknown,
        msg(2, ...unknown, record(...unknown, attr([...unknown, str(1, "tenant"), value(...unknown, str(1, "acme"))]))),
      ),
      "a group (the library skips it; the wire road leaves it to the library)": request(
        msg(2, record(w().uint32(tag(50, 3)).uint32(tag(51, 0)).uint32(1).uint32(tag(50, 4)).finish(), attr([str(1, "tenant"), value(str(1, "acme"))]))),
      ),
      "a known field with another wire type (the library reads it as its type)": request(msg(2, record(w().uint32(tag(1, 0)).uint32(5).finish(), attr([str(1, "tenant"), value(str(1, "acme"))])))),
      "nested arrays with values without text": request(
        msg(2, record(attr([str(1, "groups"), value(msg(5, msg(1, str(1, "a")), msg(1, msg(6)), msg(1, msg(5, msg(1, str(1, "b")), msg(1, w().uint32(tag(3, 0)).int32(-1).finish())))))]))),
      ),
    };
    for (const [name, body] of Object.entries(cases)) {
      const expected = library(body);
      const got = wire(body);
      if (got !== undefined) expect(got, name).toEqual(expected);
      if (expected instanceof Error) expect(() => decodeFlatLogs(body, "protobuf", SLOTS), name).toThrow(OtlpDecodeError);
      else expect(view(decodeFlatLogs(body, "protobuf", SLOTS)), name).toEqual(expected);
    }
    // The orders and repeats above are the wire road's to take (only the group and the mistyped field are left to the library).
    const taken = Object.entries(cases).filter(([, body]) => wire(body) !== undefined).map(([name]) => name);
    expect(taken).toEqual(Object.keys(cases).filter((n) => !n.startsWith("a group") && !n.startsWith("a known field")));
  });
});
