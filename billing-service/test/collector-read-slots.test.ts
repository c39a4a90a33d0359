/**
 * How a pass spreads its reads over Prometheus (collect-chunk.ts): at most two queries that
 * Prometheus has not answered yet, and the next one sent as soon as one is answered, while that
 * answer is still being read (Prometheus prepares the next answer instead of waiting for the
 * parse). A read that fails stops further queries; the pass fails only once every read already
 * sent has ended, and writes nothing. A real embedded PostgreSQL holds the collector's tables; the
 * source is scripted, so the order of events is the test's, not the machine's.
 *
 * No sleep decides an outcome (review R10: "nothing else happened within 20 ms" passes on a loaded
 * machine when the code is wrong). The source records, at every send, how many reads were still
 * unanswered, and a log of sends, answers, ends and the pass settling in the order they happened;
 * the tests assert on that record. Waiting is for an event (bounded by turns of the event loop),
 * and a wrong order is caught whenever it happens.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectOnce, type RawSamplesOptions, type SampleSource } from "../src/collector/collect";
import { sampleColumns } from "../src/collector/counter-usage";
import type { RawSeries } from "../src/collector/prometheus-client";
import { parseCollectorSettings } from "../src/contract";
import { migrate } from "../src/db/migrate";
import { COLLECTOR_ONLY } from "../src/db/migrations";
import { startPostgres, type RunningPostgres } from "../testkit/postgres";

const HOUR = 3_600_000;
const FROM = Date.parse("2026-03-01T00:00:00Z");
const TO = FROM + HOUR;

/** One read the pass sent, driven by the test. */
interface ScriptedRead {
  readonly selector: string;
  answered: boolean;
  ended: boolean;
  /** Prometheus has built the answer (the headers are in). */
  answer(): void;
  /** The answer's series arrive, and the read ends. */
  finish(): void;
  fail(e: Error): void;
}

const scriptedSource = (reads: ScriptedRead[], unansweredAtStart: number[], log: string[] = []): SampleSource => ({
  rawSamples(selector: string, _from: number, _to: number, onSeries: (s: RawSeries) => void, options?: RawSamplesOptions) {
    unansweredAtStart.push(reads.filter((r) => !r.answered && !r.ended).length);
    const n = reads.length;
    log.push(`send ${n}`);
    return new Promise<void>((resolve, reject) => {
      const read: ScriptedRead = {
        selector,
        answered: false,
        ended: false,
        answer() {
          read.answered = true;
          log.push(`answer ${n}`);
          options?.onAnswered?.();
        },
        finish() {
          // One series per counter, 100 tokens over the hour (anchor in the lookback).
          const t = [FROM - 60_000, FROM + 600_000, TO - 60_000];
          onSeries({ metric: selector, labels: { limitador_namespace: "acme-models/chat", namespace: "acme-models", user: "alice" }, samples: sampleColumns(t.map((x, i) => ({ t: x, v: i * 50 }))) });
          read.ended = true;
          log.push(`end ${n}`);
          resolve();
        },
        fail(e) {
          read.ended = true;
          log.push(`fail ${n}`);
          reject(e);
        },
      };
      reads.push(read);
    });
  },
  async lastValueAtOrBefore() {
    return undefined;
  },
});

/** Lets promise callbacks and the database round trips run until `ready()` (bounded by turns, not time). */
const until = async (ready: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 20_000; i++) {
    if (ready()) return;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error(`never happened: ${what}`);
};

let db: RunningPostgres;

beforeAll(async () => {
  db = await startPostgres();
  await migrate(db.pool, COLLECTOR_ONLY);
});

afterAll(async () => {
  await db?.stop();
});

const settings = parseCollectorSettings({ window: "1h", anchorLookback: "15m" });

