/*
 * What a POST /v1/logs batch costs, part by part, in one process and one run (ratios, not absolute
 * rates, are what a loaded machine can show):
 *   - JS: OTLP protobuf decode (the OpenTelemetry generated code), flattening, record -> row with
 *     its SHA-256 id, the in-batch fold;
 *   - SQL: the receiver's own upsert (UPSERT_ACCESS_LOG_SQL, batches of 1,000) on the full schema,
 *     folding the rollup queue (migration 062) every `drainEvery` batches as serve's background
 *     loop does and once more at the end (on the clock), against the same upserts with every
 *     trigger disabled (heap, primary key and indexes only).
 * Variants alternate over rounds; the best of each is printed (the least disturbed on a shared machine).
 *
 *   npx tsx billing-service/bench/otlp-profile.ts [records] [rounds]
 */
import { decodeLogsRequest, flattenLogs } from "../src/accesslog/otlp";
import { foldCopies, toAccessLogRow, type AccessLogRow } from "../src/accesslog/records";
import { upsertAccessLogRows } from "../src/accesslog/store";
import { serializeLogs } from "../testkit/access-logs";
import { benchRecord } from "./otlp";
import { seconds, startBenchDatabase } from "./setup";

interface SqlVariant {
  readonly name: string;
  readonly setup: string;
  readonly undo: string;
  /** Fold the queue after every this many batches (0: only at the end). */
  readonly drainEvery: number;
}

const SQL_VARIANTS: readonly SqlVariant[] = [
  { name: "upsert + rollup queue, folded every 10 batches", setup: "", undo: "", drainEvery: 10 },
  { name: "upsert + rollup queue, folded once at the end", setup: "", undo: "", drainEvery: 0 },
  { name: "upsert, no triggers (heap + indexes)", setup: "alter table access_log_usage disable trigger user", undo: "alter table access_log_usage enable trigger user", drainEvery: 0 },
];

export async function profileOtlp(records = 50_000, rounds = 3): Promise<{ name: string; seconds: number }[]> {
  const bodies: Buffer[] = [];
  for (let b = 0; b < records / 1000; b++) bodies.push(Buffer.from(serializeLogs(Array.from({ length: 1000 }, (_, i) => benchRecord(b * 1000 + i)), "protobuf")));
  const ctx = { source: "//bench/access-log", tenantOfNamespace: () => undefined, billable: true };
  const best = new Map<string, number>();
  const keep = (name: string, s: number) => best.set(name, Math.min(best.get(name) ?? Infinity, s));
  let rows: AccessLogRow[][] = [];
  for (let round = 0; round < rounds; round++) {
    let t = process.hrtime.bigint();
    const decoded = bodies.map((b) => decodeLogsRequest(b, "protobuf"));
    keep("JS: protobuf decode", seconds(t));
    t = process.hrtime.bigint();
    const flat = decoded.map(flattenLogs);
    keep("JS: flatten attributes", seconds(t));
    t = process.hrtime.bigint();
    rows = flat.map((batch) =>
      batch.map((r) => {
        const o = toAccessLogRow(r, ctx);
        if (!o.ok) throw new Error(o.reason);
        return o.row;
      }),
    );
    keep("JS: record -> row (SHA-256 id, checks)", seconds(t));
    t = process.hrtime.bigint();
    rows.forEach(foldCopies);
    keep("JS: in-batch fold", seconds(t));
  }
  const db = await startBenchDatabase();
  try {
    const run = async (v: SqlVariant): Promise<number> => {
      if (v.setup) await db.pool.query(v.setup);
      try {
        const start = process.hrtime.bigint();
        let n = 0;
        for (const batch of rows) {
          await upsertAccessLogRows(db.pool, batch);
          if (v.drainEvery > 0 && ++n % v.drainEvery === 0) await db.pool.query("select ledger_rollup_drain(true)");
        }
        await db.pool.query("select ledger_rollup_drain(true)");
        return seconds(start);
      } finally {
        await db.pool.query("truncate access_log_usage, access_log_key_hourly, usage_hourly");
        if (v.undo) await db.pool.query(v.undo);
      }
    };
    await run(SQL_VARIANTS[0]); // warm-up
    for (let round = 0; round < rounds; round++) for (const v of SQL_VARIANTS) keep(`SQL: ${v.name}`, await run(v));
  } finally {
    await db.stop();
  }
  return [...best].map(([name, s]) => ({ name, seconds: s }));
}

if (require.main === module) {
  const n = Number(process.argv[2] ?? 50_000);
  profileOtlp(n, Number(process.argv[3] ?? 3)).then(
    (rows) => {
      for (const r of rows) console.log(`${r.name.padEnd(60)} ${r.seconds.toFixed(2)} s  ${Math.round(n / r.seconds).toLocaleString("en-US")}/s`);
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
