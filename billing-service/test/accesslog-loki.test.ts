/**
 * Pulling access logs from Loki (collector setting lokiPull, src/accesslog/loki.ts) into the same
 * idempotent rows as POST /v1/logs, against real PostgreSQL. Loki itself is AGPL and is neither
 * built nor run here: a small HTTP server in this test answers `GET /loki/api/v1/query_range` in
 * the documented shape (grafana/loki docs/sources/reference/loki-http-api.md, "Query logs within a
 * range of time": status/data.resultType "streams"/result[{stream, values: [[ns, line]]}]; start
 * inclusive, end exclusive, at most `limit` entries, forward = oldest first, backward = newest first)
 * over the generator's Envoy-shaped records, stored as Loki's OTLP ingestion stores them (stream
 * labels, attributes as structured metadata, `service.name` as `service_name`). Not run against a
 * real Loki.
 */
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LokiPullError, pullLokiOnce, type LokiPullDeps } from "../src/accesslog/loki";
import { freePort } from "../src/net/free-port";
import { generateScenario, storedPerGroup, truthPerGroup, type AccessLogRecord } from "../testkit/access-logs";
import { startBillingDb, type BillingTestDb } from "./support/billing-db";

interface Entry {
  readonly ts: bigint;
  readonly labels: Record<string, string>;
  readonly metadata: Record<string, string>;
}

