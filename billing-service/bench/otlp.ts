/*
 * OTLP access-log ingest benchmark: records per second through POST /v1/logs (OTLP/HTTP protobuf,
 * batches of 1000 records, built by the OpenTelemetry JS serializer before the clock starts)
 * against a real `serve` process: decode, per-record mapping and id hashing, the idempotent upsert
 * with its rollup triggers, into PostgreSQL, and the fold of the rollup queue those triggers fill
 * (migration 062; what serve folds in the background, and what is left at the end on the clock).
 *
 * Requests in flight: as many as the sender keeps in flight. The sender is the platform's
 * OpenTelemetry Collector (components/platform/accessLogPipeline.ts), whose otlp_http exporter
 * sends from its sending queue with `num_consumers` consumers: 10, the exporterhelper default
 * (go.opentelemetry.io/collector/exporter/exporterhelper v0.161.0, README "Sending Queue" and
 * internal/queue_sender.go NewDefaultQueueConfig), which the platform now renders explicitly
 * (ACCESS_LOG_EXPORTER_CONSUMERS). scripts/bench.ts passes that number.
 *
 * Baselines in the same run, each the very same rows (as the receiver stored them) into the same
 * table (same key, triggers and queue), plus the fold of the queue it fills:
 *   - COPY on one connection (the baseline of sessions 4-6);
 *   - COPY over as many connections as the API had requests in flight, the request's batches
 *     dealt out in turn (connection k copies batches k, k + n, ...): the database's speed at the
 *     parallelism the API gets, so the API is not compared with a baseline that has less.
 */
import http from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { from as copyFrom } from "pg-copy-streams";
import { newToken } from "../src/auth/static";
import { serializeLogs, type AccessLogRecord } from "../testkit/access-logs";
import { startService } from "../testkit/service";
import { cpuDuring, drainRollupQueue, emptyLedger, postmasterPid, seconds, sendAll, startBenchDatabase, type Pool } from "./setup";

export interface OtlpFigures {
  records: number;
  batchSize: number;
  /** Requests in flight (and the parallel COPY's connections). */
  concurrency: number;
  /** The API's clock: the sends, plus the fold of what was still queued after the last answer. */
  apiSeconds: number;
  apiSendSeconds: number;
  apiFoldSeconds: number;
  /** COPY on one connection, and over `concurrency` connections (each plus its fold). */
  copySeconds: number;
  copyParallelSeconds: number;
  /** CPU seconds of serve and of PostgreSQL (all its processes) during the API run, and of PostgreSQL during each COPY. */
  apiCpu: { serve: number; postgres: number };
  copyCpu: { postgres: number };
  copyParallelCpu: { postgres: number };
}

const START_NS = BigInt(Date.UTC(2026, 4, 1)) * 1_000_000n;

/** The i-th benchmark record: 40 tenants, 1,000 users, 2,000 keys, 3 models, 1 ms apart. */
export const benchRecord = (i: number): AccessLogRecord => ({
  timeUnixNano: (START_NS + BigInt(i) * 1_000_003n).toString(),
  attributes: {
    tenant: `tenant-${i % 40}`,
    user_id: `user-${i % 1000}`,
    subscription: ["free", "premium", "enterprise"][i % 3],
    groups: "users",
    key_id: `key-${i % 2000}`,
    key_name: `key ${i % 2000}`,
    organization_id: `org-${i % 40}`,
    model: ["llama", "granite", "mistral"][i % 3],
    response_code: "200",
    response_type: "hit",
    tokens_prompt: String(100 + (i % 900)),
    tokens_completion: String(50 + (i % 450)),
    tokens_total: String(150 + (i % 900) + (i % 450)),
  },
});

const post = (agent: http.Agent, url: URL, token: string, body: Uint8Array): Promise<void> =>
  new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", agent, headers: { authorization: `Bearer ${token}`, "content-type": "application/x-protobuf", "content-length": body.byteLength } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => void (text.length < 2000 && (text += c.toString("latin1"))));
      res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`otlp bench: POST /v1/logs answered ${res.statusCode}: ${text}`))));
    });
    req.on("error", reject);
    req.end(body);
  });

const COLUMNS = ["tenant", "source", "record_id", "time_unix_nano", "event_time", "user_id", "tier", "model", "key_id", "key_name", "organization_id", "groups", "response_code", "response_type", "input_tokens", "output_tokens", "total_tokens", "billable"];
const COPY_CSV_SQL = `copy access_log_usage (${COLUMNS.join(", ")}) from stdin with (format csv)`;
const csvLine = (r: Record<string, unknown>): string => `${COLUMNS.map((c) => (r[c] instanceof Date ? (r[c] as Date).toISOString() : String(r[c]))).join(",")}\n`;

