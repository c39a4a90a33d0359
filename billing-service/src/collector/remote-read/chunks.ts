/**
 * A STREAMED_XOR_CHUNKS answer of remote read to the same columns as a SAMPLES answer (decode.ts):
 * per query, the series' labels and their samples in (fromMs, toMs] with finite values.
 *
 * Why: for SAMPLES, Prometheus decodes every stored chunk into samples, builds a protobuf message
 * with one entry per sample and snappy-compresses it; that costs it about as much CPU as the JSON
 * of the query API, and the collector then decompresses and walks 9 MB per 2,000 series. For
 * STREAMED_XOR_CHUNKS it sends the chunks as its storage holds them (Gorilla-style XOR encoding,
 * about 1.4 bytes a sample here) in CRC-checked frames, and the collector decodes them itself.
 *
 * The format (https://prometheus.io/docs/prometheus/latest/querying/remote_read_api/, prompb's
 * remote.proto and types.proto, and the chunk encoding of Prometheus' tsdb/chunkenc):
 * - The body is a sequence of frames: the data's length as a uvarint, its CRC-32C (Castagnoli) as
 *   4 bytes big-endian, then the data, one ChunkedReadResponse message (chunked_series = 1,
 *   query_index = 2). A series may continue in the next frame (the same labels again); once another
 *   series starts, the previous one has ended.
 * - ChunkedSeries: labels = 1, chunks = 2. Chunk: min_time_ms = 1, max_time_ms = 2, type = 3
 *   (1 = XOR), data = 4. A chunk is sent whole: it may hold samples outside the range asked for,
 *   which are dropped here as on the other paths.
 * - An XOR chunk: the sample count (2 bytes, big-endian), then a bit stream (most significant bit
 *   first). First sample: its timestamp as a zigzag varint, its value as 64 raw bits. Second: the
 *   timestamp delta as a uvarint, then the value. Later ones: the delta of deltas as `0` (zero),
 *   `10` + 14 bits, `110` + 17 bits, `1110` + 20 bits (two's complement) or `1111` + 64 bits, then
 *   the value. A value is its XOR with the previous value: `0` (the same), or `1` then either `0`
 *   (the previous leading and trailing zero counts again) or `1` + 5 bits of leading zeros + 6 bits
 *   of significant bits (0 meaning 64), then the significant bits.
 *
 * `remote-read-chunks.test.ts` checks this decode against an independent encoder on random series
 * (every timestamp-delta size and sign, NaN, infinities, -0) and against Prometheus' own SAMPLES
 * answer for the same data.
 */
import protobuf from "protobufjs";
import { Columns, ended, readInt64, readLabel, type SampleColumns } from "./decode";

// Wire types and the prompb fields read here.
const VARINT = 0;
const LENGTH_DELIMITED = 2;
const CHUNKED_RESPONSE_SERIES = 1; // ChunkedReadResponse.chunked_series: ChunkedSeries
const CHUNKED_RESPONSE_QUERY_INDEX = 2; // ChunkedReadResponse.query_index: int64
const CHUNKED_SERIES_LABELS = 1; // ChunkedSeries.labels: Label
const CHUNKED_SERIES_CHUNKS = 2; // ChunkedSeries.chunks: Chunk
const CHUNK_MIN_TIME = 1;
const CHUNK_MAX_TIME = 2;
const CHUNK_TYPE = 3;
const CHUNK_DATA = 4;
/** Chunk.Encoding.XOR: float samples (counters). Histogram chunks are not counters the collector reads. */
const ENCODING_XOR = 1;

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of each frame. */
const CRC32C_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

export const crc32c = (data: Uint8Array): number => {
  let crc = -1;
  for (let i = 0; i < data.length; i++) crc = CRC32C_TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
};

/** A big-endian bit stream over one chunk's bytes; reads past its end are caught by `check`. */
class Bits {
  pos: number;
  constructor(
    private readonly b: Uint8Array,
    startByte: number,
    private readonly endBit: number,
  ) {
    this.pos = startByte * 8;
  }

  /** The next n bits (1 <= n <= 24) as an unsigned number. */
  read(n: number): number {
    const p = this.pos;
    const i = p >>> 3;
    const b = this.b;
    // Four bytes hold the n bits wherever they start in the first (bytes past the end read as 0).
    const w = (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3];
    this.pos = p + n;
    return (w << (p & 7)) >>> (32 - n);
  }

  /** The next n bits (1 <= n <= 32) as an unsigned number. */
  readLong(n: number): number {
    return n <= 24 ? this.read(n) : this.read(n - 16) * 65536 + this.read(16);
  }

