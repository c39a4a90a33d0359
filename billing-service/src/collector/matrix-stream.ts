/**
 * Incremental parser for a Prometheus matrix response.
 *
 * A query over every series of a counter returns one large JSON document (about 12 MB for 2,000
 * series over 75 minutes at 15 s); parsing it whole holds the text and the full object tree in
 * memory at once. This splitter cuts each element of `data.result` out of the bytes as they arrive
 * and parses only that element, so memory stays at about one series and parsing overlaps the
 * download.
 *
 * It relies on the shape of a matrix element, `{"metric":{...},"values":[[t,"v"],...]}`: the
 * literal `"values":[` cannot occur inside a JSON string (its quotes would be escaped), and the
 * values array holds only numbers and numeric strings, so the first `]]}` after it ends the
 * element. Finding both with `indexOf` (native) instead of scanning every character in JavaScript
 * is what keeps the collector near Prometheus' own serving time.
 *
 * It works on the response's bytes, not on decoded text: only the labels of an element are decoded
 * (UTF-8, by JSON.parse), the samples are read from the bytes directly. Decoding every response to
 * a string first and reading it back char by char cost about twice as much (docs/reliability.md).
 */

import { sampleColumns, type SeriesSamples } from "./counter-usage";

/**
 * One element of a result: a matrix series with its raw samples (milliseconds, numbers; values
 * Prometheus writes as "NaN" or "+Inf" come out as NaN), or an instant-vector element.
 */
export interface MatrixSeries {
  readonly metric: Record<string, string>;
  /** Columns the parser owns no more once handed out (the caller may keep or overwrite them). */
  readonly samples?: SeriesSamples;
  /** Instant-vector elements carry one `value` instead. */
  readonly value?: readonly [number, string];
}

/** Prometheus writes infinities as "+Inf" and "-Inf", which Number() does not read. */
const numberOf = (s: string): number => (s === "+Inf" ? Infinity : s === "-Inf" ? -Infinity : Number(s));

const excerpt = (b: Buffer, from: number, to: number): string => b.toString("utf8", from, Math.min(to, from + 40));

/**
 * The fewest bytes the loop below takes per sample (`[,""],`, which it reads as 0 and 0): values
 * between n bytes hold at most n / 6 + 1 samples, so that much room is reserved before reading.
 */
const MIN_SAMPLE_BYTES = 6;
const BLOCK_SAMPLES = 1 << 16;

/**
 * Where parsed samples go: large blocks of two Float64Arrays, handed out as one subarray pair per
 * series, so a series costs two views instead of an object per sample (and its garbage).
 */
class ColumnBlocks {
  private t = new Float64Array(0);
  private v = new Float64Array(0);
  private used = 0;

  /** Room for at least `n` samples from `this.start` on. */
  reserve(n: number): void {
    if (this.used + n <= this.t.length) return;
    const size = Math.max(BLOCK_SAMPLES, n);
    this.t = new Float64Array(size);
    this.v = new Float64Array(size);
    this.used = 0;
  }

  get start(): number {
    return this.used;
  }

  get times(): Float64Array {
    return this.t;
  }

  get values(): Float64Array {
    return this.v;
  }

  /** Hands out samples [start, end) as a series' columns. */
  take(end: number): SeriesSamples {
    const out = { t: this.t.subarray(this.used, end), v: this.v.subarray(this.used, end) };
    this.used = end;
    return out;
  }
}

/**
 * Reads `[t,"v"],[t,"v"],...` between byte offsets `from` and `to` into `blocks`: plain digits are
 * accumulated from the bytes, with no substring or JSON array built. Anything else (a negative or
 * long number, "NaN", "+Inf", an exponent) goes through Number() on its text, so every value is
 * exactly the double JSON.parse and Number() would give.
 */
