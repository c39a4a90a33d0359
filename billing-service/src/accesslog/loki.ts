/**
 * Optional pull of the gateway's access logs from Loki (collector setting `lokiPull`,
 * docs/usage-sources.md "Pulling from Loki"), for installations that keep the logs only there:
 * LogQL `GET /loki/api/v1/query_range` (directly, or through MaaS's usage tenancy proxy, which
 * takes a bearer token) into the same idempotent access-log rows as `POST /v1/logs`.
 *
 * Response shape read (Loki HTTP API, "Query logs within a range of time", grafana/loki
 * docs/sources/reference/loki-http-api.md): `{"status": "success", "data": {"resultType":
 * "streams", "result": [{"stream": {<labels>}, "values": [["<ns epoch>", "<line>"], ...]}]}}`;
 * `start` inclusive, `end` exclusive, at most `limit` entries, `direction=forward` oldest first.
 * An entry may carry a third element (structured metadata, and parsed labels, with the
 * `categorize-labels` encoding flag): its keys are attributes too. Loki stores OTLP attributes with
 * dots as underscores (`service.name` -> `service_name`); the record id reads `service.name`, so
 * that one is mapped back.
 *
 * Watermark like the collector's: table access_log_pull_watermark (migration 063) holds, per
 * source, the end of the last window pulled; a pass pulls [watermark, now - lag) page by page
 * (forward; the next page starts at the newest timestamp of the last, inclusive, so an entry at
 * the page boundary is read twice and counts once) and stores the rows and the new watermark in
 * ONE transaction, under an advisory lock (one replica pulls). A page that fills `limit` with one
 * single timestamp cannot advance: the pass fails (raise `limit`), nothing is stored, the watermark
 * stays. Entries Loki receives later than `lag` behind their timestamp are not pulled again: choose
 * `lag` above the pipeline's delivery delay.
 */
import type { Pool } from "pg";
import { withTransaction } from "../db/transaction";
import type { Attributes, FlatLogRecord } from "./otlp";
import { toAccessLogRow, type AccessLogRow, type RecordContext } from "./records";
import { upsertAccessLogRows } from "./store";

export interface LokiPullSettings {
  /** Base URL of Loki's HTTP API or of the tenancy proxy in front of it. */
  readonly url: string;
  /** LogQL log query selecting the gateway's usage records. */
  readonly query: string;
  /** Source the rows are stored under. */
  readonly source: string;
  /** Entries per query_range request. */
  readonly limit: number;
  /** How far behind now a pass ends (milliseconds): Loki must have the window's entries by then. */
  readonly lag: number;
  /** Where the first pass starts when nothing was pulled yet (ISO time); default: one interval before now - lag. */
  readonly start?: string;
  readonly interval: number;
}

export interface LokiPullDeps {
  readonly pool: Pool;
  readonly settings: LokiPullSettings;
  /** Bearer token for the tenancy proxy (or Loki's own auth), read on every pass (projected tokens rotate). */
  readonly bearerToken?: () => string | undefined;
  readonly tenantOfNamespace: RecordContext["tenantOfNamespace"];
  readonly billable: boolean;
  readonly fetch?: typeof fetch;
}

export interface LokiPullResult {
  readonly status: "pulled" | "locked" | "nothing-new";
  readonly fromNs?: string;
  readonly toNs?: string;
  readonly pages: number;
  readonly entries: number;
  readonly accepted: number;
  readonly rejected: number;
}

/** A stored-state problem or an answer that is not Loki's: the pass stores nothing. */
export class LokiPullError extends Error {}

interface StreamValue {
  stream?: Record<string, string>;
  values?: Array<[string, string, Record<string, unknown>?]>;
}

const LOCK = "maas-billing-loki-pull";

class MapAttributes implements Attributes {
  constructor(private readonly map: ReadonlyMap<string, string>) {}
  get(key: string): string | undefined {
    return this.map.get(key);
  }
}

/** One Loki entry as the receiver's flat record: stream labels, then the entry's own metadata on top. */
export const lokiRecord = (labels: Record<string, string>, ts: string, extra?: Record<string, unknown>): FlatLogRecord => {
  const map = new Map<string, string>(Object.entries(labels));
  for (const group of [extra?.structuredMetadata, extra?.parsed]) {
    if (group && typeof group === "object") for (const [k, v] of Object.entries(group as Record<string, unknown>)) if (typeof v === "string") map.set(k, v);
  }
  if (!map.has("service.name") && map.has("service_name")) map.set("service.name", map.get("service_name")!);
  return { timeUnixNano: ts, observedTimeUnixNano: "0", attributes: new MapAttributes(map), traceId: map.get("trace_id") ?? "", spanId: map.get("span_id") ?? "" };
};