  /** A varint of whole bytes, as a number (exact below 2^53). */
  uvarint(): number {
    let value = 0;
    let scale = 1;
    for (let k = 0; k < 10; k++) {
      const byte = this.read(8);
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    throw new Error("a varint in a chunk is longer than 10 bytes");
  }

  check(): void {
    if (this.pos > this.endBit) throw new Error("a chunk's samples run past the end of its data");
  }
}

// Float64 from its two 32-bit halves (high, low), through one shared buffer.
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HI = LITTLE_ENDIAN ? 1 : 0;
const LO = LITTLE_ENDIAN ? 0 : 1;
const float = (hi: number, lo: number): number => {
  U32[HI] = hi;
  U32[LO] = lo;
  return F64[0];
};

/** Per series being decoded: the last timestamp kept (timestamps must rise strictly, as on the other paths). */
interface SeriesState {
  lastT: number;
}

/**
 * The samples of one XOR chunk (`data[start, end)`) in (fromMs, toMs] with a finite value, appended
 * to `out`. Decoding stops at the first sample after `toMs` (a chunk's samples are in time order).
 */
const decodeXorChunk = (data: Uint8Array, start: number, end: number, fromMs: number, toMs: number, out: Columns, series: SeriesState): void => {
  if (end - start < 2) throw new Error("a chunk shorter than its 2-byte sample count");
  const total = (data[start] << 8) | data[start + 1];
  if (total === 0) return;
  const r = new Bits(data, start + 2, end * 8);
  let ux = r.uvarint();
  let t = ux % 2 === 0 ? ux / 2 : -(ux + 1) / 2; // zigzag
  let vh = r.readLong(32);
  let vl = r.readLong(32);
  let tDelta = 0;
  let leading = 0;
  let trailing = 0;
  for (let n = 0; ; ) {
    if (t > toMs) break;
    const v = float(vh, vl);
    if (t > fromMs && Number.isFinite(v)) {
      if (t <= series.lastT) throw new Error(`a series' chunks are not in time order (${t} after ${series.lastT})`);
      series.lastT = t;
      out.push(t, v);
    }
    n += 1;
    if (n === total) break;
    // Timestamp.
    if (n === 1) {
      tDelta = r.uvarint();
    } else {
      let ones = 0;
      while (ones < 4 && r.read(1) === 1) ones += 1;
      if (ones === 4) {
        const hi = r.readLong(32);
        const lo = r.readLong(32);
        tDelta += (hi | 0) * 4294967296 + lo;
      } else if (ones > 0) {
        const size = ones === 1 ? 14 : ones === 2 ? 17 : 20;
        let dod = r.read(size);
        // Two's complement in `size` bits (the encoder's range is -(2^(size-1) - 1) .. 2^(size-1)).
        if (dod > 2 ** (size - 1)) dod -= 2 ** size;
        tDelta += dod;
      }
    }
    t += tDelta;
    // Value.
    if (r.read(1) === 1) {
      if (r.read(1) === 1) {
        leading = r.read(5);
        let significant = r.read(6);
        if (significant === 0) significant = 64;
        trailing = 64 - leading - significant;
        if (trailing < 0) throw new Error("a chunk value has more than 64 bits");
      }
      const significant = 64 - leading - trailing;
      let xh = 0;
      let xl: number;
      if (significant > 32) {
        xh = r.readLong(significant - 32);
        xl = r.readLong(32);
      } else xl = r.readLong(significant);
      // (xh:xl) << trailing, as two 32-bit halves.
      let hi: number;
      let lo: number;
      if (trailing === 0) {
        hi = xh;
        lo = xl;
      } else if (trailing >= 32) {
        hi = xl << (trailing - 32);
        lo = 0;
      } else {
        hi = (xh << trailing) | (xl >>> (32 - trailing));
        lo = xl << trailing;
      }
      vh = (vh ^ hi) >>> 0;
      vl = (vl ^ lo) >>> 0;
    }
  }
  r.check();
};

/** Samples and series of one query, gathered over the frames. */
class QueryColumns {
  readonly out: Columns;
  readonly labels: string[][] = [];
  readonly offsets: number[] = [];
  private lastKey: string | undefined;
  private series: SeriesState = { lastT: -Infinity };

  constructor(
    capacity: number,
    readonly fromMs: number,
    readonly toMs: number,
  ) {
    this.out = new Columns(capacity);
  }

  /** The series these labels name: the previous one again (continued from the last frame), or a new one. */
  seriesFor(labels: string[]): SeriesState {
    const key = JSON.stringify(labels);
    if (key !== this.lastKey) {
      this.dropEmptyLast();
      this.lastKey = key;
      this.offsets.push(this.out.n);
      this.labels.push(labels);
      this.series = { lastT: -Infinity };
    }
    return this.series;
  }

  /**
   * A series whose chunks hold no finite sample in the range is left out, as the query API leaves
   * it out (chunks are sent whole, so a series can come with samples only outside the range).
   */
  private dropEmptyLast(): void {
    if (this.offsets.length > 0 && this.offsets[this.offsets.length - 1] === this.out.n) {
      this.offsets.pop();
      this.labels.pop();
    }
  }

