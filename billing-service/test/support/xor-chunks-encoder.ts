/**
 * The writing side of remote read's STREAMED_XOR_CHUNKS answers, for tests of the reading side
 * (src/collector/remote-read/chunks.ts): XOR chunks as Prometheus' appender writes them, ChunkedReadResponse
 * messages, and CRC-checked frames. Written separately from the decoder, from the format's description
 * (see chunks.ts), in BigInt bit arithmetic instead of the decoder's 32-bit halves, so that the
 * two share no code and a mistake in one shows against the other.
 */
import protobuf from "protobufjs";

export interface TestSample {
  readonly t: number;
  readonly v: number;
}

/** Bits written most significant first. */
class BitWriter {
  readonly bytes: number[] = [];
  private free = 0; // unused bits in the last byte

  bit(b: number): void {
    if (this.free === 0) {
      this.bytes.push(0);
      this.free = 8;
    }
    this.free -= 1;
    if (b) this.bytes[this.bytes.length - 1] |= 1 << this.free;
  }

  /** The low `n` bits of `value`. */
  bits(value: bigint, n: number): void {
    for (let i = n - 1; i >= 0; i--) this.bit(Number((value >> BigInt(i)) & 1n));
  }

  byte(b: number): void {
    this.bits(BigInt(b), 8);
  }
}

const float64Bits = (v: number): bigint => {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, v);
  return view.getBigUint64(0);
};

const MASK64 = (1n << 64n) - 1n;

const leadingZeros = (x: bigint): number => {
  let n = 0;
  for (let i = 63; i >= 0 && ((x >> BigInt(i)) & 1n) === 0n; i--) n++;
  return n;
};

const trailingZeros = (x: bigint): number => {
  let n = 0;
  for (let i = 0; i < 64 && ((x >> BigInt(i)) & 1n) === 0n; i++) n++;
  return n;
};

const uvarintBytes = (x: bigint): number[] => {
  const out: number[] = [];
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return out;
};

/** A value fits n bits of the delta-of-delta encoding: -(2^(n-1) - 1) .. 2^(n-1). */
const fits = (x: bigint, n: number): boolean => x >= -((1n << BigInt(n - 1)) - 1n) && x <= 1n << BigInt(n - 1);

/** One XOR chunk of `samples` (time order, at most 65,535). */
export const encodeXorChunk = (samples: readonly TestSample[]): Uint8Array => {
  const w = new BitWriter();
  w.byte(samples.length >> 8);
  w.byte(samples.length & 0xff);
  let prevT = 0n;
  let prevDelta = 0n;
  let prevBits = 0n;
  let leading = 0xff; // none yet
  let trailing = 0;
  const value = (v: number) => {
    const bits = float64Bits(v);
    const x = bits ^ prevBits;
    prevBits = bits;
    if (x === 0n) {
      w.bit(0);
      return;
    }
    w.bit(1);
    let lead = leadingZeros(x);
    const trail = trailingZeros(x);
    if (lead >= 32) lead = 31; // 5 bits hold it
    if (leading !== 0xff && lead >= leading && trail >= trailing) {
      w.bit(0);
      w.bits(x >> BigInt(trailing), 64 - leading - trailing);
      return;
    }
    leading = lead;
    trailing = trail;
    w.bit(1);
    w.bits(BigInt(lead), 5);
    const significant = 64 - lead - trail;
    w.bits(BigInt(significant === 64 ? 0 : significant), 6);
    w.bits(x >> BigInt(trail), significant);
  };
  samples.forEach((s, i) => {
    const t = BigInt(s.t);
    if (i === 0) {
      // Zigzag varint.
      for (const b of uvarintBytes(t >= 0n ? t << 1n : ((-t) << 1n) - 1n)) w.byte(b);
      w.bits(float64Bits(s.v), 64);
      prevBits = float64Bits(s.v);
    } else if (i === 1) {
      prevDelta = t - prevT;
      for (const b of uvarintBytes(prevDelta)) w.byte(b);
      value(s.v);
    } else {
      const delta = t - prevT;
      const dod = delta - prevDelta;
      prevDelta = delta;
      if (dod === 0n) w.bit(0);
      else if (fits(dod, 14)) {
        w.bits(0b10n, 2);
        w.bits(dod & MASK64, 14);
      } else if (fits(dod, 17)) {
        w.bits(0b110n, 3);
        w.bits(dod & MASK64, 17);
      } else if (fits(dod, 20)) {
        w.bits(0b1110n, 4);
        w.bits(dod & MASK64, 20);
      } else {
        w.bits(0b1111n, 4);
        w.bits(dod & MASK64, 64);
      }
      value(s.v);
    }
    prevT = t;
  });
  return Uint8Array.from(w.bytes);
};

const CHUNKED_PROTO = `
syntax = "proto3";
package prometheus;
message Label { string name = 1; string value = 2; }
message Chunk {
  int64 min_time_ms = 1;
  int64 max_time_ms = 2;
  enum Encoding { UNKNOWN = 0; XOR = 1; HISTOGRAM = 2; FLOAT_HISTOGRAM = 3; }
  Encoding type = 3;
  bytes data = 4;
}
message ChunkedSeries { repeated Label labels = 1; repeated Chunk chunks = 2; }
message ChunkedReadResponse { repeated ChunkedSeries chunked_series = 1; int64 query_index = 2; }
`;
const root = protobuf.parse(CHUNKED_PROTO, { keepCase: false }).root;
const ChunkedReadResponse = root.lookupType("prometheus.ChunkedReadResponse");

export interface TestChunk {
  readonly samples: readonly TestSample[];
  /** Chunk.Encoding; 1 (XOR) unless a test says otherwise. */
  readonly type?: number;
  /** Bytes instead of the encoded samples (malformed chunks). */
  readonly data?: Uint8Array;
}

export interface TestChunkedSeries {
  readonly labels: ReadonlyArray<{ name: string; value: string }>;
  readonly chunks: readonly TestChunk[];
}

/** One ChunkedReadResponse message. */
export const chunkedResponse = (queryIndex: number, series: readonly TestChunkedSeries[]): Uint8Array =>
  ChunkedReadResponse.encode(
    ChunkedReadResponse.create({
      queryIndex,
      chunkedSeries: series.map((s) => ({
        labels: s.labels,
        chunks: s.chunks.map((c) => ({
          minTimeMs: c.samples.length > 0 ? c.samples[0].t : 0,
          maxTimeMs: c.samples.length > 0 ? c.samples[c.samples.length - 1].t : 0,
          type: c.type ?? 1,
          data: c.data ?? encodeXorChunk(c.samples),
        })),
      })),
    }),
  ).finish();

/** CRC-32C bit by bit (no table), for the frames. */
export const crc32cBitwise = (data: Uint8Array): number => {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
};

/** Frames: uvarint length, CRC-32C big-endian, the message. */
export const frames = (messages: readonly Uint8Array[]): Buffer =>
  Buffer.concat(
    messages.flatMap((m) => {
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32cBitwise(m));
      return [Buffer.from(uvarintBytes(BigInt(m.length))), crc, Buffer.from(m)];
    }),
  );
