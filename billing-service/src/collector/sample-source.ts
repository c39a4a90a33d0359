/**
 * Which API the collector reads raw samples through (collector setting `readApi`):
 * - `query` (the default): the PromQL query API with range selectors (prometheus-client.ts). Every
 *   Prometheus-compatible query endpoint answers it (Prometheus, Thanos querier, kube-rbac-proxy in front).
 * - `remote-read`: Prometheus' remote read API (remote-read/client.ts): the same samples without
 *   PromQL evaluation or JSON. Prometheus sends its stored XOR chunks (STREAMED_XOR_CHUNKS; a source
 *   without streaming answers SAMPLES): about 8x fewer bytes than the JSON, and since issue 20
 *   session 7 a fraction of Prometheus' CPU per pass and less of the collector's (docs/collector.md
 *   "Two read paths").
 * - `auto`: asks the source once whether it answers remote read and serves its
 *   configuration (for the external labels); remote read if it does, the query API if it does not
 *   (a Thanos querier serves no /api/v1/read). A source that cannot be reached decides nothing:
 *   the pass fails as it would on either path and the next pass asks again.
 */
import type { CollectorLog, RawSamplesOptions, SampleSource } from "./collector-types";
import type { PrometheusClient, RawSeries } from "./prometheus-client";
import { readExternalLabels, remoteRead, RemoteReadSampleSource, SAMPLES_ONLY } from "./remote-read/client";
import { decodeSampleColumns } from "./remote-read/decode";
import { MatchType } from "./remote-read/prompb";
import type { ReadApi } from "../contract";

export type ResolvedReadApi = Exclude<ReadApi, "auto">;

/** Remote read through `client`, or why not (a sentence for the log). */
const tryRemoteRead = async (client: PrometheusClient): Promise<{ source: RemoteReadSampleSource } | { reason: string }> => {
  // A query that matches nothing: whether the endpoint speaks remote read, not what it holds.
  const probe = await remoteRead(client, [{ startMs: 0, endMs: 1, matchers: [{ type: MatchType.EQ, name: "__name__", value: "maas_billing_remote_read_probe" }] }], SAMPLES_ONLY);
  if (!probe.ok) return { reason: `/api/v1/read answered ${probe.status}: ${probe.reason.slice(0, 200)}` };
  try {
    decodeSampleColumns(probe.body, [{ fromMs: 0, toMs: 1 }]);
  } catch (e) {
    return { reason: `/api/v1/read answered something that is not a snappy-compressed ReadResponse: ${(e as Error).message}` };
  }
  const external = await readExternalLabels(client);
  if (!external) return { reason: "/api/v1/status/config does not serve the configuration, so the external labels remote read adds are unknown" };
  return { source: new RemoteReadSampleSource(client, external) };
};

/**
 * A SampleSource for `readApi`; `resolved()` says which path `auto` took (undefined before the
 * first read); `close()` ends the remote-read decode worker (the client is the caller's).
 */
export const createSampleSource = (
  client: PrometheusClient,
  readApi: ReadApi,
  log?: CollectorLog,
): SampleSource & { resolved(): ResolvedReadApi | undefined; close(): void } => {
  let remote: RemoteReadSampleSource | undefined;
  let chosen: SampleSource | undefined = readApi === "query" ? client : undefined;
  let resolved: ResolvedReadApi | undefined = readApi === "query" ? "query" : undefined;
  const choose = async (): Promise<SampleSource> => {
    if (chosen) return chosen;
    const r = await tryRemoteRead(client);
    if ("source" in r) {
      chosen = remote = r.source;
      resolved = "remote-read";
      log?.info({ readApi, resolved }, "collector: reading raw samples through remote read");
    } else if (readApi === "remote-read") {
      throw new Error(`collector.readApi is remote-read but ${r.reason}; set readApi to query or auto`);
    } else {
      chosen = client;
      resolved = "query";
      log?.info({ readApi, resolved, reason: r.reason }, "collector: reading raw samples through the query API");
    }
    return chosen;
  };
  return {
    resolved: () => resolved,
    close: () => remote?.close(),
    async rawSamples(selector: string, fromMs: number, toMs: number, onSeries: (s: RawSeries) => void, options?: RawSamplesOptions) {
      return (await choose()).rawSamples(selector, fromMs, toMs, onSeries, options);
    },
    lastValueAtOrBefore: (selector, timeMs, lookbackMs) => client.lastValueAtOrBefore(selector, timeMs, lookbackMs),
    lastValuesAtOrBefore: (selector, timeMs, lookbackMs) => client.lastValuesAtOrBefore(selector, timeMs, lookbackMs),
  };
};
