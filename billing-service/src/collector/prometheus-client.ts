/**
 * Minimal Prometheus HTTP API client for raw counter samples.
 *
 * Raw samples come from a range-vector selector (`metric[range]`) evaluated as an instant query at
 * the end of the range: Prometheus returns every stored sample with its own scrape timestamp.
 * `query_range` would instead re-sample on a step grid, carry the last value forward across gaps
 * of up to five minutes (hiding them) and skip extra samples between grid points, so it cannot
 * show gaps or duplicates. One query covers all series of a counter (batched), and the response is
 * parsed series by series as it streams in.
 *
 * In a cluster the endpoint sits behind kube-rbac-proxy or a Thanos querier: a bearer token and a
 * CA bundle are taken from options (the CLI reads them from flags, env or files).
 */
import http from "node:http";
import https from "node:https";
import { MatrixStreamParser, type MatrixSeries } from "./matrix-stream";
import type { SeriesSamples } from "./counter-usage";
import type { RawSamplesOptions } from "./collector-types";

export interface PrometheusClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:9090` or `https://thanos-querier.openshift-monitoring.svc:9091`. */
  readonly url: string;
  /** Bearer token sent as `Authorization: Bearer <token>`; never logged. */
  readonly bearerToken?: string;
  /** PEM CA bundle for https endpoints with a private CA (e.g. the OpenShift service CA). */
  readonly caPem?: string;
  /** Per-request timeout in milliseconds. Defaults to 120000. */
  readonly timeoutMs?: number;
}

/** One series with labels (without `__name__`) and samples in milliseconds, sorted by time. */
export interface RawSeries {
  readonly metric: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly samples: SeriesSamples;
}

/** One element of an instant vector result. */
export interface InstantSample {
  readonly metric: Record<string, string>;
  readonly value: readonly [number, string];
}

export class PrometheusQueryError extends Error {}

const NO_SAMPLES: SeriesSamples = { t: new Float64Array(0), v: new Float64Array(0) };

/**
 * The samples in (fromMs, toMs] with a finite value (stale markers and "NaN" are not counter
 * values), moved to the front of the columns in place (the parser hands them over).
 */
export const keepInRange = (s: SeriesSamples, fromMs: number, toMs: number): SeriesSamples => {
  const { t, v } = s;
  let kept = 0;
  for (let i = 0; i < t.length; i++) {
    if (t[i] > fromMs && t[i] <= toMs && Number.isFinite(v[i])) {
      if (kept !== i) {
        t[kept] = t[i];
        v[kept] = v[i];
      }
      kept += 1;
    }
  }
  return kept === t.length ? s : { t: t.subarray(0, kept), v: v.subarray(0, kept) };
};

export class PrometheusClient {
  private readonly base: URL;
  private readonly agent: http.Agent;

  constructor(private readonly options: PrometheusClientOptions) {
    this.base = new URL(options.url.endsWith("/") ? options.url : `${options.url}/`);
    this.agent =
      this.base.protocol === "https:"
        ? new https.Agent({ keepAlive: true, ca: options.caPem })
        : new http.Agent({ keepAlive: true });
  }

  /**
   * Every raw sample of every series selected by `selector` in (fromMs, toMs]. `selector` is a
   * metric name with optional matchers, e.g. `authorized_hits{limitador_namespace=~"acme/.*"}`.
   * Calls `onSeries` once per series as the response streams in, and `options.onAnswered` when the
   * answer's headers arrive (Prometheus encodes the whole answer before it sends them).
   */
  async rawSamples(
    selector: string,
    fromMs: number,
    toMs: number,
    onSeries: (series: RawSeries) => void,
    options: RawSamplesOptions = {},
  ): Promise<void> {
    const rangeMs = toMs - fromMs;
    if (rangeMs <= 0) throw new Error(`empty range ${fromMs}..${toMs}`);
    const query = `${selector}[${rangeMs}ms]`;
    // Thanos answers a query with a store down by a partial result plus a warning unless told
    // otherwise; a partial result would be billed as if it were complete.
    const params = new URLSearchParams({ query, time: (toMs / 1000).toFixed(3), partial_response: "false" });
    await this.get(`api/v1/query?${params.toString()}`, (s) => {
      const { __name__: name, ...labels } = s.metric;
      // A range selector includes its left edge in Prometheus 2.x; the range here is half-open.
      onSeries({ metric: name ?? selector, labels, samples: s.samples ? keepInRange(s.samples, fromMs, toMs) : NO_SAMPLES });
    }, options.onAnswered);
  }

  /**
   * The last value of one series at or before `timeMs`, looking back `lookbackMs`; undefined when
   * the series has no sample in that range.
   */
  async lastValueAtOrBefore(selector: string, timeMs: number, lookbackMs: number): Promise<number | undefined> {
    const result = await this.instant(`last_over_time(${selector}[${lookbackMs}ms])`, timeMs);
    if (result.length > 1) throw new PrometheusQueryError(`${selector} matched ${result.length} series; expected one`);
    return result.length === 0 ? undefined : Number(result[0].value[1]);
  }