const parseValues = (b: Buffer, from: number, to: number, blocks: ColumnBlocks): SeriesSamples => {
  blocks.reserve(Math.floor((to - from) / MIN_SAMPLE_BYTES) + 1);
  const ts = blocks.times;
  const vs = blocks.values;
  let n = blocks.start;
  const limit = ts.length;
  let pos = from;
  while (pos < to) {
    // Cannot happen (reserve above); a typed array would drop the write silently, so check.
    if (n >= limit) throw new Error("more samples than their bytes can hold in Prometheus result");
    if (b[pos] !== 0x5b /* [ */) throw new Error(`unexpected sample "${excerpt(b, pos, to)}" in Prometheus result`);
    // Timestamp: seconds with an optional fraction, as milliseconds.
    let i = pos + 1;
    let c: number;
    let ms = 0;
    let digits = 0;
    if (b[i + 10] === 0x2e && b[i + 14] === 0x2c) {
      // The usual shape, ten digits, a point, three digits (2001-09-09 to 2286-11-20): read
      // straight, no loop. A byte that is not a digit gives a value outside 0..9 and the general
      // loop below reads the timestamp instead.
      const d0 = b[i] - 48, d1 = b[i + 1] - 48, d2 = b[i + 2] - 48, d3 = b[i + 3] - 48, d4 = b[i + 4] - 48;
      const d5 = b[i + 5] - 48, d6 = b[i + 6] - 48, d7 = b[i + 7] - 48, d8 = b[i + 8] - 48, d9 = b[i + 9] - 48;
      const f0 = b[i + 11] - 48, f1 = b[i + 12] - 48, f2 = b[i + 13] - 48;
      if (((d0 | d1 | d2 | d3 | d4 | d5 | d6 | d7 | d8 | d9 | f0 | f1 | f2 | (d0 + 6) | (d1 + 6) | (d2 + 6) | (d3 + 6) | (d4 + 6) | (d5 + 6) | (d6 + 6) | (d7 + 6) | (d8 + 6) | (d9 + 6) | (f0 + 6) | (f1 + 6) | (f2 + 6)) & ~15) === 0) {
        const hi = ((((d0 * 10 + d1) * 10 + d2) * 10 + d3) * 10 + d4) * 100000;
        ms = (hi + (((d5 * 10 + d6) * 10 + d7) * 10 + d8) * 10 + d9) * 1000 + f0 * 100 + f1 * 10 + f2;
        digits = 10;
        i += 14;
      }
    }
    c = b[i];
    if (digits === 0) {
      while (c >= 0x30 && c <= 0x39) {
        ms = ms * 10 + (c - 0x30);
        digits += 1;
        c = b[++i];
      }
      ms *= 1000;
      if (c === 0x2e /* . */) {
        let scale = 100;
        c = b[++i];
        while (c >= 0x30 && c <= 0x39) {
          ms += (c - 0x30) * scale;
          scale /= 10;
          c = b[++i];
        }
      }
    }
    if (c !== 0x2c /* , */ || digits === 0 || digits > 12) {
      const comma = b.indexOf(0x2c, pos);
      if (comma < 0 || comma >= to) throw new Error(`unexpected sample "${excerpt(b, pos, to)}" in Prometheus result`);
      ms = Number(b.toString("latin1", pos + 1, comma)) * 1000;
      i = comma;
    }
    // Value: a quoted decimal.
    if (b[i + 1] !== 0x22 /* " */) throw new Error(`unexpected sample "${excerpt(b, pos, to)}" in Prometheus result`);
    const valueStart = i + 2;
    let v = 0;
    let plain = true;
    let valueDigits = 0;
    i = valueStart;
    c = b[i];
    while (c !== 0x22) {
      if (c >= 0x30 && c <= 0x39) {
        v = v * 10 + (c - 0x30);
        valueDigits += 1;
      } else plain = false;
      if (i >= to) throw new Error(`unterminated sample value in Prometheus result`);
      c = b[++i];
    }
    // Beyond 15 digits the running sum may round differently from Number(): let Number() decide.
    if (!plain || valueDigits === 0 || valueDigits > 15) v = numberOf(b.toString("latin1", valueStart, i));
    ts[n] = Math.round(ms);
    vs[n] = v;
    n += 1;
    pos = i + 3; // past `"],` (or `"]` then the end)
  }
  return blocks.take(n);
};

