/**
 * The OTLP receiver's record -> row mapping (slot-based flattening, otlp.ts AttributeSlots, and
 * toAccessLogRow) against the mapping of session 4 kept verbatim in support/accesslog-reference.ts:
 * for any request, in both encodings, every record gives the same outcome: the same row, field for
 * field, with the same SHA-256 record id (ids already stored must keep matching), or the same
 * rejection reason. Requests are built from odd inputs on purpose: attributes missing, empty, "0",
 * "-", of every OTLP value type, repeated, on the resource and on the record (the record's wins),
 * unknown attributes, timestamps at 0, observed-only and past 2262, trace/span ids, over-long and
 * NUL text, bad token counts; plus a batch of 10,000 benchmark records. And the batch's COPY text
 * (accessLogCopyText) against the one main wrote at 748c4f3 (copyLines, copyText and the BigInt
 * eventTimeOfNanos, also kept verbatim there), byte for byte.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AttributeSlots, decodeFlatLogs, decodeLogsRequest, flattenLogs, type OtlpEncoding } from "../src/accesslog/otlp";
import { foldCopies, RECORD_ATTRIBUTES, toAccessLogRow, type AccessLogRow, type RecordContext, type RecordOutcome } from "../src/accesslog/records";
import { accessLogCopyText } from "../src/accesslog/store";
import { benchRecord } from "../bench/otlp";
import { serializeLogs } from "../testkit/access-logs";
import { referenceAccessLogCopyText, referenceFlattenLogs, referenceToAccessLogRow } from "./support/accesslog-reference";

// The same generated code the receiver decodes with, to encode requests no SDK would build (repeated keys, kvlist values).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const root = require("opentelemetry-otlp-protos/build/src/generated/root");
const Request = root.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;

const SLOTS = new AttributeSlots(RECORD_ATTRIBUTES);

const CONTEXTS: readonly RecordContext[] = [
  { source: "//gateway/access-log", tenantOfNamespace: (ns) => (ns === "team-a" ? "acme" : ns === "team-b" ? "globex" : undefined), billable: true },
  { source: "//gateway/access-log-acme", senderTenant: "acme", tenantOfNamespace: () => undefined, billable: false },
];

const outcomes = (body: Buffer, encoding: OtlpEncoding, ctx: RecordContext): { fast: RecordOutcome[]; reference: RecordOutcome[] } => ({
  // The receiver's own road (decodeFlatLogs: protobuf read from the wire when it can be, session 8).
  fast: decodeFlatLogs(body, encoding, SLOTS).map((r) => toAccessLogRow(r, ctx)),
  reference: referenceFlattenLogs(decodeLogsRequest(body, encoding)).map((r) => referenceToAccessLogRow(r, ctx)),
});

// ---- generators of odd OTLP requests (proto3 JSON shape, as fromObject reads it) ----
const KEYS = [...RECORD_ATTRIBUTES, "host.name", "service.instance.id", "other", ""];
const textArb = fc.oneof(
  fc.constantFrom("", "0", "-", "acme", "globex", "team-a", "team-b", "team-c", "user-1", "llama", "200", "429", "500", "hit", "rate_limit", "error", "17", "007", "1e3", " 5", "x".repeat(300), "a\u0000b", "tab\there", "é ü 字"),
  fc.string({ maxLength: 12 }),
  fc.nat(1_000_000_000).map(String),
);
const anyValueArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 8, arbitrary: textArb.map((s) => ({ stringValue: s })) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })).map((n) => ({ intValue: String(n) })) },
  { weight: 1, arbitrary: fc.boolean().map((b) => ({ boolValue: b })) },
  { weight: 1, arbitrary: fc.double({ noNaN: true }).map((d) => ({ doubleValue: d })) },
  { weight: 1, arbitrary: fc.array(textArb, { maxLength: 3 }).map((vs) => ({ arrayValue: { values: vs.map((s) => ({ stringValue: s })) } })) },
  { weight: 1, arbitrary: fc.constant({ kvlistValue: { values: [{ key: "k", value: { stringValue: "v" } }] } }) },
  { weight: 1, arbitrary: fc.constant({ bytesValue: "AAE=" }) },
  { weight: 1, arbitrary: fc.constant({}) },
);
const attributesArb = fc.array(fc.record({ key: fc.constantFrom(...KEYS), value: anyValueArb }), { maxLength: 24 });
const nanosArb = fc.oneof(
  fc.constant("0"),
  fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }).map(String),
  fc.bigInt({ min: 1_700_000_000_000_000_000n, max: 1_800_000_000_000_000_000n }).map(String),
  fc.constantFrom("9223372036854775807", "9223372036854775808", "18446744073709551615"),
);
const idArb = (bytes: number) => fc.option(fc.uint8Array({ minLength: bytes, maxLength: bytes }), { nil: undefined });
const recordArb = fc.record({ timeUnixNano: nanosArb, observedTimeUnixNano: nanosArb, attributes: attributesArb, traceId: idArb(16), spanId: idArb(8) });
const requestArb = fc.array(
  fc.record({ resource: fc.record({ attributes: attributesArb }), scopeLogs: fc.array(fc.record({ logRecords: fc.array(recordArb, { maxLength: 6 }) }), { maxLength: 3 }) }),
  { minLength: 1, maxLength: 3 },
);

/** The receiver's COPY bytes are the UTF-8 of the reference's COPY text. */
const expectSameCopyText = (rows: readonly AccessLogRow[]): void => {
  const sent = accessLogCopyText(rows);
  // What the pg stream sent for the reference's string: its UTF-8 (a lone surrogate becomes U+FFFD alike).
  const reference = Buffer.from(referenceAccessLogCopyText(rows), "utf8");
  expect(sent.toString("utf8")).toBe(reference.toString("utf8"));
  expect(sent.equals(reference)).toBe(true);
};

