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
import type { SampleSource } from "../collector-types";
import type { Sample } from "../counter-usage";
import { selectorMatchers } from "./matchers";
import { ReadRequest, ReadResponse, RESPONSE_TYPE_SAMPLES, type DecodedSeries, type LabelMatcher } from "./prompb";

const READ_PATH = "api/v1/read";

/** What a remote read answered: the series of each query, or why it is not a remote-read answer. */
type ReadAnswer = { ok: true; results: DecodedSeries[][] } | { ok: false; status: number; reason: string };

/** One remote read with SAMPLES; `queries` are matchers over an inclusive time range. */
export const remoteRead = async (
  client: PrometheusClient,
  queries: ReadonlyArray<{ startMs: number; endMs: number; matchers: readonly LabelMatcher[] }>,
): Promise<ReadAnswer> => {
  const request = ReadRequest.encode(
    ReadRequest.create({
      queries: queries.map((q) => ({ startTimestampMs: q.startMs, endTimestampMs: q.endMs, matchers: q.matchers })),
      acceptedResponseTypes: [RESPONSE_TYPE_SAMPLES],
    }),
  ).finish();
  const res = await client.post(READ_PATH, snappy.compressSync(Buffer.from(request)), {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Read-Version": "0.1.0",
  });
  if (res.status !== 200) return { ok: false, status: res.status, reason: res.body.subarray(0, 300).toString("utf8").trim() };
  if (!res.contentType.startsWith("application/x-protobuf")) {
    return { ok: false, status: res.status, reason: `answered ${res.contentType || "no content type"}, not application/x-protobuf` };
  }
  let decoded: { results?: Array<{ timeseries?: DecodedSeries[] }> };
  try {
    decoded = ReadResponse.decode(snappy.uncompressSync(res.body) as Buffer) as unknown as typeof decoded;
  } catch (e) {
    return { ok: false, status: res.status, reason: `not a snappy-compressed ReadResponse: ${(e as Error).message}` };
  }
  const results = (decoded.results ?? []).map((r) => r.timeseries ?? []);
  if (results.length !== queries.length) return { ok: false, status: res.status, reason: `${results.length} results for ${queries.length} queries` };
  return { ok: true, results };
};

const ms = (t: number | { toNumber(): number }): number => (typeof t === "number" ? t : t.toNumber());

/**
 * A decoded series as the collector's RawSeries: external labels taken off, samples in
 * (fromMs, toMs] with finite values (stale markers are NaN), as the query path gives them.
 */
const toRawSeries = (s: DecodedSeries, fromMs: number, toMs: number, fallbackName: string, external: ReadonlyMap<string, string>): RawSeries => {
  let metric = fallbackName;
  const labels: Record<string, string> = {};
  for (const l of s.labels) {
    if (l.name === "__name__") metric = l.value;
    else if (external.get(l.name) !== l.value) labels[l.name] = l.value;
  }
  const samples: Sample[] = [];
  for (const x of s.samples) {
    const t = ms(x.timestamp);
    if (t > fromMs && t <= toMs && Number.isFinite(x.value)) samples.push({ t, v: x.value });
  }
  return { metric, labels, samples };
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
  /** `externalLabels`: the source's external labels (readExternalLabels), taken off every series. */
  constructor(
    private readonly client: PrometheusClient,
    private readonly externalLabels: ReadonlyMap<string, string>,
  ) {}

  async rawSamples(selector: string, fromMs: number, toMs: number, onSeries: (s: RawSeries) => void): Promise<void> {
    if (toMs <= fromMs) throw new Error(`empty range ${fromMs}..${toMs}`);
    // Inclusive on the wire; (fromMs, toMs] after the filter, as on the query path.
    const answer = await remoteRead(this.client, [{ startMs: fromMs + 1, endMs: toMs, matchers: selectorMatchers(selector) }]);
    if (!answer.ok) throw new PrometheusQueryError(`Prometheus /${READ_PATH} answered ${answer.status}: ${answer.reason}`);
    const name = selector.replace(/\{.*$/, "");
    for (const s of answer.results[0]) onSeries(toRawSeries(s, fromMs, toMs, name, this.externalLabels));
  }

  lastValueAtOrBefore(selector: string, timeMs: number, lookbackMs: number): Promise<number | undefined> {
    return this.client.lastValueAtOrBefore(selector, timeMs, lookbackMs);
  }

  lastValuesAtOrBefore(selector: string, timeMs: number, lookbackMs: number): Promise<Array<{ labels: Record<string, string>; value: number }>> {
    return this.client.lastValuesAtOrBefore(selector, timeMs, lookbackMs);
  }
}
