/*
 * What a usage_events insert costs, part by part: the service's own insert statement
 * (INSERT_EVENTS_SQL, batches of 1,000 through unnest, ON CONFLICT DO NOTHING) timed on the full
 * schema and with one part removed at a time (every variant starts from the same empty table).
 * Same database, same rows, same run.
 *
 *   npx tsx billing-service/bench/ingest-profile.ts [events] [variant name regexp] [rounds] [ms between events]
 *
 * Events are 1 s apart by default (as bench/ingest.ts sends them: a batch spans 17 minutes, 50,000
 * events 14 hours); a smaller step is usage arriving in real time (1 ms: 50,000 events in 50 s).
 */
import type { PoolClient } from "pg";
import { INSERT_EVENTS_SQL } from "../src/events/ingest";
import { seconds, startBenchDatabase } from "./setup";

interface Variant {
  readonly name: string;
  /** DDL run before the inserts, and the DDL that undoes it afterwards. */
  readonly setup: string;
  readonly undo: string;
}

const HOURLY_STATEMENT = `insert into usage_hourly as h (tenant, user_key, tier, model, hour, input_tokens, output_tokens, requests)
  select tenant, coalesce(user_id, ''), tier, model, date_trunc('hour', event_time), sum(input_tokens), sum(output_tokens), sum(requests)
    from new_rows group by 1, 2, 3, 4, 5
  on conflict (tenant, user_key, tier, model, hour) do update
    set input_tokens = h.input_tokens + excluded.input_tokens, output_tokens = h.output_tokens + excluded.output_tokens, requests = h.requests + excluded.requests;`;
const ROLLUP_STATEMENT = `insert into usage_rollup as u (tenant, hour, tier, model, dimensions, origin, input_tokens, output_tokens, requests, ledger_rows, resets, gaps, first_window, last_window)
  select tenant, date_trunc('hour', event_time, 'UTC'), tier, model, dimensions, 'events', sum(input_tokens), sum(output_tokens), sum(requests), count(*), 0, 0, min(event_time), max(event_time)
    from new_rows group by 1, 2, 3, 4, 5
  on conflict (tenant, hour, tier, model, origin, dimensions) do update
    set input_tokens = u.input_tokens + excluded.input_tokens, output_tokens = u.output_tokens + excluded.output_tokens, requests = u.requests + excluded.requests,
        ledger_rows = u.ledger_rows + excluded.ledger_rows, first_window = least(u.first_window, excluded.first_window), last_window = greatest(u.last_window, excluded.last_window);`;
/** The insert trigger's function with the given body (the deployed one is read from the database first). */
const triggerWith = (body: string): string => `create or replace function usage_events_rollup() returns trigger language plpgsql as $f$
    begin
      ${body}
      return null;
    end $f$`;
/** Set by profileIngest: the deployed definition (migration 062: append to the rollup queue). */
let DEPLOYED = "";

const VARIANTS: readonly Variant[] = [
  { name: "full table (as deployed: rollup queue, folded at the end)", setup: "", undo: "" },
  { name: "- rollup trigger (no rollup at all)", setup: "alter table usage_events disable trigger usage_events_rollup", undo: "alter table usage_events enable trigger usage_events_rollup" },
  { name: "before 062: both rollups upserted by the insert's trigger", get setup() { return triggerWith(HOURLY_STATEMENT + ROLLUP_STATEMENT); }, get undo() { return DEPLOYED; } },
  { name: "before 062, - usage_rollup (invoice drafts)", get setup() { return triggerWith(HOURLY_STATEMENT); }, get undo() { return DEPLOYED; } },
  { name: "before 062, - usage_hourly (quotas, /metrics)", get setup() { return triggerWith(ROLLUP_STATEMENT); }, get undo() { return DEPLOYED; } },
  {
    name: "rollups with fillfactor 50 (HOT updates)",
    setup: "alter table usage_hourly set (fillfactor = 50); alter table usage_rollup set (fillfactor = 50)",
    undo: "alter table usage_hourly reset (fillfactor); alter table usage_rollup reset (fillfactor)",
  },
  {
    name: "BRIN instead of the btrees on event_time and hour",
    setup:
      "drop index usage_events_time; create index usage_events_time on usage_events using brin (event_time); drop index usage_hourly_hour; create index usage_hourly_hour on usage_hourly using brin (hour)",
    undo: "drop index usage_events_time; create index usage_events_time on usage_events (event_time); drop index usage_hourly_hour; create index usage_hourly_hour on usage_hourly (hour)",
  },
  { name: "- index usage_hourly_hour", setup: "drop index usage_hourly_hour", undo: "create index usage_hourly_hour on usage_hourly (hour)" },
  {
    name: "- reservation-settling trigger",
    setup: "alter table usage_events disable trigger usage_events_settle_reservations",
    undo: "alter table usage_events enable trigger usage_events_settle_reservations",
  },
  { name: "- index usage_events_time", setup: "drop index usage_events_time", undo: "create index usage_events_time on usage_events (event_time)" },
  {
    name: "- index usage_events_tenant_time",
    setup: "drop index usage_events_tenant_time",
    undo: "create index usage_events_tenant_time on usage_events (tenant, event_time)",
  },
  {
    name: "heap + primary key only",
    setup:
      "alter table usage_events disable trigger usage_events_rollup; alter table usage_events disable trigger usage_events_settle_reservations; drop index usage_events_time; drop index usage_events_tenant_time",
    undo: "alter table usage_events enable trigger usage_events_rollup; alter table usage_events enable trigger usage_events_settle_reservations; create index usage_events_time on usage_events (event_time); create index usage_events_tenant_time on usage_events (tenant, event_time)",
  },
];

