/*
 * Ingest benchmark: events per second through POST /v1/events (batches of 1000, validated, with
 * the (source, id) dedupe, into PostgreSQL) against a real `serve` process, and the physical
 * baseline: COPY of the very same rows into the same table (same indexes and rollup trigger) in the
 * same run. Both figures include folding the rollup queue their inserts filled (migration 062). Also the peak RSS of `serve` over the run.
 */
import http from "node:http";
import { from as copyFrom } from "pg-copy-streams";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { cpuDuring, drainRollupQueue, emptyLedger, peakRssBytes, postmasterPid, seconds, sendAll, startBenchStack } from "./setup";

export interface IngestFigures {
  events: number;
  batchSize: number;
  apiSeconds: number;
  copySeconds: number;
  peakRssBytes: number;
  rssBeforeBytes: number;
  /** CPU seconds of serve and of PostgreSQL (all its processes) during the API run, and of PostgreSQL during the COPY. */
  apiCpu: { serve: number; postgres: number };
  copyCpu: { postgres: number };
}

/** The i-th bench event (ids unique per i). */
export const event = (i: number) => ({
  id: `ev-${i}`,
  source: "//bench/gateway",
  time: new Date(Date.UTC(2026, 4, 1) + (i % 2_592_000) * 1000).toISOString(),
  tenant: `tenant-${i % 40}`,
  user: `user-${i % 1000}`,
  model: ["llama", "granite", "mistral"][i % 3],
  tier: ["free", "premium", "enterprise"][i % 3],
  inputTokens: 100 + (i % 900),
  outputTokens: 50 + (i % 450),
  requests: 1,
});

/** POSTs one body to the events API; resolves on 200, rejects with the answer otherwise. */
export const post = (agent: http.Agent, url: URL, token: string, body: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", agent, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => void (text.length < 2000 && (text += c.toString())));
      res.on("end", () => (res.statusCode === 200 ? resolve(200) : reject(new Error(`ingest bench: POST ${url.pathname} answered ${res.statusCode}: ${text}`))));
    });
    req.on("error", reject);
    req.end(body);
  });

export async function benchIngest(events = 200_000, batchSize = 1000, concurrency = 4): Promise<IngestFigures> {
  const stack = await startBenchStack();
  try {
    const { service, db } = stack;
    // Bodies are built before the clock starts: the client's JSON work is not the service's.
    const bodies: string[] = [];
    for (let b = 0; b < events / batchSize; b++) bodies.push(JSON.stringify({ events: Array.from({ length: batchSize }, (_, i) => event(b * batchSize + i)) }));
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const url = new URL("/v1/events", service.url);
    // Warm-up (JIT, connections) with events outside the measured set, then removed.
    await post(agent, url, service.token, JSON.stringify({ events: Array.from({ length: batchSize }, (_, i) => ({ ...event(i), id: `warm-${i}` })) }));
    await emptyLedger(db.pool, "usage_events");
    const rssBeforeBytes = await peakRssBytes(service.pid);

    const postgres = await postmasterPid(db.pool);
    // Rollups are folded from a queue (migration 062): in the background during the run, the rest on the clock.
    const api = await cpuDuring([service.pid, postgres], async () => (await sendAll(bodies, concurrency, (body) => post(agent, url, service.token, body), service.log)) + (await drainRollupQueue(db.pool)));
    const apiSeconds = api.result;
    agent.destroy();
    const peak = await peakRssBytes(service.pid);
    const stored = Number((await db.pool.query("select count(*) as n from usage_events")).rows[0].n);
    if (stored !== events) throw new Error(`ingest bench: ${stored} events stored, expected ${events}`);

    // The same rows again, by COPY into the emptied table.
    await emptyLedger(db.pool, "usage_events");
    const csv: string[] = [];
    for (let i = 0; i < events; i++) {
      const e = event(i);
      csv.push(`${e.source},${e.id},${e.tenant},${e.user},${e.tier},${e.model},${e.time},${e.inputTokens},${e.outputTokens},${e.requests}\n`);
    }
    const client = await db.pool.connect();
    let copySeconds: number;
    let copyCpu: number;
    try {
      const copy = await cpuDuring([postgres], async () => {
        const copyStart = process.hrtime.bigint();
        await pipeline(
          Readable.from(csv, { objectMode: false }),
          client.query(copyFrom("copy usage_events (source, event_id, tenant, user_id, tier, model, event_time, input_tokens, output_tokens, requests) from stdin with (format csv)")),
        );
        return seconds(copyStart) + (await drainRollupQueue(db.pool));
      });
      copySeconds = copy.result;
      copyCpu = copy.cpuSeconds[0];
    } finally {
      client.release();
    }
    const copied = Number((await db.pool.query("select count(*) as n from usage_events")).rows[0].n);
    if (copied !== events) throw new Error(`ingest bench: COPY stored ${copied}, expected ${events}`);
    return { events, batchSize, apiSeconds, copySeconds, peakRssBytes: peak, rssBeforeBytes, apiCpu: { serve: api.cpuSeconds[0], postgres: api.cpuSeconds[1] }, copyCpu: { postgres: copyCpu } };
  } finally {
    await stack.stop();
  }
}