/** A fake Loki: entries in memory, query_range as documented; counts requests; checks the token. */
const startFakeLoki = async (token: string) => {
  let entries: Entry[] = [];
  const requests: URLSearchParams[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://loki");
    if (url.pathname !== "/loki/api/v1/query_range") return void res.writeHead(404).end("not found");
    if (req.headers.authorization !== `Bearer ${token}`) return void res.writeHead(401).end("missing or wrong bearer token");
    const q = url.searchParams;
    requests.push(q);
    const start = BigInt(q.get("start") ?? "0");
    const end = BigInt(q.get("end") ?? "0");
    const limit = Number(q.get("limit") ?? "100");
    const forward = q.get("direction") === "forward";
    const selected = entries
      .filter((e) => e.ts >= start && e.ts < end)
      .sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0) * (forward ? 1 : -1))
      .slice(0, limit);
    // Grouped into streams by their labels, each stream's values in the query's direction.
    const streams = new Map<string, { stream: Record<string, string>; values: unknown[] }>();
    for (const e of selected) {
      const key = JSON.stringify(e.labels);
      const s = streams.get(key) ?? { stream: e.labels, values: [] };
      streams.set(key, s);
      s.values.push([e.ts.toString(), `${e.metadata.response_code} POST /v1/chat/completions`, { structuredMetadata: e.metadata }]);
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ status: "success", data: { resultType: "streams", result: [...streams.values()], stats: {} } }));
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    /** Stores records as Loki's OTLP ingestion does: index labels + structured metadata. */
    set(records: readonly AccessLogRecord[]) {
      entries = records.map((r) => {
        const { tenant, ...metadata } = r.attributes;
        return { ts: BigInt(r.timeUnixNano), labels: { service_name: "models-as-a-service", tenant }, metadata };
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

let db: BillingTestDb;
let loki: Awaited<ReturnType<typeof startFakeLoki>>;
const TOKEN = "proxy-token-for-the-billing-service";

beforeAll(async () => {
  db = await startBillingDb();
  loki = await startFakeLoki(TOKEN);
});

afterAll(async () => {
  await loki?.close();
  await db?.stop();
});

const START = Date.UTC(2026, 10, 3, 10, 0, 0);

const deps = (source: string, limit: number, over: Partial<LokiPullDeps> = {}): LokiPullDeps => ({
  pool: db.pool,
  settings: { url: loki.url, query: '{service_name="models-as-a-service"}', source, limit, lag: 60_000, interval: 60_000, start: new Date(START).toISOString() },
  bearerToken: () => TOKEN,
  tenantOfNamespace: () => undefined,
  billable: true,
  ...over,
});

describe("pulling access logs from Loki", () => {
  it("stores every key's, user's and model's usage exactly, page by page, and a second pass reads only what is new", async () => {
    // 300 requests 7.9 ms apart (streaming copies "0" then real, 429s, errors, unknown model).
    const scenario = generateScenario({ seed: 63, requests: 300, startMs: START });
    loki.set(scenario.records);
    const end = new Date(START + 60_000 + 10 * 60_000); // now - lag is well past the last record
    const first = await pullLokiOnce(deps("//gateway/loki-a", 37), end);
    expect(first.status).toBe("pulled");
    expect(first.entries).toBeGreaterThanOrEqual(scenario.records.length); // page-boundary entries are read twice
    expect(first.pages).toBeGreaterThan(scenario.records.length / 37);
    expect(loki.requests.every((q) => q.get("direction") === "forward" && q.get("limit") === "37")).toBe(true);
    expect(await storedPerGroup(db.pool, "//gateway/loki-a")).toEqual(truthPerGroup(scenario));

    // Nothing new: a second pass from the watermark stores nothing and changes nothing.
    const before = loki.requests.length;
    const again = await pullLokiOnce(deps("//gateway/loki-a", 37), new Date(end.getTime() + 60_000));
    expect(again).toMatchObject({ status: "pulled", entries: 0, accepted: 0 });
    expect(loki.requests.length).toBe(before + 1);
    expect(BigInt(loki.requests.at(-1)!.get("start")!)).toBe(BigInt(end.getTime() - 60_000) * 1_000_000n);
    expect(await storedPerGroup(db.pool, "//gateway/loki-a")).toEqual(truthPerGroup(scenario));
  });

  it("pulls only [watermark, now - lag): a record newer than that waits for the next pass", async () => {
    const scenario = generateScenario({ seed: 64, requests: 40, startMs: START });
    loki.set(scenario.records);
    const lastNs = BigInt(scenario.records.at(-1)!.timeUnixNano);
    // now - lag ends just before the last request's records.
    const cut = new Date(Number(lastNs / 1_000_000n) + 60_000);
    const early = await pullLokiOnce(deps("//gateway/loki-b", 1000), cut);
    const lastCount = scenario.records.filter((r) => BigInt(r.timeUnixNano) === lastNs).length;
    expect(early.entries).toBe(scenario.records.length - lastCount);
    await pullLokiOnce(deps("//gateway/loki-b", 1000), new Date(cut.getTime() + 60_000));
    expect(await storedPerGroup(db.pool, "//gateway/loki-b")).toEqual(truthPerGroup(scenario));
  });

  it("fails a pass that cannot page past one timestamp, storing nothing and keeping the watermark", async () => {
    const t = BigInt(START) * 1_000_000n + 5n;
    const same = Array.from({ length: 5 }, (_, i) => ({
      timeUnixNano: t.toString(),
      attributes: { tenant: "acme", user_id: `u${i}`, subscription: "free", model: "m", response_code: "200", response_type: "hit", tokens_prompt: "1", tokens_completion: "1", tokens_total: "2" },
    }));
    loki.set(same);
    const pass = pullLokiOnce(deps("//gateway/loki-c", 3), new Date(START + 120_000));
    await expect(pass).rejects.toBeInstanceOf(LokiPullError);
    await expect(pullLokiOnce(deps("//gateway/loki-c", 3), new Date(START + 120_000))).rejects.toThrow(/more than 3 entries at one timestamp.*raise lokiPull.limit/);
    expect((await db.pool.query("select count(*)::int as n from access_log_usage where source = '//gateway/loki-c'")).rows[0].n).toBe(0);
    expect((await db.pool.query("select count(*)::int as n from access_log_pull_watermark where source = '//gateway/loki-c'")).rows[0].n).toBe(0);
    // With a limit above the tie the same window goes through.
    expect((await pullLokiOnce(deps("//gateway/loki-c", 10), new Date(START + 120_000))).accepted).toBe(5);
  });

  it("refuses an answer that is not a log query's (401 without the token, a metric result)", async () => {
    await expect(pullLokiOnce(deps("//gateway/loki-d", 10, { bearerToken: () => "wrong" }), new Date(START + 120_000))).rejects.toThrow(/answered 401/);
    const metric = async () => new Response(JSON.stringify({ status: "success", data: { resultType: "matrix", result: [] } }), { status: 200 });
    await expect(pullLokiOnce(deps("//gateway/loki-d", 10, { fetch: metric as typeof fetch }), new Date(START + 120_000))).rejects.toThrow(/resultType "streams"/);
    expect((await db.pool.query("select count(*)::int as n from access_log_pull_watermark where source = '//gateway/loki-d'")).rows[0].n).toBe(0);
  });
});
