/**
 * The decode of remote read's STREAMED_XOR_CHUNKS answers (remote-read/chunks.ts) against answers
 * written by an independent encoder (support/xor-chunks-encoder.ts): random series with every
 * size and sign of timestamp delta-of-delta, gaps longer than 20 bits of milliseconds, repeated and
 * special values (NaN, infinities, -0, random bit patterns), chunks split anywhere, series continued
 * across frames; the samples in (fromMs, toMs] with finite values must come out exactly, in order.
 * Malformed answers (checksum, lengths, encodings, order) are refused. Against a real Prometheus the
 * same path is compared with SAMPLES and the query API in collector-remote-read.test.ts.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { crc32c, decodeChunkedColumns } from "../src/collector/remote-read/chunks";
import { chunkedResponse, crc32cBitwise, frames, type TestSample } from "./support/xor-chunks-encoder";

const T0 = 1_796_666_400_000;

/** Timestamp steps: scrape-like, jittered, 1 ms, and gaps that need each delta-of-delta size. */
const stepArb = fc.oneof(
  fc.constant(15_000),
  fc.integer({ min: 14_000, max: 16_000 }),
  fc.constant(1),
  fc.integer({ min: 1, max: 2 ** 13 }),
  fc.integer({ min: 2 ** 13, max: 2 ** 16 + 5 }),
  fc.integer({ min: 2 ** 16, max: 2 ** 19 + 5 }),
  fc.integer({ min: 2 ** 19, max: 2 ** 40 }),
);

const valueArb = fc.oneof(
  fc.integer({ min: 0, max: 1_000_000 }).map((n) => n),
  fc.constantFrom(0, -0, 1, NaN, Infinity, -Infinity, 2 ** 53, Number.MAX_VALUE, Number.MIN_VALUE, 0.1, 1e-300),
  fc.double(),
  fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff })).map(([hi, lo]) => {
    const view = new DataView(new ArrayBuffer(8));
    view.setUint32(0, hi);
    view.setUint32(4, lo);
    return view.getFloat64(0);
  }),
);

/** A counter-like run (rising, sometimes the same, sometimes reset) or arbitrary values. */
const valuesArb = (n: number) =>
  fc.oneof(
    fc.array(fc.oneof(fc.constant(0), fc.nat(100), fc.nat(1_000_000), fc.constant(-1)), { minLength: n, maxLength: n }).map((incs) => {
      let v = 0;
      return incs.map((inc) => (v = inc < 0 ? 0 : v + inc));
    }),
    fc.array(valueArb, { minLength: n, maxLength: n }),
  );

const seriesSamplesArb = fc.integer({ min: 1, max: 300 }).chain((n) =>
  // Some series start before 1970 (negative timestamps, zigzag-coded).
  fc.tuple(fc.oneof(fc.integer({ min: -(2 ** 20), max: 2 ** 20 }), fc.constant(-T0 - 3_000_000)), fc.array(stepArb, { minLength: n, maxLength: n }), valuesArb(n)).map(([start, steps, values]) => {
    let t = T0 + start;
    return steps.map((step, i): TestSample => ({ t: (t += step), v: values[i] }));
  }),
);

/** Cuts `xs` into consecutive pieces of random sizes (`cuts`: where, as fractions). */
const cut = <T>(xs: readonly T[], cuts: readonly number[]): T[][] => {
  const at = [...new Set(cuts.map((c) => Math.floor(c * xs.length)))].filter((i) => i > 0 && i < xs.length).sort((a, b) => a - b);
  const out: T[][] = [];
  let from = 0;
  for (const i of [...at, xs.length]) {
    out.push(xs.slice(from, i));
    from = i;
  }
  return out;
};

const cutsArb = (max: number) => fc.array(fc.integer({ min: 1, max: 999 }).map((n) => n / 1000), { maxLength: max });

const answerArb = fc
  .record({
    series: fc.array(fc.record({ samples: seriesSamplesArb, chunkCuts: cutsArb(6), frameCuts: cutsArb(3) }), { minLength: 1, maxLength: 5 }),
    from: fc.integer({ min: -(2 ** 21), max: 2 ** 21 }),
    length: fc.oneof(fc.integer({ min: 1, max: 4 * 3_600_000 }), fc.constant(2 ** 42)),
    // Window edges on a sample's timestamp: the left one excluded, the right one included.
    onSample: fc.option(fc.tuple(fc.nat(), fc.nat()), { nil: undefined }),
  })
  .map(({ series, from, length, onSample }) => {
    const times = series.flatMap((s) => s.samples.map((x) => x.t)).sort((a, b) => a - b);
    const [fromMs, toMs] = onSample ? [times[onSample[0] % times.length], times[onSample[1] % times.length]].sort((a, b) => a - b) : [T0 + from, T0 + from + length];
    return {
      series: series.map((s, i) => ({ ...s, labels: [{ name: "__name__", value: "authorized_hits" }, { name: "user", value: `u${i}` }] })),
      fromMs,
      toMs,
    };
  });