const RESULT_START = /"result"\s*:\s*\[/;
const METRIC_PREFIX = Buffer.from('{"metric":');
const VALUES = Buffer.from('"values":[');
const VALUES_END = Buffer.from("]]}");
const VALUE = Buffer.from('"value":[');
const VALUE_END = Buffer.from("]}");

const isSeparator = (c: number): boolean => c === 0x2c || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

export class MatrixStreamParser {
  /** Bytes received and not parsed yet: `pending[start, end)`, grown by doubling. */
  private pending = Buffer.allocUnsafe(1 << 16);
  private start = 0;
  private end = 0;
  private inResult = false;
  private done = false;
  private head = "";
  private readonly tail: Buffer[] = [];
  private readonly blocks = new ColumnBlocks();

  constructor(private readonly onSeries: (series: MatrixSeries) => void) {}

  /** The next piece of the body, as the socket gives it (a string is taken as UTF-8). */
  push(chunk: Buffer | string): void {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    if (this.done) {
      this.tail.push(bytes);
      return;
    }
    this.append(bytes);
    if (!this.inResult) {
      // Before the result array: a few dozen bytes of ASCII (status, resultType).
      const m = RESULT_START.exec(this.pending.toString("latin1", this.start, this.end));
      if (!m) return;
      this.head = this.pending.toString("utf8", this.start, this.start + m.index);
      this.inResult = true;
      this.start += m.index + m[0].length;
    }
    this.scan();
  }

  /** Text around the result array (status, resultType, warnings), for checks and error messages. */
  get prefix(): string {
    return this.tail.length === 0 ? this.head : this.head + Buffer.concat(this.tail).toString("utf8");
  }

  get sawResult(): boolean {
    return this.inResult;
  }

  private append(bytes: Buffer): void {
    const length = this.end - this.start;
    if (this.end + bytes.length > this.pending.length) {
      const target = length + bytes.length <= this.pending.length ? this.pending : Buffer.allocUnsafe(Math.max(2 * this.pending.length, length + bytes.length));
      this.pending.copy(target, 0, this.start, this.end);
      this.pending = target;
      this.start = 0;
      this.end = length;
    }
    bytes.copy(this.pending, this.end);
    this.end += bytes.length;
  }

  private scan(): void {
    // A view ending at the bytes received, so that searches never look past them.
    const b = this.pending.subarray(0, this.end);
    let pos = this.start;
    for (;;) {
      // Skip separators between elements.
      while (pos < b.length && isSeparator(b[pos])) pos++;
      if (pos >= b.length) break;
      if (b[pos] === 0x5d /* ] */) {
        this.done = true;
        this.tail.push(Buffer.from(b.subarray(pos)));
        this.start = this.end = 0;
        return;
      }
      if (b[pos] !== 0x7b /* { */) throw new Error(`unexpected "${excerpt(b, pos, b.length)}" in Prometheus result`);
      // A matrix element ends with `]]}`, an instant-vector element with `]}` after "value".
      let end = -1;
      const values = b.indexOf(VALUES, pos);
      if (values >= 0) {
        const close = b.indexOf(VALUES_END, values + VALUES.length);
        if (close < 0) break; // the element is not complete yet
        if (b.compare(METRIC_PREFIX, 0, METRIC_PREFIX.length, pos, pos + METRIC_PREFIX.length) === 0 && b[values - 1] === 0x2c /* , */) {
          const metric = JSON.parse(b.toString("utf8", pos + METRIC_PREFIX.length, values - 1)) as Record<string, string>;
          this.onSeries({ metric, samples: parseValues(b, values + VALUES.length, close + 1, this.blocks) });
          pos = close + VALUES_END.length;
          continue;
        }
        end = close + VALUES_END.length;
      } else {
        const value = b.indexOf(VALUE, pos);
        if (value >= 0) {
          const close = b.indexOf(VALUE_END, value + VALUE.length);
          if (close >= 0) end = close + VALUE_END.length;
        }
      }
      if (end < 0) break; // the element is not complete yet
      const element = JSON.parse(b.toString("utf8", pos, end)) as { metric: Record<string, string>; values?: [number, string][]; value?: [number, string] };
      this.onSeries(
        element.values
          ? { metric: element.metric, samples: sampleColumns(element.values.map(([t, v]) => ({ t: Math.round(t * 1000), v: Number(v) }))) }
          : { metric: element.metric, value: element.value },
      );
      pos = end;
    }
    this.start = pos;
  }
}
