/**
 * The one insert path for usage events (the durable spool and benchmarks wrap this function).
 * A batch is one statement, so the whole batch lands or nothing does: a COPY when every event is
 * new (db/copy-first.ts: the cheaper path for PostgreSQL), else column arrays through unnest,
 * ON CONFLICT (tenant, source, event_id) DO NOTHING, so re-sent events are no-ops. The key
 * includes the tenant (migration 010): an event of one tenant can never make another tenant's
 * event with the same (source, id) a duplicate, nor tell that it exists.
 */
import type { Pool, PoolClient } from "pg";
import { copyFirst, copyLines } from "../db/copy-first";
import type { UsageEvent } from "./schema";

export interface IngestResult {
  /** Events stored by this call. */
  readonly accepted: number;
  /** Events whose (tenant, source, id) was already stored (earlier call or earlier in this batch). */
  readonly duplicates: number;
}

export const INSERT_EVENTS_SQL = `
insert into usage_events (source, event_id, tenant, user_id, tier, model, event_time, input_tokens, output_tokens, requests)
select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::bigint[], $9::bigint[], $10::bigint[])
on conflict (tenant, source, event_id) do nothing`;

export const COPY_EVENTS_SQL = "copy usage_events (source, event_id, tenant, user_id, tier, model, event_time, input_tokens, output_tokens, requests) from stdin";

export const ingestEvents = async (db: Pool | PoolClient, events: readonly UsageEvent[]): Promise<IngestResult> => {
  if (events.length === 0) return { accepted: 0, duplicates: 0 };
  return copyFirst(
    db,
    {
      sql: COPY_EVENTS_SQL,
      rows: events.length,
      text: () => copyLines(events, (e) => [e.source, e.id, e.tenant, e.user, e.tier, e.model, e.time, e.inputTokens, e.outputTokens, e.requests]),
      result: (copied) => ({ accepted: copied, duplicates: events.length - copied }),
    },
    () => insertEvents(db, events),
  );
};

/** The idempotent statement: ON CONFLICT DO NOTHING, so a stored or repeated event is a duplicate. */
const insertEvents = async (db: Pool | PoolClient, events: readonly UsageEvent[]): Promise<IngestResult> => {
  const n = events.length;
  const cols = {
    source: new Array<string>(n),
    id: new Array<string>(n),
    tenant: new Array<string>(n),
    user: new Array<string | null>(n),
    tier: new Array<string>(n),
    model: new Array<string>(n),
    time: new Array<string>(n),
    input: new Array<string>(n),
    output: new Array<string>(n),
    requests: new Array<string>(n),
  };
  for (let i = 0; i < n; i++) {
    const e = events[i];
    cols.source[i] = e.source;
    cols.id[i] = e.id;
    cols.tenant[i] = e.tenant;
    cols.user[i] = e.user ?? null;
    cols.tier[i] = e.tier;
    cols.model[i] = e.model;
    cols.time[i] = e.time;
    cols.input[i] = String(e.inputTokens);
    cols.output[i] = String(e.outputTokens);
    cols.requests[i] = String(e.requests);
  }
  const result = await db.query(INSERT_EVENTS_SQL, [
    cols.source,
    cols.id,
    cols.tenant,
    cols.user,
    cols.tier,
    cols.model,
    cols.time,
    cols.input,
    cols.output,
    cols.requests,
  ]);
  const accepted = result.rowCount ?? 0;
  return { accepted, duplicates: n - accepted };
};