describe("STREAMED_XOR_CHUNKS answers to columns", () => {
  it("CRC-32C: the standard check value, and the same as bit by bit", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => crc32c(b) === crc32cBitwise(b)));
  });

  it("gives exactly the finite samples in (fromMs, toMs], in order, for random series, chunks and frames", () => {
    fc.assert(
      fc.property(answerArb, ({ series, fromMs, toMs }) => {
        // Each series cut into chunks, and its chunks spread over one or more frames (the same
        // labels again in the next frame continue it).
        const messages: Uint8Array[] = [];
        for (const s of series) {
          const chunks = cut(s.samples, s.chunkCuts).map((samples) => ({ samples }));
          for (const part of cut(chunks, s.frameCuts)) messages.push(chunkedResponse(0, [{ labels: s.labels, chunks: part }]));
        }
        const [got] = decodeChunkedColumns(frames(messages), [{ fromMs, toMs }]);
        const want = series
          .map((s) => ({ labels: s.labels.flatMap((l) => [l.name, l.value]), samples: s.samples.filter((x) => x.t > fromMs && x.t <= toMs && Number.isFinite(x.v)) }))
          .filter((s) => s.samples.length > 0);
        expect(got.labels).toEqual(want.map((s) => s.labels));
        expect(Array.from(got.offsets)).toEqual(want.reduce((o, s) => [...o, o[o.length - 1] + s.samples.length], [0]));
        expect(Array.from(got.t)).toEqual(want.flatMap((s) => s.samples.map((x) => x.t)));
        // Object.is: -0 stays -0.
        const values = Array.from(got.v);
        want.flatMap((s) => s.samples.map((x) => x.v)).forEach((v, i) => expect(Object.is(values[i], v)).toBe(true));
      }),
      { numRuns: 300 },
    );
  });

  it("puts several series in one frame and several queries' frames in one answer", () => {
    const a: TestSample[] = [1, 2, 3].map((k) => ({ t: T0 + k * 15_000, v: k }));
    const b: TestSample[] = [1, 2].map((k) => ({ t: T0 + k * 15_000, v: 10 * k }));
    const labels = (u: string) => [{ name: "user", value: u }];
    const body = frames([chunkedResponse(1, [{ labels: labels("a"), chunks: [{ samples: a }] }, { labels: labels("b"), chunks: [{ samples: b }] }]), chunkedResponse(0, [{ labels: labels("c"), chunks: [{ samples: b }] }])]);
    const [q0, q1] = decodeChunkedColumns(body, [{ fromMs: T0, toMs: T0 + 60_000 }, { fromMs: T0 + 15_000, toMs: T0 + 60_000 }]);
    expect(q0.labels).toEqual([["user", "c"]]);
    expect(Array.from(q0.v)).toEqual([10, 20]);
    expect(q1.labels).toEqual([["user", "a"], ["user", "b"]]);
    expect(Array.from(q1.offsets)).toEqual([0, 2, 3]);
    expect(Array.from(q1.v)).toEqual([2, 3, 20]);
  });

  it("refuses a wrong checksum, a cut answer, another encoding, data that runs out, and chunks out of order", () => {
    const samples: TestSample[] = [1, 2, 3, 4].map((k) => ({ t: T0 + k * 15_000, v: k * 1.5 }));
    const labels = [{ name: "user", value: "a" }];
    const w = [{ fromMs: T0, toMs: T0 + 3_600_000 }];
    const good = frames([chunkedResponse(0, [{ labels, chunks: [{ samples }] }])]);
    expect(decodeChunkedColumns(good, w)[0].t).toHaveLength(4);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 3] ^= 0x10;
    expect(() => decodeChunkedColumns(flipped, w)).toThrow(/CRC-32C/);
    expect(() => decodeChunkedColumns(good.subarray(0, good.length - 2), w)).toThrow(/runs past the end of the answer/);
    expect(() => decodeChunkedColumns(frames([chunkedResponse(0, [{ labels, chunks: [{ samples, type: 2 }] }])]), w)).toThrow(/encoding 2, not XOR/);
    // The sample count says 4, the bits hold fewer.
    const short = new Uint8Array([0, 4, 0x02, 0x3f, 0xf0]);
    expect(() => decodeChunkedColumns(frames([chunkedResponse(0, [{ labels, chunks: [{ samples, data: short }] }])]), w)).toThrow(/run past the end of its data/);
    const later: TestSample[] = [{ t: T0 + 10 * 15_000, v: 1 }];
    expect(() => decodeChunkedColumns(frames([chunkedResponse(0, [{ labels, chunks: [{ samples: later }, { samples }] }])]), w)).toThrow(/not in time order/);
    expect(() => decodeChunkedColumns(good, [])).toThrow(/a frame for query 0 of 0/);
  });
});