/** COPYs each list of lines on a connection of its own, all at once; then folds the queue they filled. The seconds and PostgreSQL's CPU seconds. */
const copyAll = async (pool: Pool, postgres: number, streams: readonly string[][], expected: number): Promise<{ seconds: number; cpu: number }> => {
  await emptyLedger(pool, "access_log_usage");
  const clients = await Promise.all(streams.map(() => pool.connect()));
  try {
    const run = await cpuDuring([postgres], async () => {
      const start = process.hrtime.bigint();
      await Promise.all(streams.map((lines, k) => pipeline(Readable.from(lines, { objectMode: false }), clients[k].query(copyFrom(COPY_CSV_SQL)))));
      return seconds(start) + (await drainRollupQueue(pool));
    });
    const copied = Number((await pool.query("select count(*) as n from access_log_usage")).rows[0].n);
    if (copied !== expected) throw new Error(`otlp bench: COPY over ${streams.length} connection(s) stored ${copied}, expected ${expected}`);
    return { seconds: run.result, cpu: run.cpuSeconds[0] };
  } finally {
    for (const c of clients) c.release();
  }
};

export async function benchOtlp(records = 200_000, batchSize = 1000, concurrency = 10, log: (s: string) => void = () => {}): Promise<OtlpFigures> {
  // One connection more than the parallel COPY's, for the truncates, counts and the fold.
  const db = await startBenchDatabase({ poolSize: concurrency + 1 });
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "maas-bench-otlp-"));
  const sender = newToken("sender-bench", { sources: ["//bench/access-log"] });
  try {
    const service = await startService({ databaseUrl: db.url, dataDir, tokens: [sender.entry], env: { LOG_LEVEL: "warn", MAAS_BILLING_REQUESTS_PER_MINUTE: "100000" } });
    try {
      const t0 = process.hrtime.bigint();
      const bodies: Uint8Array[] = [];
      for (let b = 0; b < records / batchSize; b++) bodies.push(serializeLogs(Array.from({ length: batchSize }, (_, i) => benchRecord(b * batchSize + i)), "protobuf"));
      log(`otlp: ${bodies.length} protobuf requests of ${batchSize} records built in ${seconds(t0).toFixed(1)} s (${(bodies[0].byteLength / 1024).toFixed(0)} KiB each)`);
      const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
      const url = new URL("/v1/logs", service.url);
      // Warm-up (JIT, connections) with the first batch, then removed.
      await post(agent, url, sender.token, bodies[0]);
      await emptyLedger(db.pool, "access_log_usage");
      // The service folds the rollup queue in the background while it ingests; what is still queued
      // when the last answer arrives is folded here, on the clock.
      const postgres = await postmasterPid(db.pool);
      let apiSendSeconds = 0;
      let apiFoldSeconds = 0;
      const api = await cpuDuring([service.pid, postgres], async () => {
        apiSendSeconds = await sendAll(bodies, concurrency, (body) => post(agent, url, sender.token, body), service.log);
        apiFoldSeconds = await drainRollupQueue(db.pool);
        return apiSendSeconds + apiFoldSeconds;
      });
      agent.destroy();
      const stored = Number((await db.pool.query("select count(*) as n from access_log_usage")).rows[0].n);
      if (stored !== records) throw new Error(`otlp bench: ${stored} rows stored, expected ${records}`);

      // The same rows again (as the receiver stored them), by COPY into the emptied table: on one
      // connection (in record_id order, as sessions 4-6 measured it), then the API's batches (in
      // the order sent) dealt out over `concurrency` connections.
      const byId = (await db.pool.query("select * from access_log_usage order by record_id")).rows.map(csvLine);
      const sent = (await db.pool.query("select * from access_log_usage order by time_unix_nano")).rows.map(csvLine);
      const dealt: string[][] = Array.from({ length: concurrency }, () => []);
      for (let b = 0; b * batchSize < sent.length; b++) dealt[b % concurrency].push(...sent.slice(b * batchSize, (b + 1) * batchSize));
      const one = await copyAll(db.pool, postgres, [byId], records);
      const parallel = await copyAll(db.pool, postgres, dealt, records);
      return {
        records,
        batchSize,
        concurrency,
        apiSeconds: api.result,
        apiSendSeconds,
        apiFoldSeconds,
        copySeconds: one.seconds,
        copyParallelSeconds: parallel.seconds,
        apiCpu: { serve: api.cpuSeconds[0], postgres: api.cpuSeconds[1] },
        copyCpu: { postgres: one.cpu },
        copyParallelCpu: { postgres: parallel.cpu },
      };
    } finally {
      await service.kill("SIGTERM");
    }
  } finally {
    await db.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}
