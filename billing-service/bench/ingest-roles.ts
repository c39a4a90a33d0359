/*
 * PostgreSQL's CPU per ingested row, by role: the backends that insert (the receiver's own insert
 * functions, `upsertAccessLogRows` or `ingestEvents`: batches of 1,000 in the bench's order and
 * data, 4 at a time, as serve's spool sends them), the backends that fold the rollup queue
 * (serve's own loop, `startRollupDrain`, on its own connections, then the final full drain), and
 * the rest (autovacuum, WAL writer, checkpointer). The database work of `POST /v1/logs` and
 * `POST /v1/events` without HTTP, decoding or validation, so schema variants compare in one run.
 *
 *   npx tsx billing-service/bench/ingest-roles.ts otlp|events [rows] [rounds] [variant,...] [variants.json]
 *
 * Variants: `deployed`, `fold-at-end` (no loop: the COPY baseline's one fold), and any named in the
 * JSON file as {"name": {"setup": "DDL", "undo": "DDL", "intervalMs": 2000}}. They alternate over
 * rounds; every run starts from empty tables after a checkpoint. Printed per run: the load
 * average, wall seconds, and PostgreSQL CPU per row in µs (total = inserting + folding + rest).
 */
import { readFileSync } from "node:fs";
import pg from "pg";
import { AttributeSlots, decodeLogsRequest, flattenLogs } from "../src/accesslog/otlp";
import { RECORD_ATTRIBUTES, toAccessLogRow, type AccessLogRow } from "../src/accesslog/records";
import { upsertAccessLogRows } from "../src/accesslog/store";
import { startRollupDrain } from "../src/db/rollup-drain";
import { ingestEvents } from "../src/events/ingest";
import type { UsageEvent } from "../src/events/schema";
import { serializeLogs } from "../testkit/access-logs";
import { event } from "./ingest";
import { benchRecord } from "./otlp";
import { postmasterPid, startBenchDatabase, treeCpuSeconds } from "./setup";

interface Variant {
  readonly setup?: string;
  readonly undo?: string;
  /** false: no fold while inserting, one at the end. */
  readonly loop?: boolean;
  /** serve's fold interval while rows merge (default: serve's). */
  readonly intervalMs?: number;
}

const BUILT_IN: Record<string, Variant> = { deployed: {}, "fold-at-end": { loop: false } };
const TICK_S = 0.01; // USER_HZ

/** CPU seconds (user + system) of one live process. */
const processCpu = (pid: number): number => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * TICK_S;
  } catch {
    return 0; // ended: its CPU is in the postmaster's children total
  }
};

const batchesOf = (which: "otlp" | "events", rows: number): (AccessLogRow[] | UsageEvent[])[] => {
  const out: (AccessLogRow[] | UsageEvent[])[] = [];
  const ctx = { source: "//bench/access-log", tenantOfNamespace: () => undefined, billable: true };
  const slots = new AttributeSlots(RECORD_ATTRIBUTES);
  for (let b = 0; b < rows; b += 1000) {
    if (which === "events") {
      out.push(Array.from({ length: 1000 }, (_, i) => event(b + i)) as UsageEvent[]);
      continue;
    }
    const body = Buffer.from(serializeLogs(Array.from({ length: 1000 }, (_, i) => benchRecord(b + i)), "protobuf"));
    out.push(
      flattenLogs(decodeLogsRequest(body, "protobuf"), slots).map((r) => {
        const o = toAccessLogRow(r, ctx);
        if (!o.ok) throw new Error(o.reason);
        return o.row;
      }),
    );
  }
  return out;
};

