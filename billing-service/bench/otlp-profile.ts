/*
 * What a POST /v1/logs batch costs, part by part, in one process and one run (ratios, not absolute
 * rates, are what a loaded machine can show):
 *   - JS: OTLP protobuf decode (the OpenTelemetry generated code), flattening, record -> row with
 *     its SHA-256 id, the in-batch fold;
 *   - SQL: the receiver's own insert (upsertAccessLogRows, batches of 1,000: a COPY for new rows,
 *     db/copy-first.ts) and the upsert statement it falls back to (UPSERT_ACCESS_LOG_SQL), on the
 *     full schema, folding the rollup queue (migration 062) every `drainEvery` batches as serve's
 *     background loop does and once more at the end (on the clock), against the same inserts with
 *     every trigger disabled (heap, primary key and indexes only). Printed: wall seconds and
 *     PostgreSQL's CPU seconds (all its processes), per record.
 * Variants alternate over rounds; the best of each is printed (the least disturbed on a shared machine).
 *
 *   npx tsx billing-service/bench/otlp-profile.ts [records] [rounds]
 */
import { AttributeSlots, decodeLogsRequest, flattenLogs } from "../src/accesslog/otlp";
import { foldCopies, RECORD_ATTRIBUTES, toAccessLogRow, type AccessLogRow } from "../src/accesslog/records";
import { upsertAccessLogRows } from "../src/accesslog/store";
import { MIGRATIONS } from "../src/db/migrations";
import { serializeLogs } from "../testkit/access-logs";
import { benchRecord } from "./otlp";
import { postmasterPid, seconds, startBenchDatabase, treeCpuSeconds } from "./setup";

interface SqlVariant {
  readonly name: string;
  readonly setup: string;
  readonly undo: string;
  /** Fold the queue after every this many batches (0: only at the end). */
  readonly drainEvery: number;
  /** "copy-first": as the receiver stores a batch (pool); "statement": the upsert alone (a client, so no COPY). */
  readonly path: "copy-first" | "statement";
}

/** `create [or replace] function <name>` ... `end $$;` as a migration wrote it, to run again as create or replace. */
const functionOf = (migrationId: number, name: string): string => {
  const sql = MIGRATIONS.find((m) => m.id === migrationId)!.sql;
  const start = sql.search(new RegExp(`create (or replace )?function ${name}\\(`));
  const found = start >= 0 ? sql.indexOf("end $$;", start) : -1;
  if (found < 0) throw new Error(`no function ${name} in migration ${migrationId}`);
  return sql.slice(start, found + "end $$;".length).replace(/^create function/, "create or replace function");
};
const DRAIN_062 = functionOf(62, "ledger_rollup_drain");
const DRAIN_064 = functionOf(64, "ledger_rollup_drain");
const NO_TRIGGERS = { setup: "alter table access_log_usage disable trigger user", undo: "alter table access_log_usage enable trigger user" };
const SQL_VARIANTS: readonly SqlVariant[] = [
  { name: "COPY-first + rollup queue, folded every 10 batches", setup: "", undo: "", drainEvery: 10, path: "copy-first" },
  { name: "COPY-first + rollup queue, folded once at the end", setup: "", undo: "", drainEvery: 0, path: "copy-first" },
  { name: "  same, folded every 10 batches by 062's fold (dimensions per row)", setup: DRAIN_062, undo: DRAIN_064, drainEvery: 10, path: "copy-first" },
  { name: "  same, folded once at the end by 062's fold (dimensions per row)", setup: DRAIN_062, undo: DRAIN_064, drainEvery: 0, path: "copy-first" },

  { name: "COPY-first, no triggers (heap + indexes)", ...NO_TRIGGERS, drainEvery: 0, path: "copy-first" },
  { name: "upsert + rollup queue, folded every 10 batches", setup: "", undo: "", drainEvery: 10, path: "statement" },
  { name: "upsert, no triggers (heap + indexes)", ...NO_TRIGGERS, drainEvery: 0, path: "statement" },
];

export async function profileOtlp(records = 50_000, rounds = 3): Promise<{ name: string; seconds: number }[]> {
  const bodies: Buffer[] = [];
  for (let b = 0; b < records / 1000; b++) bodies.push(Buffer.from(serializeLogs(Array.from({ length: 1000 }, (_, i) => benchRecord(b * 1000 + i)), "protobuf")));
  const ctx = { source: "//bench/access-log", tenantOfNamespace: () => undefined, billable: true };
  const best = new Map<string, number>();
  const keep = (name: string, s: number) => best.set(name, Math.min(best.get(name) ?? Infinity, s));
  let rows: AccessLogRow[][] = [];
  // JS stages: this process's CPU time (user + system), which a loaded machine disturbs less than the wall clock.
  const cpu = (since: NodeJS.CpuUsage): number => {
    const d = process.cpuUsage(since);
    return (d.user + d.system) / 1e6;
  };
  for (let round = 0; round < rounds; round++) {
    let t = process.cpuUsage();
    const decoded = bodies.map((b) => decodeLogsRequest(b, "protobuf"));
    keep("JS: protobuf decode", cpu(t));
    t = process.cpuUsage();
    const slots = new AttributeSlots(RECORD_ATTRIBUTES);
    const flat = decoded.map((d) => flattenLogs(d, slots));
    keep("JS: flatten attributes", cpu(t));
    t = process.cpuUsage();
    rows = flat.map((batch) =>
      batch.map((r) => {
        const o = toAccessLogRow(r, ctx);
        if (!o.ok) throw new Error(o.reason);
        return o.row;
      }),
    );
    keep("JS: record -> row (SHA-256 id, checks)", cpu(t));
    t = process.cpuUsage();
    rows.forEach(foldCopies);
    keep("JS: in-batch fold", cpu(t));
  }
  const db = await startBenchDatabase();
  try {
    const postgres = await postmasterPid(db.pool);
    const run = async (v: SqlVariant): Promise<[number, number]> => {
      if (v.setup) await db.pool.query(v.setup);
      const client = v.path === "statement" ? await db.pool.connect() : undefined;
      try {
        const cpu0 = await treeCpuSeconds(postgres);
        const start = process.hrtime.bigint();
        let n = 0;
        for (const batch of rows) {
          await upsertAccessLogRows(client ?? db.pool, batch);
          if (v.drainEvery > 0 && ++n % v.drainEvery === 0) await db.pool.query("select ledger_rollup_drain(true)");
        }
        await db.pool.query("select ledger_rollup_drain(true)");
        return [seconds(start), (await treeCpuSeconds(postgres)) - cpu0];
      } finally {
        client?.release();
        await db.pool.query("truncate access_log_usage, access_log_key_hourly, usage_hourly");
        if (v.undo) await db.pool.query(v.undo);
      }
    };
    await run(SQL_VARIANTS[0]); // warm-up
    for (let round = 0; round < rounds; round++)
      for (const v of SQL_VARIANTS) {
        const [wall, cpu] = await run(v);
        keep(`SQL: ${v.name}`, wall);
        keep(`SQL CPU (PostgreSQL): ${v.name}`, cpu);
      }
  } finally {
    await db.stop();
  }
  return [...best].map(([name, s]) => ({ name, seconds: s }));
}

if (require.main === module) {
  const n = Number(process.argv[2] ?? 50_000);
  profileOtlp(n, Number(process.argv[3] ?? 3)).then(
    (rows) => {
      for (const r of rows) console.log(`${r.name.padEnd(80)} ${r.seconds.toFixed(2)} s  ${((r.seconds / n) * 1e6).toFixed(1)} µs per record`);
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
