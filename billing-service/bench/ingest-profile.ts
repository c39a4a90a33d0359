/*
 * What a usage_events insert costs, part by part: the service's own insert (ingestEvents, batches
 * of 1,000: a COPY when the rows are new, db/copy-first.ts) timed on the full schema and with one
 * part removed at a time (every variant starts from the same empty table), and the statement it
 * falls back to (INSERT_EVENTS_SQL: unnest, ON CONFLICT DO NOTHING). Same database, same rows, same
 * run. Printed per variant: wall seconds and PostgreSQL's CPU seconds (all its processes: what
 * compares on a machine loaded by other work), best of the alternating rounds.
 *
 *   npx tsx billing-service/bench/ingest-profile.ts [events] [variant name regexp] [rounds] [ms between events]
 *
 * Events are 1 s apart by default (as bench/ingest.ts sends them: a batch spans 17 minutes, 50,000
 * events 14 hours); a smaller step is usage arriving in real time (1 ms: 50,000 events in 50 s).
 */
import type { PoolClient } from "pg";
import { INSERT_EVENTS_SQL, ingestEvents } from "../src/events/ingest";
import type { UsageEvent } from "../src/events/schema";
import { postmasterPid, seconds, startBenchDatabase, treeCpuSeconds } from "./setup";

interface Variant {
  readonly name: string;
  /** DDL run before the inserts, and the DDL that undoes it afterwards. */
  readonly setup: string;
  readonly undo: string;
  /** "statement": INSERT_EVENTS_SQL on one connection; otherwise ingestEvents on the pool (COPY for new rows). */
  readonly path?: "statement";
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

const BRIN_TIME = "create index usage_events_time on usage_events using brin (event_time)";
const VARIANTS: readonly Variant[] = [
  { name: "full table (as deployed: COPY, rollup queue folded at the end)", setup: "", undo: "" },
  { name: "INSERT ... ON CONFLICT statement instead of COPY (the fallback)", setup: "", undo: "", path: "statement" },
  { name: "- rollup trigger (no rollup at all)", setup: "alter table usage_events disable trigger usage_events_rollup", undo: "alter table usage_events enable trigger usage_events_rollup" },
  { name: "before 062: both rollups upserted by the insert's trigger", get setup() { return triggerWith(HOURLY_STATEMENT + ROLLUP_STATEMENT); }, get undo() { return DEPLOYED; } },
  { name: "before 062, - usage_rollup (invoice drafts)", get setup() { return triggerWith(HOURLY_STATEMENT); }, get undo() { return DEPLOYED; } },
  { name: "before 062, - usage_hourly (quotas, /metrics)", get setup() { return triggerWith(ROLLUP_STATEMENT); }, get undo() { return DEPLOYED; } },
  {
    name: "- reservation-settling trigger",
    setup: "alter table usage_events disable trigger usage_events_settle_reservations",
    undo: "alter table usage_events enable trigger usage_events_settle_reservations",
  },
  { name: "- index usage_events_time (BRIN)", setup: "drop index usage_events_time", undo: BRIN_TIME },
  {
    name: "- index usage_events_tenant_time",
    setup: "drop index usage_events_tenant_time",
    undo: "create index usage_events_tenant_time on usage_events (tenant, event_time)",
  },
  {
    name: "heap + primary key only",
    setup:
      "alter table usage_events disable trigger usage_events_rollup; alter table usage_events disable trigger usage_events_settle_reservations; drop index usage_events_time; drop index usage_events_tenant_time",
    undo: `alter table usage_events enable trigger usage_events_rollup; alter table usage_events enable trigger usage_events_settle_reservations; ${BRIN_TIME}; create index usage_events_tenant_time on usage_events (tenant, event_time)`,
  },
];

const eventAt = (i: number, stepMs: number): UsageEvent => ({
  source: "//bench/gateway",
  id: `ev-${i}`,
  tenant: `tenant-${i % 40}`,
  user: `user-${i % 1000}`,
  tier: ["free", "premium", "enterprise"][i % 3],
  model: ["llama", "granite", "mistral"][i % 3],
  time: new Date(Date.UTC(2026, 4, 1) + ((i * stepMs) % 2_592_000_000)).toISOString(),
  inputTokens: 100 + (i % 900),
  outputTokens: 50 + (i % 450),
  requests: 1,
});

/** The statement's parameters for a batch (column arrays, as ingestEvents' fallback builds them). */
const params = (events: readonly UsageEvent[]): unknown[] => [
  events.map((e) => e.source),
  events.map((e) => e.id),
  events.map((e) => e.tenant),
  events.map((e) => e.user ?? null),
  events.map((e) => e.tier),
  events.map((e) => e.model),
  events.map((e) => e.time),
  events.map((e) => String(e.inputTokens)),
  events.map((e) => String(e.outputTokens)),
  events.map((e) => String(e.requests)),
];

export async function profileIngest(events = 100_000, size = 1000, only?: RegExp, rounds = 2, stepMs = 1000): Promise<{ name: string; seconds: number; cpuSeconds: number }[]> {
  const variants = VARIANTS.filter((v, i) => i === 0 || !only || only.test(v.name));
  const db = await startBenchDatabase();
  try {
    const batches = Array.from({ length: events / size }, (_, b) => Array.from({ length: size }, (_, i) => eventAt(b * size + i, stepMs)));
    const postgres = await postmasterPid(db.pool);
    // Each batch commits on its own, as POST /v1/events does (so HOT pruning and WAL flushes are
    // part of the figure); the table is emptied and the variant undone afterwards.
    const run = async (client: PoolClient, v: Variant): Promise<[number, number]> => {
      if (v.setup) await client.query(v.setup);
      try {
        const cpu0 = await treeCpuSeconds(postgres);
        const start = process.hrtime.bigint();
        for (const batch of batches) {
          if (v.path === "statement") await client.query(INSERT_EVENTS_SQL, params(batch));
          else await ingestEvents(db.pool, batch);
        }
        // What the inserts queued is folded on the clock (serve does it in the background).
        await client.query("select ledger_rollup_drain(true)");
        return [seconds(start), (await treeCpuSeconds(postgres)) - cpu0];
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
      // Rounds alternating the variants, best of each: on a shared machine the minimum is the least disturbed.
      const best = new Map<string, [number, number]>();
      for (let round = 0; round < rounds; round++) {
        for (const v of variants) {
          const [wall, cpu] = await run(client, v);
          const seen = best.get(v.name) ?? [Infinity, Infinity];
          best.set(v.name, [Math.min(seen[0], wall), Math.min(seen[1], cpu)]);
        }
      }
      return variants.map((v) => ({ name: v.name, seconds: best.get(v.name)![0], cpuSeconds: best.get(v.name)![1] }));
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
      for (const r of rows)
        console.log(`${r.name.padEnd(66)} ${r.seconds.toFixed(2)} s  ${Math.round(n / r.seconds).toLocaleString("en-US")}/s   PostgreSQL CPU ${((r.cpuSeconds / n) * 1e6).toFixed(1)} µs per event`);
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
