/**
 * The remote-read answer walked field by field (decode.ts) against protobufjs' generated decode of
 * the same bytes (session 5's decode, test/support/remote-read-decode-reference.ts): random
 * ReadResponses with unicode labels, timestamps of every size and sign, values NaN, infinite and
 * negative zero included, fields left out (proto3 zero values) and fields this decoder does not know
 * (newer prompb: exemplars, histograms), compressed as Prometheus sends them.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import protobuf from "protobufjs";
import snappy from "snappy";
import { decodeSampleColumns } from "../src/collector/remote-read/decode";
import { decodeSampleColumns as referenceDecode } from "./support/remote-read-decode-reference";

// prompb's fields as the collector reads them, plus fields it does not know, in every message.
const WIDER = protobuf.parse(`
syntax = "proto3";
package prometheus;
message Sample { double value = 1; int64 timestamp = 2; string note = 7; }
message Label { string name = 1; string value = 2; fixed32 spare = 5; }
message Exemplar { repeated Label labels = 1; double value = 2; int64 timestamp = 3; }
message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; repeated Exemplar exemplars = 3; bytes histograms = 4; }
message QueryResult { repeated TimeSeries timeseries = 1; sint64 spare = 6; }
message ReadResponse { repeated QueryResult results = 1; string spare = 9; }
`).root.lookupType("prometheus.ReadResponse");

const timestamp = fc.oneof(
  fc.integer({ min: 1_500_000_000_000, max: 2_000_000_000_000 }),
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.constantFrom(0, 1, 2 ** 49 - 1, 2 ** 49, 2 ** 53 - 1, -(2 ** 53 - 1), -1),
  fc.maxSafeInteger(),
  fc.maxSafeNat().map((n) => -n),
);
const sample = fc.record({ value: fc.double(), timestamp, note: fc.string() }, { requiredKeys: [] });
const label = fc.record({ name: fc.string({ unit: "binary", maxLength: 8 }), value: fc.string({ unit: "binary", maxLength: 12 }), spare: fc.nat() }, { requiredKeys: [] });
const series = fc.record(
  {
    labels: fc.array(label, { maxLength: 4 }),
    samples: fc.array(sample, { maxLength: 12 }),
    exemplars: fc.array(fc.record({ labels: fc.array(label, { maxLength: 2 }), value: fc.double(), timestamp }), { maxLength: 2 }),
    histograms: fc.uint8Array({ maxLength: 6 }),
  },
  { requiredKeys: ["labels", "samples"] },
);
const result = fc.record({ timeseries: fc.array(series, { maxLength: 5 }), spare: fc.integer() }, { requiredKeys: ["timeseries"] });
const window = fc.tuple(fc.integer({ min: -2_000_000, max: 2_000_000_000_000 }), fc.nat(2_000_000_000_000)).map(([fromMs, size]) => ({ fromMs, toMs: fromMs + size }));

const compressed = (message: object): Buffer => snappy.compressSync(Buffer.from(WIDER.encode(WIDER.fromObject(message)).finish()));

describe("remote-read answer decoded field by field", () => {
  it("gives the columns protobufjs' generated decode gives, for any answer and windows", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(result, window), { maxLength: 3 }), fc.option(fc.string(), { nil: undefined }), (queries, spare) => {
        const body = compressed({ results: queries.map(([r]) => r), ...(spare === undefined ? {} : { spare }) });
        const windows = queries.map(([, w]) => w);
        expect(decodeSampleColumns(body, windows)).toEqual(referenceDecode(body, windows));
      }),
      { numRuns: 400 },
    );
  });

  it("keeps a large answer equal too (500 series of 260 samples: the columns grow many times)", () => {
    const start = 1_796_000_000_000;
    const timeseries = Array.from({ length: 500 }, (_, i) => ({
      labels: [{ name: "__name__", value: "authorized_hits" }, { name: "user", value: `u${i}` }],
      samples: Array.from({ length: 260 }, (_, k) => ({ timestamp: start + 3_217 + k * 15_000, value: k * (i % 97) })),
    }));
    const body = compressed({ results: [{ timeseries }] });
    const windows = [{ fromMs: start + 60_000, toMs: start + 3_660_000 }];
    const got = decodeSampleColumns(body, windows);
    expect(got).toEqual(referenceDecode(body, windows));
    expect(got[0].t.length).toBe(500 * 240);
  });

  it("refuses what the reference refuses: a cut answer, and a result count that is not the query count", () => {
    const body = compressed({ results: [{ timeseries: [{ labels: [{ name: "a", value: "b" }], samples: [{ timestamp: 5, value: 1 }] }] }] });
    const raw = snappy.uncompressSync(body) as Buffer;
    const cut = snappy.compressSync(raw.subarray(0, raw.length - 3));
    expect(() => referenceDecode(cut, [{ fromMs: 0, toMs: 10 }])).toThrow();
    expect(() => decodeSampleColumns(cut, [{ fromMs: 0, toMs: 10 }])).toThrow();
    expect(() => referenceDecode(body, [])).toThrow(/1 results for 0 queries/);
    expect(() => decodeSampleColumns(body, [])).toThrow(/more results than the 0 queries/);
    expect(() => decodeSampleColumns(body, [{ fromMs: 0, toMs: 10 }, { fromMs: 0, toMs: 10 }])).toThrow(/1 results for 2 queries/);
    expect(() => decodeSampleColumns(Buffer.from("not snappy"), [])).toThrow();
  });
});