  /** The last value of every series matching `selector` at or before `timeMs`, within `lookbackMs`. */
  async lastValuesAtOrBefore(selector: string, timeMs: number, lookbackMs: number): Promise<Array<{ labels: Record<string, string>; value: number }>> {
    const result = await this.instant(`last_over_time(${selector}[${lookbackMs}ms])`, timeMs);
    // last_over_time drops the metric name, so the labels are exactly those of the raw series.
    return result.map((r) => {
      const { __name__: _name, ...labels } = r.metric;
      return { labels, value: Number(r.value[1]) };
    });
  }

  /** Runs an instant query returning a vector (for checks and comparisons, not for billing). */
  async instant(query: string, timeMs: number): Promise<InstantSample[]> {
    const params = new URLSearchParams({ query, time: (timeMs / 1000).toFixed(3) });
    const out: InstantSample[] = [];
    await this.get(`api/v1/query?${params.toString()}`, (s) => out.push(s as unknown as InstantSample));
    return out;
  }

  /** GETs a small JSON document (status endpoints); the body is undefined when it is not JSON. */
  async getJson(pathName: string): Promise<{ status: number; body: unknown }> {
    const res = await this.send("GET", pathName, { Accept: "application/json" });
    try {
      return { status: res.status, body: JSON.parse(res.body.toString("utf8")) as unknown };
    } catch {
      return { status: res.status, body: undefined };
    }
  }

  /**
   * POSTs `body` to `pathName` (relative to the base URL) and returns the whole answer. For the
   * remote read API (remote-read/client.ts), whose answers are one binary message.
   */
  post(pathName: string, body: Buffer, headers: Record<string, string>): Promise<{ status: number; contentType: string; body: Buffer }> {
    return this.send("POST", pathName, { ...headers, "Content-Length": String(body.length) }, body);
  }

  /** One request with the client's agent, token and CA; the answer read whole. */
  private send(method: "GET" | "POST", pathName: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; contentType: string; body: Buffer }> {
    const url = new URL(pathName, this.base);
    const transport = url.protocol === "https:" ? https : http;
    const all: Record<string, string> = { ...headers };
    if (this.options.bearerToken) all.Authorization = `Bearer ${this.options.bearerToken}`;
    return new Promise((resolve, reject) => {
      const req = transport.request(url, { method, agent: this.agent, headers: all, timeout: this.options.timeoutMs ?? 120_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), body: Buffer.concat(chunks) }));
      });
      req.on("timeout", () => req.destroy(new PrometheusQueryError(`Prometheus ${url.pathname}: timed out`)));
      req.on("error", (e) => reject(e instanceof PrometheusQueryError ? e : new PrometheusQueryError(`Prometheus ${url.origin}: ${e.message}`)));
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }

  private get(pathAndQuery: string, onSeries: (series: MatrixSeries) => void, onAnswered?: () => void): Promise<void> {
    const url = new URL(pathAndQuery, this.base);
    const transport = url.protocol === "https:" ? https : http;
    const headers: Record<string, string> = { Accept: "application/json" };
    if (this.options.bearerToken) headers.Authorization = `Bearer ${this.options.bearerToken}`;
    return new Promise<void>((resolve, reject) => {
      const req = transport.get(url, { agent: this.agent, headers, timeout: this.options.timeoutMs ?? 120_000 }, (res) => {
        onAnswered?.();
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          res.setEncoding("utf8");
          let body = "";
          res.on("data", (c: string) => {
            if (body.length < 2000) body += c;
          });
          res.on("end", () => reject(new PrometheusQueryError(`Prometheus ${url.pathname} answered ${status}: ${errorText(body)}`)));
          return;
        }
        // Bytes, not text: the parser decodes only the labels (matrix-stream.ts).
        const parser = new MatrixStreamParser(onSeries);
        res.on("data", (c: Buffer) => {
          try {
            parser.push(c);
          } catch (e) {
            res.destroy(e as Error);
          }
        });
        res.on("error", reject);
        res.on("end", () => {
          if (!parser.sawResult || !parser.prefix.includes('"success"')) {
            reject(new PrometheusQueryError(`Prometheus ${url.pathname}: unexpected response ${parser.prefix.slice(0, 300)}`));
          } else if (/"warnings"\s*:\s*\[\s*"/.test(parser.prefix)) {
            // Warnings mean the answer may be incomplete (a Thanos store or federation member missing).
            reject(new PrometheusQueryError(`Prometheus ${url.pathname}: answer came with warnings, not using it: ${parser.prefix.slice(-300)}`));
          } else resolve();
        });
      });
      req.on("timeout", () => req.destroy(new PrometheusQueryError(`Prometheus ${url.pathname}: timed out`)));
      req.on("error", (e) => reject(e instanceof PrometheusQueryError ? e : new PrometheusQueryError(`Prometheus ${url.origin}: ${e.message}`)));
    });
  }
}

const errorText = (body: string): string => {
  try {
    const parsed = JSON.parse(body) as { error?: string };
    return parsed.error ?? body.slice(0, 300);
  } catch {
    return body.slice(0, 300);
  }
};