describe("reads in flight during a pass", () => {
  it("sends the next query once Prometheus has answered one, while that answer is still read; never more than two unanswered", async () => {
    await db.pool.query("truncate collector_usage, collector_reconciliation, collector_unattributed, collector_watermark");
    const reads: ScriptedRead[] = [];
    const unanswered: number[] = [];
    const log: string[] = [];
    const pass = collectOnce({ pool: db.pool, prometheus: scriptedSource(reads, unanswered, log), settings }, { fromMs: FROM, toMs: TO });
    // Nothing is answered until two reads are out. A third sent before any answer, now or at any
    // later moment, is in the record (unanswered at its send: 2), whatever the machine's speed.
    await until(() => reads.length >= 2, "two reads sent");
    reads[0].answer();
    // Only an answer frees a slot here (no read has ended): the third read follows it.
    await until(() => reads.length >= 3, "a third read sent after the first answer, before that read ended");
    reads[1].answer();
    await until(() => reads.length >= 4, "a fourth read");
    reads[2].answer();
    await until(() => reads.length >= 5, "the fifth read");
    for (const r of reads) {
      if (!r.answered) r.answer();
      r.finish();
    }
    const report = await pass;
    expect(report.status).toBe("collected");
    expect(reads.map((r) => r.selector).sort()).toEqual(["authorized_calls", "authorized_hits", "limited_calls", "vllm:generation_tokens_total", "vllm:prompt_tokens_total"]);
    // Never more than one other unanswered read when a read was sent (a third slot: 2 here).
    expect(unanswered).toEqual([0, 1, 1, 1, 1]);
    // Each further read was sent after an answer and before any read ended: answers free the slots.
    expect(log.slice(0, 8)).toEqual(["send 0", "send 1", "answer 0", "send 2", "answer 1", "send 3", "answer 2", "send 4"]);
    const { rows } = await db.pool.query<{ source: string; total_tokens: string; requests: string }>(
      "select source, sum(total_tokens)::text as total_tokens, sum(requests)::text as requests from collector_usage group by source order by source",
    );
    // Every answer was used: 100 tokens and 100 requests at the gateway, 100 + 100 at the model server.
    expect(rows).toEqual([
      { source: "gateway", total_tokens: "100", requests: "100" },
      { source: "model-server", total_tokens: "200", requests: "0" },
    ]);
  });

  it("after a failed read: no further query, the pass fails once the other read has ended, and nothing is written", async () => {
    await db.pool.query("truncate collector_usage, collector_reconciliation, collector_unattributed, collector_watermark");
    const reads: ScriptedRead[] = [];
    const log: string[] = [];
    const pass = collectOnce({ pool: db.pool, prometheus: scriptedSource(reads, [], log), settings }, { fromMs: FROM, toMs: TO });
    let settled = false;
    const outcome = pass
      .then(
        () => "resolved",
        (e: Error) => e.message,
      )
      .finally(() => {
        settled = true;
        log.push("pass settled");
      });
    await until(() => reads.length >= 2, "two reads sent");
    reads[0].fail(new Error("Prometheus went away"));
    // One turn of the event loop so the failure is handled before the answer (the order a real
    // failure and a later answer have); it orders, it decides nothing.
    await new Promise((r) => setImmediate(r));
    // Round trips to the same database: a pass that wrongly gives up at the failure (its
    // transaction's rollback, then its rejection) has settled by the end of them. Counted in
    // events, not in time (review S1: without this, a pass that rejects at the first failure
    // settled after "end 1" and the record looked right).
    for (let i = 0; i < 20 && !settled; i++) await db.pool.query("select 1");
    reads[1].answer(); // frees a slot: a query sent now would be one after the failure
    reads[1].finish();
    // The pass either settles or sends a further query (which it would then wait for); either is
    // an event, and the record says which came first.
    await until(() => settled || reads.length > 2, "the pass settled or sent another query");
    expect(log).toEqual(["send 0", "send 1", "fail 0", "answer 1", "end 1", "pass settled"]);
    expect(await outcome).toBe("Prometheus went away");
    const { rows } = await db.pool.query("select count(*)::int as n from collector_usage");
    expect(rows[0].n).toBe(0);
    const wm = await db.pool.query("select count(*)::int as n from collector_watermark");
    expect(wm.rows[0].n).toBe(0);
  });
});