const batch = (b: number, size: number, stepMs: number): unknown[] => {
  const ids = Array.from({ length: size }, (_, i) => b * size + i);
  return [
    ids.map(() => "//bench/gateway"),
    ids.map((i) => `ev-${i}`),
    ids.map((i) => `tenant-${i % 40}`),
    ids.map((i) => `user-${i % 1000}`),
    ids.map((i) => ["free", "premium", "enterprise"][i % 3]),
    ids.map((i) => ["llama", "granite", "mistral"][i % 3]),
    ids.map((i) => new Date(Date.UTC(2026, 4, 1) + ((i * stepMs) % 2_592_000_000)).toISOString()),
    ids.map((i) => String(100 + (i % 900))),
    ids.map((i) => String(50 + (i % 450))),
    ids.map(() => "1"),
  ];
};

export async function profileIngest(events = 100_000, size = 1000, only?: RegExp, rounds = 2, stepMs = 1000): Promise<{ name: string; seconds: number }[]> {
  const variants = VARIANTS.filter((v, i) => i === 0 || !only || only.test(v.name));
  const db = await startBenchDatabase();
  try {
    const batches = Array.from({ length: events / size }, (_, b) => batch(b, size, stepMs));
    // Each batch commits on its own, as POST /v1/events does (so HOT pruning and WAL flushes are
    // part of the figure); the table is emptied and the variant undone afterwards.
    const run = async (client: PoolClient, v: Variant): Promise<number> => {
      if (v.setup) await client.query(v.setup);
      try {
        const start = process.hrtime.bigint();
        for (const params of batches) await client.query(INSERT_EVENTS_SQL, params);
        // What the inserts queued is folded on the clock (serve does it in the background).
        await client.query("select ledger_rollup_drain(true)");
        return seconds(start);
      } finally {
        await client.query("truncate usage_events, usage_hourly, usage_rollup, ledger_rollup_queue");
        if (v.undo) await client.query(v.undo);
        await client.query("vacuum usage_hourly, usage_rollup, ledger_rollup_queue");
      }
    };
    const client = await db.pool.connect();
    try {
      DEPLOYED = (await client.query<{ d: string }>("select pg_get_functiondef('usage_events_rollup()'::regprocedure) as d")).rows[0].d;
      await run(client, VARIANTS[0]); // warm-up
      const out: { name: string; seconds: number }[] = [];
      // Rounds alternating the variants, best of each: on a shared machine the minimum is the least disturbed.
      const best = new Map<string, number>();
      for (let round = 0; round < rounds; round++) {
        for (const v of variants) {
          const s = await run(client, v);
          best.set(v.name, Math.min(best.get(v.name) ?? Infinity, s));
        }
      }
      for (const v of variants) out.push({ name: v.name, seconds: best.get(v.name)! });
      return out;
    } finally {
      client.release();
    }
  } finally {
    await db.stop();
  }
}

if (require.main === module) {
  const n = Number(process.argv[2] ?? 100_000);
  const only = process.argv[3] ? new RegExp(process.argv[3]) : undefined;
  profileIngest(n, 1000, only, Number(process.argv[4] ?? 2), Number(process.argv[5] ?? 1000)).then(
    (rows) => {
      for (const r of rows) console.log(`${r.name.padEnd(50)} ${r.seconds.toFixed(2)} s  ${Math.round(n / r.seconds).toLocaleString("en-US")}/s`);
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