const rowsOf = (outcomes: readonly RecordOutcome[]): AccessLogRow[] => outcomes.flatMap((o) => (o.ok ? [o.row] : []));

const protobufOf = (resourceLogs: unknown): Buffer => Buffer.from(Request.encode(Request.fromObject({ resourceLogs })).finish());
/** OTLP/JSON: ids in hex, int64 as decimal strings, bytes in base64 (what collectors send). */
const jsonOf = (resourceLogs: unknown): Buffer =>
  Buffer.from(JSON.stringify({ resourceLogs }, (key, value) => ((key === "traceId" || key === "spanId") && value instanceof Uint8Array ? Buffer.from(value).toString("hex") : value)));

describe("OTLP record -> row: the receiver's mapping equals session 4's", () => {
  it("gives the same outcome for every record of any request, both encodings, both kinds of sender", () => {
    fc.assert(
      fc.property(requestArb, fc.constantFrom(...CONTEXTS), (resourceLogs, ctx) => {
        for (const [encoding, body] of [["protobuf", protobufOf(resourceLogs)], ["json", jsonOf(resourceLogs)]] as const) {
          const { fast, reference } = outcomes(body, encoding, ctx);
          expect(fast).toEqual(reference);
          const folded = foldCopies(rowsOf(fast));
          expectSameCopyText(folded);
        }
      }),
      { numRuns: 400 },
    );
  });

  it("the generators reach rows and every rejection (else the property above would compare little)", () => {
    const reasons = new Set<string>();
    let rows = 0;
    fc.assert(
      fc.property(requestArb, (resourceLogs) => {
        for (const o of outcomes(protobufOf(resourceLogs), "protobuf", CONTEXTS[0]).fast) {
          if (o.ok) rows++;
          else reasons.add(o.reason.replace(/[\d"].*$/, "").split(":")[0]);
        }
      }),
      { numRuns: 400, seed: 18 },
    );
    expect(rows).toBeGreaterThan(100);
    for (const reason of ["record has neither timeUnixNano nor observedTimeUnixNano", "timeUnixNano ", "no tenant", "tokens_prompt", "tenant"]) expect([...reasons].some((r) => r.startsWith(reason))).toBe(true);
  });

  it("a record attribute wins over its resource's, an attribute repeated takes its last copy, unread attributes change nothing", () => {
    const resourceLogs = [
      {
        resource: { attributes: [{ key: "tenant", value: { stringValue: "globex" } }, { key: "model", value: { stringValue: "granite" } }, { key: "host.name", value: { stringValue: "replica-1" } }] },
        scopeLogs: [
          {
            logRecords: [
              {
                timeUnixNano: "1777000000000000001",
                attributes: [
                  { key: "tenant", value: { stringValue: "acme" } },
                  { key: "tokens_prompt", value: { stringValue: "5" } },
                  { key: "tokens_prompt", value: { intValue: "7" } },
                  { key: "model", value: { stringValue: "" } },
                  { key: "service.instance.id", value: { stringValue: "x" } },
                ],
              },
            ],
          },
        ],
      },
    ];
    for (const encoding of ["protobuf", "json"] as const) {
      const { fast, reference } = outcomes(encoding === "protobuf" ? protobufOf(resourceLogs) : jsonOf(resourceLogs), encoding, CONTEXTS[0]);
      expect(fast).toEqual(reference);
      expect(fast[0]).toMatchObject({ ok: true, row: { tenant: "acme", inputTokens: 7, model: "" } });
    }
  });

  it("gives the same 10,000 rows for a batch of 10,000 benchmark records (SDK-serialized, both encodings)", () => {
    const records = Array.from({ length: 10_000 }, (_, i) => benchRecord(i));
    for (const encoding of ["protobuf", "json"] as const) {
      const { fast, reference } = outcomes(Buffer.from(serializeLogs(records, encoding)), encoding, CONTEXTS[0]);
      expect(fast.length).toBe(10_000);
      expect(fast.every((o) => o.ok)).toBe(true);
      expect(fast).toEqual(reference);
      const folded = foldCopies(rowsOf(fast));
      expectSameCopyText(folded);
    }
  });

  it("reading an attribute that is not in RECORD_ATTRIBUTES fails loudly instead of reading as missing", () => {
    const [record] = flattenLogs(decodeLogsRequest(protobufOf([{ scopeLogs: [{ logRecords: [{ timeUnixNano: "1" }] }] }]), "protobuf"), SLOTS);
    expect(() => record.attributes.get("not_listed")).toThrow(/RECORD_ATTRIBUTES/);
  });
});

// ---- rows as the spool may replay them: any text, nulls, timestamps of any length ----
const copyValueArb = fc.oneof(
  fc.constantFrom("", "a\tb", "c\\d", "e\nf", "g\rh", "\\N", "\t", "é 字", "😀", "\uD800", "x".repeat(300), "字".repeat(1000)),
  fc.string({ maxLength: 10 }),
  fc.string({ maxLength: 10, unit: "binary" }),
);
/** Digit strings around the fast road's edges: leading zeros, 1 to 20 digits, seconds shared and not. */
const nanosTextArb = fc.oneof(
  fc.bigInt({ min: 1_700_000_000_000_000_000n, max: 1_700_000_005_000_000_000n }).map(String),
  fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String),
  fc.bigInt({ min: 0n, max: 99_999_999_999n }).map(String),
  fc.bigInt({ min: 1n, max: 2n ** 62n }).map((n) => `00${n}`),
  fc.constantFrom("1000000000", "999999999", "9223372036854775807", "1000000000000000000", "1999999999999999999"),
);
const rowArb: fc.Arbitrary<AccessLogRow> = fc.record({
  tenant: copyValueArb,
  source: copyValueArb,
  recordId: fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), copyValueArb),
  timeUnixNano: nanosTextArb,
  user: fc.option(copyValueArb, { nil: null }),
  tier: copyValueArb,
  model: copyValueArb,
  keyId: fc.option(copyValueArb, { nil: null }),
  keyName: fc.option(copyValueArb, { nil: null }),
  organizationId: fc.option(copyValueArb, { nil: null }),
  groups: fc.option(copyValueArb, { nil: null }),
  responseCode: fc.integer({ min: 0, max: 999 }),
  responseType: copyValueArb,
  inputTokens: fc.nat(),
  outputTokens: fc.nat(),
  totalTokens: fc.nat(),
  billable: fc.boolean(),
});

