/**
 * A SAMPLES answer of remote read (snappy-compressed ReadResponse) to columns: per query, the
 * series' labels and their samples in (fromMs, toMs] with finite values (stale markers are NaN),
 * as two Float64Arrays. Columns cross from the decode worker (decode-worker.ts) to the collector
 * without copying.
 *
 * The message is walked field by field with protobufjs' Reader (lengths, strings, doubles, unknown
 * fields skipped by wire type) and every sample is written straight into the columns: decoding
 * through the generated types (`ReadResponse.decode`) builds three objects per sample, and that was
 * most of the remote-read path's cost (docs/reliability.md). Field numbers are prompb's (prompb.ts);
 * `remote-read-decode.test.ts` checks this walk against `ReadResponse.decode` on random messages,
 * unknown fields included.
 */
import protobuf from "protobufjs";
import snappy from "snappy";

export interface SampleColumns {
  /** Per series, its labels as name, value, name, value, ... in the order received (sorted). */
  readonly labels: string[][];
  /** Series i's samples are t[offsets[i]] .. t[offsets[i + 1] - 1]. */
  readonly offsets: Int32Array;
  readonly t: Float64Array;
  readonly v: Float64Array;
}

// Wire types and the prompb fields read here (remote.proto, types.proto).
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const READ_RESPONSE_RESULTS = 1; // ReadResponse.results: QueryResult
const QUERY_RESULT_TIMESERIES = 1; // QueryResult.timeseries: TimeSeries
const TIMESERIES_LABELS = 1; // TimeSeries.labels: Label
const TIMESERIES_SAMPLES = 2; // TimeSeries.samples: Sample
const LABEL_NAME = 1;
const LABEL_VALUE = 2;
const SAMPLE_VALUE = 1; // double
const SAMPLE_TIMESTAMP = 2; // int64

/**
 * A sample takes 20 bytes of the answer as Prometheus writes it (tags and lengths, a double, a
 * 6-byte timestamp): columns sized for that rarely grow, and never by much.
 */
const BYTES_PER_SAMPLE = 20;

/** Growable sample columns of one query. */
export class Columns {
  t: Float64Array;
  v: Float64Array;
  n = 0;

  constructor(capacity: number) {
    this.t = new Float64Array(Math.max(16, capacity));
    this.v = new Float64Array(Math.max(16, capacity));
  }

  push(time: number, value: number): void {
    if (this.n === this.t.length) {
      const t = new Float64Array(this.t.length * 2);
      const v = new Float64Array(this.t.length * 2);
      t.set(this.t);
      v.set(this.v);
      this.t = t;
      this.v = v;
    }
    this.t[this.n] = time;
    this.v[this.n] = value;
    this.n += 1;
  }
}

/**
 * An int64 varint as a number: millisecond timestamps take 6 or 7 bytes and are read here exactly
 * (below 2^49); longer ones (negative, or beyond year 19800) through protobufjs' int64, which is
 * exact below 2^53 too.
 */
export const readInt64 = (r: protobuf.Reader): number => {
  const buf = r.buf;
  let pos = r.pos;
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 7; i++) {
    const b = buf[pos++];
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      r.pos = pos;
      return value;
    }
    scale *= 128;
  }
  const long = r.int64() as unknown as number | { toNumber(): number };
  return typeof long === "number" ? long : long.toNumber();
};

/** Past a nested message: its fields must have ended exactly where its length said. */
export const ended = (r: protobuf.Reader, end: number): void => {
  if (r.pos !== end) throw new Error(`a field runs past the end of its message at byte ${end}`);
};

/**
 * One Sample message ending at `end`; proto3 leaves out fields that are zero. Its two fields are
 * read from the bytes here (the double little-endian, the timestamp by readInt64): this runs once
 * per sample, millions of times a pass. Any other field goes through the Reader.
 */
const readSample = (r: protobuf.Reader, end: number, fromMs: number, toMs: number, out: Columns): void => {
  const buf = r.buf as Buffer;
  let value = 0;
  let time = 0;
  while (r.pos < end) {
    const tag = buf[r.pos];
    if (tag === ((SAMPLE_VALUE << 3) | FIXED64) && r.pos + 9 <= end) {
      value = buf.readDoubleLE(r.pos + 1);
      r.pos += 9;
    } else if (tag === ((SAMPLE_TIMESTAMP << 3) | VARINT)) {
      r.pos += 1;
      time = readInt64(r);
    } else {
      const other = r.uint32();
      if (other === ((SAMPLE_VALUE << 3) | FIXED64)) value = r.double();
      else r.skipType(other & 7);
    }
  }
  if (time > fromMs && time <= toMs && Number.isFinite(value)) out.push(time, value);
};

export const readLabel = (r: protobuf.Reader, end: number, into: string[]): void => {
  let name = "";
  let value = "";
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === ((LABEL_NAME << 3) | LENGTH_DELIMITED)) name = r.string();
    else if (tag === ((LABEL_VALUE << 3) | LENGTH_DELIMITED)) value = r.string();
    else r.skipType(tag & 7);
  }
  into.push(name, value);
};

const readSeries = (r: protobuf.Reader, end: number, fromMs: number, toMs: number, out: Columns): string[] => {
  const labels: string[] = [];
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === ((TIMESERIES_LABELS << 3) | LENGTH_DELIMITED)) {
      const length = r.uint32();
      const end = r.pos + length;
      readLabel(r, end, labels);
      ended(r, end);
    } else if (tag === ((TIMESERIES_SAMPLES << 3) | LENGTH_DELIMITED)) {
      const length = r.uint32();
      const end = r.pos + length;
      readSample(r, end, fromMs, toMs, out);
      ended(r, end);
    } else r.skipType(tag & 7);
  }
  return labels;
};

const readQueryResult = (r: protobuf.Reader, end: number, fromMs: number, toMs: number): SampleColumns => {
  const out = new Columns(Math.ceil((end - r.pos) / BYTES_PER_SAMPLE));
  const labels: string[][] = [];
  const offsets: number[] = [];
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === ((QUERY_RESULT_TIMESERIES << 3) | LENGTH_DELIMITED)) {
      const length = r.uint32();
      const end = r.pos + length;
      offsets.push(out.n);
      labels.push(readSeries(r, end, fromMs, toMs, out));
      ended(r, end);
    } else r.skipType(tag & 7);
  }
  offsets.push(out.n);
  return { labels, offsets: Int32Array.from(offsets), t: out.t.subarray(0, out.n), v: out.v.subarray(0, out.n) };
};

/** Decodes one answer; `windows[i]` is query i's (fromMs, toMs]. Throws on anything not a ReadResponse. */
export const decodeSampleColumns = (compressed: Uint8Array, windows: ReadonlyArray<{ fromMs: number; toMs: number }>): SampleColumns[] => {
  const r = protobuf.Reader.create(snappy.uncompressSync(Buffer.from(compressed.buffer, compressed.byteOffset, compressed.byteLength)) as Buffer);
  const results: SampleColumns[] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === ((READ_RESPONSE_RESULTS << 3) | LENGTH_DELIMITED)) {
      const length = r.uint32();
      const end = r.pos + length;
      const q = results.length;
      if (q >= windows.length) throw new Error(`more results than the ${windows.length} queries`);
      results.push(readQueryResult(r, end, windows[q].fromMs, windows[q].toMs));
      ended(r, end);
    } else r.skipType(tag & 7);
  }
  if (results.length !== windows.length) throw new Error(`${results.length} results for ${windows.length} queries`);
  return results;
};
