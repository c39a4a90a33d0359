/*
 * Sustained ingest: POST /v1/events (batches of 1000, 4 in flight) against a real `serve` for a
 * fixed time (10 minutes by default), with the events per second and the resident set size of
 * `serve` sampled every 10 s. Shows whether the rate holds as the ledger grows and whether memory
 * stays flat (no leak per event). Opt-in (`npm run bench -- --only sustained`): it takes the time it
 * measures.
 */
import { readFile } from "node:fs/promises";
import http from "node:http";
import { event, post } from "./ingest";
import { seconds, startBenchStack } from "./setup";

export interface SustainedSample {
  /** Seconds since the start. */
  readonly atSeconds: number;
  /** Events acknowledged in the interval, per second. */
  readonly rate: number;
  /** Resident set size of serve now (VmRSS), bytes. */
  readonly rssBytes: number;
  readonly events: number;
}

export interface SustainedFigures {
  readonly seconds: number;
  readonly events: number;
  readonly samples: SustainedSample[];
  readonly tableBytes: number;
}

const rssBytes = async (pid: number): Promise<number> => {
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
};

export async function benchSustained(durationSeconds = 600, log: (s: string) => void = () => {}, sampleSeconds = 10): Promise<SustainedFigures> {
  const stack = await startBenchStack();
  const batchSize = 1000;
  const concurrency = 4;
  try {
    const { service, db } = stack;
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const url = new URL("/v1/events", service.url);
    let acked = 0;
    let nextBatch = 0;
    const start = process.hrtime.bigint();
    const deadline = Date.now() + durationSeconds * 1000;
    const samples: SustainedSample[] = [];
    let lastAcked = 0;
    let lastAt = 0;
    const sampler = setInterval(() => {
      const at = seconds(start);
      void rssBytes(service.pid).then((rss) => {
        const s = { atSeconds: at, rate: (acked - lastAcked) / (at - lastAt), rssBytes: rss, events: acked };
        lastAcked = acked;
        lastAt = at;
        samples.push(s);
        log(`sustained: ${at.toFixed(0)} s: ${Math.round(s.rate).toLocaleString("en-US")} events/s, ${acked.toLocaleString("en-US")} stored, serve RSS ${(rss / 2 ** 20).toFixed(0)} MB`);
      });
    }, sampleSeconds * 1000);
    try {
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (Date.now() < deadline) {
            const b = nextBatch++;
            // Built as it goes (the client shares the machine: its JSON work is part of the load).
            const body = JSON.stringify({ events: Array.from({ length: batchSize }, (_, i) => event(b * batchSize + i)) });
            await post(agent, url, service.token, body).catch((e: Error) => {
              throw new Error(`${e.message}\nservice log:\n${service.log().slice(-2000)}`);
            });
            acked += batchSize;
          }
        }),
      );
    } finally {
      clearInterval(sampler);
      agent.destroy();
    }
    const total = seconds(start);
    const stored = Number((await db.pool.query("select count(*) as n from usage_events")).rows[0].n);
    if (stored !== acked) throw new Error(`sustained bench: ${stored} events stored, ${acked} acknowledged`);
    const tableBytes = Number((await db.pool.query("select pg_total_relation_size('usage_events') as b")).rows[0].b);
    return { seconds: total, events: acked, samples, tableBytes };
  } finally {
    await stack.stop();
  }
}
