/**
 * Raw counter samples through Prometheus' remote read API (`POST /api/v1/read`, snappy-compressed
 * protobuf, response type SAMPLES): every stored sample of the selected series with its own
 * timestamp, without PromQL evaluation and without JSON. The same samples as the range-selector
 * query of prometheus-client.ts, so the counter maths (counter-usage.ts) and everything after it
 * are shared; the equality is tested on both paths against a real Prometheus.
 *
 * The anchor look-ups (`last_over_time`, a few per pass) stay on the query API: one value per
 * series is what PromQL answers best, and the deep lookback would be millions of samples here.
 *
 * Remote read adds the source's external labels to every series that lacks them; the query API
 * does not. Left in, they would change a series' identity, and the anchor look-ups (query API,
 * exact selectors) would then find no earlier value and bill a returning series from zero. So the
 * external labels are read once from /api/v1/status/config and taken off again (a label a series
 * carries itself with the same value is indistinguishable and goes too; Prometheus keeps the
 * series' own value when the two differ). STREAMED_XOR_CHUNKS is not asked for: decoding Gorilla
 * XOR chunks would need a library, and no npm package keeps one well; SAMPLES is what every
 * Prometheus answers.
 */
import snappy from "snappy";
import { parse as parseYaml } from "yaml";
import { PrometheusClient, PrometheusQueryError, type RawSeries } from "../prometheus-client";
import type { RawSamplesOptions, SampleSource } from "../collector-types";
import { selectorMatchers } from "./matchers";
import type { SampleColumns } from "./decode";
import { RemoteReadDecoder } from "./decoder";
import { ReadRequest, RESPONSE_TYPE_SAMPLES, RESPONSE_TYPE_STREAMED_XOR_CHUNKS, type LabelMatcher } from "./prompb";

const READ_PATH = "api/v1/read";

/**
 * What a remote read answered: the snappy-compressed ReadResponse (SAMPLES), or the frames of
 * ChunkedReadResponse messages (`streamed`, STREAMED_XOR_CHUNKS), or why it is not a remote-read answer.
 */
type ReadAnswer = { ok: true; body: Buffer; streamed: boolean } | { ok: false; status: number; reason: string };

/**
 * The response types the collector accepts, in its order of preference: Prometheus (2.13 and
 * later) answers the first it supports. Chunks cost Prometheus and the collector far less than
 * SAMPLES (chunks.ts); a source that only knows SAMPLES answers that.
 */
export const COLLECTOR_RESPONSE_TYPES: readonly number[] = [RESPONSE_TYPE_STREAMED_XOR_CHUNKS, RESPONSE_TYPE_SAMPLES];
export const SAMPLES_ONLY: readonly number[] = [RESPONSE_TYPE_SAMPLES];

const STREAMED_CONTENT_TYPE = "application/x-streamed-protobuf";

type ReadQuery = { startMs: number; endMs: number; matchers: readonly LabelMatcher[] };

export const REMOTE_READ_HEADERS = {
  "Content-Type": "application/x-protobuf",
  "Content-Encoding": "snappy",
  "X-Prometheus-Remote-Read-Version": "0.1.0",
} as const;

/** The snappy-compressed ReadRequest accepting `responseTypes`; `queries` are matchers over an inclusive time range. */
export const readRequestBody = (queries: readonly ReadQuery[], responseTypes: readonly number[] = COLLECTOR_RESPONSE_TYPES): Buffer =>
  snappy.compressSync(
    Buffer.from(
      ReadRequest.encode(
        ReadRequest.create({
          queries: queries.map((q) => ({ startTimestampMs: q.startMs, endTimestampMs: q.endMs, matchers: q.matchers })),
          acceptedResponseTypes: [...responseTypes],
        }),
      ).finish(),
    ),
  );

/** The remote read of the samples in (fromMs, toMs] of `selector` (inclusive on the wire). */
export const rawSamplesQuery = (selector: string, fromMs: number, toMs: number): ReadQuery => ({ startMs: fromMs + 1, endMs: toMs, matchers: selectorMatchers(selector) });