export async function ingestRoles(which: "otlp" | "events", rows: number, rounds: number, names: readonly string[], variants: Record<string, Variant>, log: (s: string) => void): Promise<void> {
  const batches = batchesOf(which, rows);
  const db = await startBenchDatabase();
  const inserters = new pg.Pool({ connectionString: db.url, max: 4, idleTimeoutMillis: 0, application_name: "bench-insert" });
  const folders = new pg.Pool({ connectionString: db.url, max: 3, idleTimeoutMillis: 0, application_name: "bench-fold" });
  let stopping = false; // stopping the server terminates what is left of the pools' connections: not a failure
  for (const pool of [inserters, folders]) pool.on("error", (e) => void (stopping || log(`ingest-roles: idle connection lost: ${e.message}`)));
  try {
    const postmaster = await postmasterPid(db.pool);
    const tables = which === "otlp" ? "access_log_usage, access_log_key_hourly, usage_hourly" : "usage_events, usage_hourly";
    const pidsOf = async (app: string): Promise<number[]> => (await db.pool.query<{ pid: number }>("select pid from pg_stat_activity where application_name = $1", [app])).rows.map((r) => r.pid);
    const sum = (pids: readonly number[]): number => pids.reduce((a, p) => a + processCpu(p), 0);
    const run = async (name: string): Promise<void> => {
      const v = variants[name];
      if (v === undefined) throw new Error(`ingest-roles: no variant ${JSON.stringify(name)} (have ${Object.keys(variants).join(", ")})`);
      if (v.setup) await db.pool.query(v.setup);
      try {
        await db.pool.query(`truncate ${tables}`);
        await db.pool.query("checkpoint");
        // Open every connection first, so each role's backends are known before the clock starts.
        await Promise.all(Array.from({ length: 4 }, () => inserters.query("select 1")));
        await Promise.all(Array.from({ length: 3 }, () => folders.query("select 1")));
        const insertPids = await pidsOf("bench-insert");
        const foldPids = await pidsOf("bench-fold");
        const [total0, insert0, fold0] = [await treeCpuSeconds(postmaster), sum(insertPids), sum(foldPids)];
        const start = process.hrtime.bigint();
        const drain = v.loop === false ? undefined : startRollupDrain(folders, v.intervalMs === undefined ? {} : { intervalMs: v.intervalMs });
        let next = 0;
        await Promise.all(
          Array.from({ length: 4 }, async () => {
            while (next < batches.length) {
              const batch = batches[next++];
              if (which === "otlp") await upsertAccessLogRows(inserters, batch as AccessLogRow[]);
              else await ingestEvents(inserters, batch as UsageEvent[]);
            }
          }),
        );
        await drain?.stop();
        await folders.query("select ledger_rollup_drain(true)");
        const wall = Number(process.hrtime.bigint() - start) / 1e9;
        const total = (await treeCpuSeconds(postmaster)) - total0;
        const insert = sum(insertPids) - insert0;
        const fold = sum(foldPids) - fold0;
        const us = (s: number): string => ((s / rows) * 1e6).toFixed(1);
        const load = readFileSync("/proc/loadavg", "utf8").split(" ")[0];
        log(`${which} ${name.padEnd(16)} load ${load}  wall ${wall.toFixed(1)} s  PostgreSQL µs per row: ${us(total)} = inserting ${us(insert)} + folding ${us(fold)} + rest ${us(total - insert - fold)}`);
      } finally {
        if (v.undo) await db.pool.query(v.undo);
      }
    };
    for (let round = 0; round < rounds; round++) for (const name of names) await run(name);
  } finally {
    stopping = true;
    await inserters.end();
    await folders.end();
    await db.stop();
  }
}

if (require.main === module) {
  const [which = "otlp", rows = "100000", rounds = "2", names = "deployed,fold-at-end", file] = process.argv.slice(2);
  if (which !== "otlp" && which !== "events") throw new Error(`ingest-roles: otlp or events, got ${JSON.stringify(which)}`);
  const variants = { ...BUILT_IN, ...(file ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, Variant>) : {}) };
  ingestRoles(which, Number(rows), Number(rounds), names.split(","), variants, (s) => console.log(s)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
