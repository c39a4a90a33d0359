/**
 * Incremental parser for a Prometheus matrix response.
 *
 * A query over every series of a counter returns one large JSON document (about 100 MB for 10,000
 * series over two hours at 15 s); parsing it whole holds the text and the full object tree in
 * memory at once. This splitter cuts each element of `data.result` out of the text as it arrives
 * and parses only that element, so memory stays at about one series and parsing overlaps the
 * download.
 *
 * It relies on the shape of a matrix element, `{"metric":{...},"values":[[t,"v"],...]}`: the
 * literal `"values":[` cannot occur inside a JSON string (its quotes would be escaped), and the
 * values array holds only numbers and numeric strings, so the first `]]}` after it ends the
 * element. Finding both with `indexOf` (native) instead of scanning every character in JavaScript
 * is what keeps the collector near Prometheus' own serving time.
 */

import type { Sample } from "./counter-usage";

/**
 * One element of a result: a matrix series with its raw samples (milliseconds, numbers; values
 * Prometheus writes as "NaN" or "+Inf" come out as NaN), or an instant-vector element.
 */
export interface MatrixSeries {
  readonly metric: Record<string, string>;
  readonly samples?: Sample[];
  /** Instant-vector elements carry one `value` instead. */
  readonly value?: readonly [number, string];
}

const METRIC_PREFIX = '{"metric":';

/**
 * Reads `[t,"v"],[t,"v"],...` between `from` and `to` without building JSON arrays or substrings:
 * plain digits are accumulated from their char codes (three times faster than JSON.parse on this
 * text, which dominates the collector's time on large ranges). Anything else (a negative or long
 * number, "NaN", "+Inf", an exponent) goes through Number() on its text.
 */
/** Prometheus writes infinities as "+Inf" and "-Inf", which Number() does not read. */
const numberOf = (s: string): number => (s === "+Inf" ? Infinity : s === "-Inf" ? -Infinity : Number(s));

const parseValues = (text: string, from: number, to: number): Sample[] => {
  const out: Sample[] = [];
  let pos = from;
  while (pos < to) {
    if (text.charCodeAt(pos) !== 0x5b /* [ */) throw new Error(`unexpected sample "${text.slice(pos, pos + 40)}" in Prometheus result`);
    // Timestamp: seconds with an optional fraction, as milliseconds.
    let i = pos + 1;
    let c = text.charCodeAt(i);
    let ms = 0;
    let digits = 0;
    while (c >= 0x30 && c <= 0x39) {
      ms = ms * 10 + (c - 0x30);
      digits += 1;
      c = text.charCodeAt(++i);
    }
    ms *= 1000;
    if (c === 0x2e /* . */) {
      let scale = 100;
      c = text.charCodeAt(++i);
      while (c >= 0x30 && c <= 0x39) {
        ms += (c - 0x30) * scale;
        scale /= 10;
        c = text.charCodeAt(++i);
      }
    }
    if (c !== 0x2c /* , */ || digits === 0 || digits > 12) {
      const comma = text.indexOf(",", pos);
      ms = Number(text.slice(pos + 1, comma)) * 1000;
      i = comma;
    }
    // Value: a quoted decimal.
    if (text.charCodeAt(i + 1) !== 0x22 /* " */) throw new Error(`unexpected sample "${text.slice(pos, pos + 40)}" in Prometheus result`);
    const valueStart = i + 2;
    let v = 0;
    let plain = true;
    let valueDigits = 0;
    i = valueStart;
    c = text.charCodeAt(i);
    while (c !== 0x22) {
      if (c >= 0x30 && c <= 0x39) {
        v = v * 10 + (c - 0x30);
        valueDigits += 1;
      } else plain = false;
      if (i >= to) throw new Error(`unterminated sample value in Prometheus result`);
      c = text.charCodeAt(++i);
    }
    // Beyond 15 digits the running sum may round differently from Number(): let Number() decide.
    if (!plain || valueDigits === 0 || valueDigits > 15) v = numberOf(text.slice(valueStart, i));
    out.push({ t: Math.round(ms), v });
    pos = i + 3; // past `"],` (or `"]` then the end)
  }
  return out;
};

const RESULT_START = /"result"\s*:\s*\[/;
const VALUES = '"values":[';
const VALUES_END = "]]}";
const VALUE = '"value":[';
const VALUE_END = "]}";

export class MatrixStreamParser {
  private buffer = "";
  private inResult = false;
  private done = false;
  private head = "";

  constructor(private readonly onSeries: (series: MatrixSeries) => void) {}

  push(chunk: string): void {
    if (this.done) {
      this.head += chunk;
      return;
    }
    this.buffer += chunk;
    if (!this.inResult) {
      const m = RESULT_START.exec(this.buffer);
      if (!m) return;
      this.head = this.buffer.slice(0, m.index);
      this.inResult = true;
      this.buffer = this.buffer.slice(m.index + m[0].length);
    }
    this.scan();
  }

  /** Text around the result array (status, resultType, warnings), for checks and error messages. */
  get prefix(): string {
    return this.head;
  }

  get sawResult(): boolean {
    return this.inResult;
  }

  private scan(): void {
    const b = this.buffer;
    let pos = 0;
    for (;;) {
      // Skip separators between elements.
      while (pos < b.length && (b[pos] === "," || b[pos] === " " || b[pos] === "\n" || b[pos] === "\r" || b[pos] === "\t")) pos++;
      if (pos >= b.length) break;
      if (b[pos] === "]") {
        this.done = true;
        this.head += b.slice(pos);
        this.buffer = "";
        return;
      }
      if (b[pos] !== "{") throw new Error(`unexpected "${b.slice(pos, pos + 40)}" in Prometheus result`);
      // A matrix element ends with `]]}`, an instant-vector element with `]}` after "value".
      let end = -1;
      const values = b.indexOf(VALUES, pos);
      if (values >= 0) {
        const close = b.indexOf(VALUES_END, values + VALUES.length);
        if (close < 0) break; // the element is not complete yet
        if (b.startsWith(METRIC_PREFIX, pos) && b.charCodeAt(values - 1) === 0x2c /* , */) {
          const metric = JSON.parse(b.slice(pos + METRIC_PREFIX.length, values - 1)) as Record<string, string>;
          this.onSeries({ metric, samples: parseValues(b, values + VALUES.length, close + 1) });
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
      const element = JSON.parse(b.slice(pos, end)) as { metric: Record<string, string>; values?: [number, string][]; value?: [number, string] };
      this.onSeries(
        element.values
          ? { metric: element.metric, samples: element.values.map(([t, v]) => ({ t: Math.round(t * 1000), v: Number(v) })) }
          : { metric: element.metric, value: element.value },
      );
      pos = end;
    }
    this.buffer = b.slice(pos);
  }
}