/** One remote read accepting `responseTypes`; the answer undecoded, with the type it came in. */
export const remoteRead = async (client: PrometheusClient, queries: readonly ReadQuery[], responseTypes: readonly number[] = COLLECTOR_RESPONSE_TYPES): Promise<ReadAnswer> => {
  const res = await client.post(READ_PATH, readRequestBody(queries, responseTypes), REMOTE_READ_HEADERS);
  if (res.status !== 200) return { ok: false, status: res.status, reason: res.body.subarray(0, 300).toString("utf8").trim() };
  const streamed = res.contentType.startsWith(STREAMED_CONTENT_TYPE);
  if (streamed && !responseTypes.includes(RESPONSE_TYPE_STREAMED_XOR_CHUNKS)) {
    return { ok: false, status: res.status, reason: `answered ${res.contentType}, a response type not asked for` };
  }
  if (!streamed && !res.contentType.startsWith("application/x-protobuf")) {
    return { ok: false, status: res.status, reason: `answered ${res.contentType || "no content type"}, not application/x-protobuf or ${STREAMED_CONTENT_TYPE}` };
  }
  return { ok: true, body: res.body, streamed };
};

/**
 * Columns of one query as the collector's RawSeries: external labels taken off, samples as the
 * query path gives them ((fromMs, toMs], finite values: decode.ts filtered them).
 */
const toRawSeries = (c: SampleColumns, fallbackName: string, external: ReadonlyMap<string, string>, onSeries: (s: RawSeries) => void): void => {
  c.labels.forEach((pairs, i) => {
    let metric = fallbackName;
    const labels: Record<string, string> = {};
    for (let k = 0; k < pairs.length; k += 2) {
      const name = pairs[k];
      const value = pairs[k + 1];
      if (name === "__name__") metric = value;
      else if (external.get(name) !== value) labels[name] = value;
    }
    // Views of the answer's columns: no copy, no object per sample.
    const samples = { t: c.t.subarray(c.offsets[i], c.offsets[i + 1]), v: c.v.subarray(c.offsets[i], c.offsets[i + 1]) };
    onSeries({ metric, labels, samples });
  });
};

/**
 * The source's external labels (`global.external_labels` of its configuration, which
 * /api/v1/status/config serves); undefined when the endpoint does not serve its configuration.
 */
export const readExternalLabels = async (client: PrometheusClient): Promise<Map<string, string> | undefined> => {
  const res = await client.getJson("api/v1/status/config");
  if (res.status !== 200) return undefined;
  const yaml = (res.body as { data?: { yaml?: unknown } } | undefined)?.data?.yaml;
  if (typeof yaml !== "string") return undefined;
  const config = parseYaml(yaml) as { global?: { external_labels?: Record<string, unknown> } } | null;
  return new Map(Object.entries(config?.global?.external_labels ?? {}).map(([k, v]) => [k, String(v)]));
};

/** SampleSource reading raw samples through remote read, anchors through the query API. */
export class RemoteReadSampleSource implements SampleSource {
  private readonly decoder = new RemoteReadDecoder();

  /**
   * `externalLabels`: the source's external labels (readExternalLabels), taken off every series.
   * `responseTypes`: what the reads accept (COLLECTOR_RESPONSE_TYPES; tests pin SAMPLES_ONLY).
   */
  constructor(
    private readonly client: PrometheusClient,
    private readonly externalLabels: ReadonlyMap<string, string>,
    private readonly responseTypes: readonly number[] = COLLECTOR_RESPONSE_TYPES,
  ) {}

  async rawSamples(selector: string, fromMs: number, toMs: number, onSeries: (s: RawSeries) => void, options: RawSamplesOptions = {}): Promise<void> {
    if (toMs <= fromMs) throw new Error(`empty range ${fromMs}..${toMs}`);
    const answer = await remoteRead(this.client, [rawSamplesQuery(selector, fromMs, toMs)], this.responseTypes);
    // The whole answer is in: Prometheus is free for the caller's next request while this one is decoded.
    options.onAnswered?.();
    if (!answer.ok) throw new PrometheusQueryError(`Prometheus /${READ_PATH} answered ${answer.status}: ${answer.reason}`);
    // Decoded in the worker thread while this one aggregates the previous answer.
    const [columns] = await this.decoder.decode(answer.body, answer.streamed, [{ fromMs, toMs }]);
    toRawSeries(columns, selector.replace(/\{.*$/, ""), this.externalLabels, onSeries);
  }

  lastValueAtOrBefore(selector: string, timeMs: number, lookbackMs: number): Promise<number | undefined> {
    return this.client.lastValueAtOrBefore(selector, timeMs, lookbackMs);
  }

  lastValuesAtOrBefore(selector: string, timeMs: number, lookbackMs: number): Promise<Array<{ labels: Record<string, string>; value: number }>> {
    return this.client.lastValuesAtOrBefore(selector, timeMs, lookbackMs);
  }

  close(): void {
    this.decoder.close();
  }
}