describe("OTLP batch -> COPY text: accessLogCopyText equals main's copyLines at 748c4f3", () => {
  it("writes the same bytes for any rows: escapes, nulls, timestamps on and off the fast road, seconds shared and not", () => {
    fc.assert(
      fc.property(fc.array(rowArb, { maxLength: 40 }), (rows) => {
        expectSameCopyText(rows);
      }),
      { numRuns: 500 },
    );
  });

  it("writes the same bytes when the rows outgrow the first buffer (long multi-byte text)", () => {
    const rows = fc.sample(rowArb, { numRuns: 200, seed: 18 }).map((r, i) => ({ ...r, keyName: "字😀".repeat(i % 7 === 0 ? 400 : 1) }));
    expect(accessLogCopyText(rows).length).toBeGreaterThan(320 * rows.length);
    expectSameCopyText(rows);
  });

  it("writes the same bytes for a batch whose records cross many seconds in order (the cached date of a second is renewed)", () => {
    const rows = Array.from({ length: 5_000 }, (_, i) => benchRecord(i * 997))
      .map((r) => toAccessLogRow({ timeUnixNano: r.timeUnixNano, observedTimeUnixNano: "0", attributes: { get: (k) => (r.attributes as Record<string, string>)[k] }, traceId: "", spanId: "" }, CONTEXTS[0]))
      .map((o) => (o.ok ? o.row : expect.unreachable(o.reason)));
    expect(new Set(rows.map((r) => r.timeUnixNano.slice(0, -9))).size).toBeGreaterThan(1_000);
    expectSameCopyText(rows);
  });
});