const queryRange = async (deps: LokiPullDeps, startNs: bigint, endNs: bigint): Promise<Array<{ labels: Record<string, string>; ts: string; extra?: Record<string, unknown> }>> => {
  const url = new URL("loki/api/v1/query_range", deps.settings.url.endsWith("/") ? deps.settings.url : `${deps.settings.url}/`);
  url.search = new URLSearchParams({ query: deps.settings.query, start: startNs.toString(), end: endNs.toString(), limit: String(deps.settings.limit), direction: "forward" }).toString();
  const token = deps.bearerToken?.();
  const res = await (deps.fetch ?? fetch)(url, { headers: { accept: "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) } });
  const text = await res.text();
  if (!res.ok) throw new LokiPullError(`Loki query_range answered ${res.status}: ${text.slice(0, 300)}`);
  let body: { status?: string; data?: { resultType?: string; result?: StreamValue[] } };
  try {
    body = JSON.parse(text);
  } catch {
    throw new LokiPullError(`Loki query_range answered something that is not JSON: ${text.slice(0, 120)}`);
  }
  if (body.status !== "success" || body.data?.resultType !== "streams" || !Array.isArray(body.data.result)) {
    throw new LokiPullError(`Loki query_range: expected status "success" and resultType "streams" (a log query, not a metric query), got ${JSON.stringify({ status: body.status, resultType: body.data?.resultType })}`);
  }
  const out: Array<{ labels: Record<string, string>; ts: string; extra?: Record<string, unknown> }> = [];
  for (const s of body.data.result) {
    for (const v of s.values ?? []) {
      if (!Array.isArray(v) || typeof v[0] !== "string" || !/^\d{1,19}$/.test(v[0])) throw new LokiPullError(`Loki query_range: an entry without a nanosecond timestamp: ${JSON.stringify(v).slice(0, 120)}`);
      out.push({ labels: s.stream ?? {}, ts: v[0], extra: v[2] });
    }
  }
  return out;
};

const msToNs = (ms: number): bigint => BigInt(ms) * 1_000_000n;

/** One pass: [watermark, now - lag), every page, rows and watermark in one transaction. */
export const pullLokiOnce = async (deps: LokiPullDeps, now: Date = new Date()): Promise<LokiPullResult> => {
  const { settings } = deps;
  // Nothing is written before the early answers below, so they may commit like any other.
  return withTransaction(deps.pool, async (client) => {
    const locked = (await client.query<{ ok: boolean }>("select pg_try_advisory_xact_lock(hashtext($1)) as ok", [LOCK])).rows[0].ok;
    if (!locked) return { status: "locked", pages: 0, entries: 0, accepted: 0, rejected: 0 };
    const stored = (await client.query<{ ns: string }>("select pulled_until_ns::text as ns from access_log_pull_watermark where source = $1", [settings.source])).rows[0]?.ns;
    const toNs = msToNs(now.getTime() - settings.lag);
    const fromNs = stored !== undefined ? BigInt(stored) : settings.start ? msToNs(Date.parse(settings.start)) : toNs - msToNs(settings.interval);
    if (toNs <= fromNs) return { status: "nothing-new", fromNs: fromNs.toString(), toNs: toNs.toString(), pages: 0, entries: 0, accepted: 0, rejected: 0 };
    const ctx: RecordContext = { source: settings.source, tenantOfNamespace: deps.tenantOfNamespace, billable: deps.billable };
    let pageStart = fromNs;
    let pages = 0;
    let entries = 0;
    let accepted = 0;
    let rejected = 0;
    for (;;) {
      const page = await queryRange(deps, pageStart, toNs);
      pages++;
      entries += page.length;
      const rows: AccessLogRow[] = [];
      for (const e of page) {
        const outcome = toAccessLogRow(lokiRecord(e.labels, e.ts, e.extra), ctx);
        if (outcome.ok) rows.push(outcome.row);
        else rejected++;
      }
      accepted += (await upsertAccessLogRows(client, rows)).accepted;
      if (page.length < settings.limit) break;
      const newest = page.reduce((m, e) => (BigInt(e.ts) > m ? BigInt(e.ts) : m), 0n);
      if (newest <= pageStart) throw new LokiPullError(`more than ${settings.limit} entries at one timestamp (${pageStart} ns): raise lokiPull.limit`);
      pageStart = newest;
    }
    await client.query(
      `insert into access_log_pull_watermark (source, pulled_until_ns, updated_at) values ($1, $2, now())
       on conflict (source) do update set pulled_until_ns = excluded.pulled_until_ns, updated_at = now()`,
      [settings.source, toNs.toString()],
    );
    return { status: "pulled", fromNs: fromNs.toString(), toNs: toNs.toString(), pages, entries, accepted, rejected };
  });
};

/** The loop inside `serve`: a pass every `interval`; a failed pass is logged and retried next time. */
export const startLokiPull = (deps: LokiPullDeps, log: { info(o: object, m: string): void; warn(o: object, m: string): void }): { stop(): Promise<void> } => {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const tick = (): void => {
    running = pullLokiOnce(deps)
      .then((r) => r.status === "pulled" && log.info({ lokiPull: r }, "loki pull: stored"))
      .catch((e) => log.warn({ err: e }, "loki pull failed: nothing stored, retried next interval"))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, deps.settings.interval).unref();
      });
  };
  timer = setTimeout(tick, 0).unref();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
};