  columns(): SampleColumns {
    this.dropEmptyLast();
    const { out } = this;
    return { labels: this.labels, offsets: Int32Array.from([...this.offsets, out.n]), t: out.t.subarray(0, out.n), v: out.v.subarray(0, out.n) };
  }
}

/** One Chunk message: its XOR data appended to the series' samples when it overlaps the range. */
const readChunk = (r: protobuf.Reader, end: number, q: QueryColumns, series: SeriesState): void => {
  let minT = -Infinity;
  let maxT = Infinity;
  let type = 0;
  let dataStart = -1;
  let dataEnd = -1;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === ((CHUNK_MIN_TIME << 3) | VARINT)) minT = readInt64(r);
    else if (tag === ((CHUNK_MAX_TIME << 3) | VARINT)) maxT = readInt64(r);
    else if (tag === ((CHUNK_TYPE << 3) | VARINT)) type = r.uint32();
    else if (tag === ((CHUNK_DATA << 3) | LENGTH_DELIMITED)) {
      const length = r.uint32();
      dataStart = r.pos;
      dataEnd = r.pos + length;
      if (dataEnd > end) throw new Error("a chunk's data runs past the end of its message");
      r.pos = dataEnd;
    } else r.skipType(tag & 7);
  }
  if (type !== ENCODING_XOR) throw new Error(`a chunk of encoding ${type}, not XOR (1): the collector reads float counters only`);
  if (dataStart < 0) throw new Error("a chunk without data");
  // Wholly outside (fromMs, toMs]: nothing to decode.
  if (maxT <= q.fromMs || minT > q.toMs) return;
  decodeXorChunk(r.buf, dataStart, dataEnd, q.fromMs, q.toMs, q.out, series);
};

/** One ChunkedSeries: labels first (they may follow the chunks on the wire), then its chunks in order. */
const readChunkedSeries = (r: protobuf.Reader, end: number, q: QueryColumns): void => {
  const labels: string[] = [];
  const chunks: Array<[number, number]> = [];
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === ((CHUNKED_SERIES_LABELS << 3) | LENGTH_DELIMITED)) {
      const length = r.uint32();
      const labelEnd = r.pos + length;
      readLabel(r, labelEnd, labels);
      ended(r, labelEnd);
    } else if (tag === ((CHUNKED_SERIES_CHUNKS << 3) | LENGTH_DELIMITED)) {
      const length = r.uint32();
      chunks.push([r.pos, r.pos + length]);
      r.pos += length;
      if (r.pos > end) throw new Error("a chunk runs past the end of its series");
    } else r.skipType(tag & 7);
  }
  const series = q.seriesFor(labels);
  const after = r.pos;
  for (const [start, chunkEnd] of chunks) {
    r.pos = start;
    readChunk(r, chunkEnd, q, series);
    ended(r, chunkEnd);
  }
  r.pos = after;
};

/** The query index of one ChunkedReadResponse (it may come after the series on the wire). */
const queryIndexOf = (r: protobuf.Reader, end: number): number => {
  const start = r.pos;
  let index = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === ((CHUNKED_RESPONSE_QUERY_INDEX << 3) | VARINT)) index = readInt64(r);
    else r.skipType(tag & 7);
  }
  ended(r, end);
  r.pos = start;
  return index;
};

/**
 * Decodes a whole streamed answer; `windows[i]` is query i's (fromMs, toMs]. Throws on a frame whose
 * checksum or length is wrong, and on anything that is not a ChunkedReadResponse of XOR chunks.
 */
export const decodeChunkedColumns = (body: Uint8Array, windows: ReadonlyArray<{ fromMs: number; toMs: number }>): SampleColumns[] => {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  // A sample takes from 2 bits to a few bytes in a chunk: columns sized from the body, grown when needed.
  const queries = windows.map((w) => new QueryColumns(Math.ceil(buf.length / 2 / Math.max(1, windows.length)), w.fromMs, w.toMs));
  const r = protobuf.Reader.create(buf);
  while (r.pos < r.len) {
    const size = r.uint32();
    if (r.pos + 4 + size > r.len) throw new Error(`a frame of ${size} bytes runs past the end of the answer`);
    const crc = buf.readUInt32BE(r.pos);
    const start = r.pos + 4;
    const end = start + size;
    if (crc32c(buf.subarray(start, end)) !== crc) throw new Error("a frame's CRC-32C does not match its data");
    r.pos = start;
    const index = queryIndexOf(r, end);
    const q = queries[index];
    if (q === undefined) throw new Error(`a frame for query ${index} of ${windows.length}`);
    while (r.pos < end) {
      const tag = r.uint32();
      if (tag === ((CHUNKED_RESPONSE_SERIES << 3) | LENGTH_DELIMITED)) {
        const length = r.uint32();
        const seriesEnd = r.pos + length;
        if (seriesEnd > end) throw new Error("a series runs past the end of its frame");
        readChunkedSeries(r, seriesEnd, q);
        ended(r, seriesEnd);
      } else r.skipType(tag & 7);
    }
    ended(r, end);
  }
  return queries.map((q) => q.columns());
};
