/**
 * Session 5's remote-read decode (decode.ts before samples were read field by field): protobufjs'
 * generated `ReadResponse.decode`, then the columns. Kept verbatim as the reference of the equality
 * property in remote-read-decode.test.ts; deliberately not shared with src.
 */
import snappy from "snappy";
import { ReadResponse, type DecodedSeries } from "../../src/collector/remote-read/prompb";

interface SampleColumns {
  /** Per series, its labels as name, value, name, value, ... in the order received (sorted). */
  readonly labels: string[][];
  /** Series i's samples are t[offsets[i]] .. t[offsets[i + 1] - 1]. */
  readonly offsets: Int32Array;
  readonly t: Float64Array;
  readonly v: Float64Array;
}

const ms = (t: number | { toNumber(): number }): number => (typeof t === "number" ? t : t.toNumber());

/** Decodes one answer; `windows[i]` is query i's (fromMs, toMs]. Throws on anything not a ReadResponse. */
export const decodeSampleColumns = (compressed: Uint8Array, windows: ReadonlyArray<{ fromMs: number; toMs: number }>): SampleColumns[] => {
  const decoded = ReadResponse.decode(snappy.uncompressSync(Buffer.from(compressed.buffer, compressed.byteOffset, compressed.byteLength)) as Buffer) as unknown as {
    results?: Array<{ timeseries?: DecodedSeries[] }>;
  };
  const results = decoded.results ?? [];
  if (results.length !== windows.length) throw new Error(`${results.length} results for ${windows.length} queries`);
  return results.map((r, q) => {
    const { fromMs, toMs } = windows[q];
    const series = r.timeseries ?? [];
    let total = 0;
    for (const s of series) total += s.samples.length;
    const t = new Float64Array(total);
    const v = new Float64Array(total);
    const offsets = new Int32Array(series.length + 1);
    const labels: string[][] = [];
    let n = 0;
    series.forEach((s, i) => {
      offsets[i] = n;
      labels.push(s.labels.flatMap((l) => [l.name, l.value]));
      for (const x of s.samples) {
        const time = ms(x.timestamp);
        if (time > fromMs && time <= toMs && Number.isFinite(x.value)) {
          t[n] = time;
          v[n] = x.value;
          n += 1;
        }
      }
    });
    offsets[series.length] = n;
    return { labels, offsets, t: t.subarray(0, n), v: v.subarray(0, n) };
  });
};
