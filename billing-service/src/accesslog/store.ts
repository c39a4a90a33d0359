/**
 * The one insert path for access-log rows (the durable spool and the benchmark wrap it): one
 * statement per batch, idempotent on (tenant, source, record_id) (enforced by the primary key
 * (tenant, event_time, source, record_id), migration 067: a record id fixes the event time): a COPY
 * when every row of the batch is new (db/copy-first.ts: the cheaper path for PostgreSQL), else the upsert through
 * unnest'ed column arrays, where a copy with more tokens than the stored row (the real usage
 * after a streaming record's "0") completes it and any other copy changes nothing.
 */
import type { Pool, PoolClient } from "pg";
import { copyFirst, copyText } from "../db/copy-first";
import { foldCopies, type AccessLogRow } from "./records";

export interface AccessLogInsertResult {
  /** New rows (requests not seen before). */
  readonly accepted: number;
  /** Copies of stored or repeated rows that changed nothing, plus copies folded within the batch. */
  readonly duplicates: number;
  /** Stored rows completed by a copy with more tokens. */
  readonly completed: number;
}

// The answer is two counts, not a row per record: returning 1,000 rows per batch cost about a
// fifth of the statement (bench/otlp-profile.ts).
export const UPSERT_ACCESS_LOG_SQL = `
with upserted as (
insert into access_log_usage as t (tenant, source, record_id, time_unix_nano, event_time, user_id, tier, model, key_id, key_name,
  organization_id, groups, response_code, response_type, input_tokens, output_tokens, total_tokens, billable)
select u.tenant, u.source, u.record_id, u.ns, access_log_event_time(u.ns), u.user_id, u.tier, u.model,
       u.key_id, u.key_name, u.org, u.groups, u.code, u.type, u.i, u.o, u.total, u.billable
  from unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
              $11::text[], $12::int[], $13::text[], $14::bigint[], $15::bigint[], $16::bigint[], $17::boolean[])
       as u(tenant, source, record_id, ns, user_id, tier, model, key_id, key_name, org, groups, code, type, i, o, total, billable)
on conflict (tenant, event_time, source, record_id) do update
   set input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, total_tokens = excluded.total_tokens,
       response_code = excluded.response_code, response_type = excluded.response_type, updated_at = now()
 where excluded.input_tokens + excluded.output_tokens + excluded.total_tokens > t.input_tokens + t.output_tokens + t.total_tokens
returning (xmax = 0) as inserted)
select count(*) filter (where inserted)::int as accepted, count(*)::int as changed from upserted`;

export const COPY_ACCESS_LOG_SQL = `copy access_log_usage (tenant, source, record_id, time_unix_nano, event_time, user_id, tier, model, key_id, key_name,
  organization_id, groups, response_code, response_type, input_tokens, output_tokens, total_tokens, billable) from stdin`;

/**
 * event_time of a row as the upsert computes it in SQL (access_log_event_time(ns), migration 067):
 * the record's Unix nanoseconds truncated to the microsecond, in UTC. Both paths must agree to the
 * microsecond: event_time is part of the key a retry meets (test/accesslog-time-key.test.ts).
 * The general form (BigInt and Date per call); accessLogCopyText takes a cheaper road for the
 * usual timestamps, checked equal to this one byte for byte (test/accesslog-fast-path.test.ts).
 */
export const eventTimeOfNanos = (timeUnixNano: string): string => {
  const micros = BigInt(timeUnixNano) / 1000n;
  const iso = new Date(Number(micros / 1000n)).toISOString();
  return `${iso.slice(0, 19)}.${(micros % 1_000_000n).toString().padStart(6, "0")}+00`;
};

/** Unix nanoseconds of 10 to 19 digits without a leading zero (1970-01-01T00:00:01 up to 2286). */
const PLAIN_NANOS = /^[1-9]\d{9,18}$/;

/**
 * The batch in COPY's text format, the columns of COPY_ACCESS_LOG_SQL, as UTF-8: what
 * `copyLines(rows, r => [r.tenant, ..., eventTimeOfNanos(r.timeUnixNano), ...])` writes, byte for
 * byte (test/accesslog-fast-path.test.ts checks it against that), but cheaper per row:
 *   - no array, map and join per row;
 *   - no BigInt and Date per row: event_time of a decimal timestamp of 10 to 19 digits is cut from
 *     its text (seconds and microseconds), the date of its second reused while the batch stays in
 *     that second (a batch spans a few seconds at most, usually); any other text takes
 *     eventTimeOfNanos;
 *   - each line is encoded into one growing buffer as it is built, instead of one string of the
 *     whole batch that is flattened and then encoded again when it is sent.
 */
export const accessLogCopyText = (rows: readonly AccessLogRow[]): Buffer => {
  let buf = Buffer.allocUnsafe(rows.length * 320);
  let length = 0;
  let second = "";
  let secondIso = "";
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const t = r.timeUnixNano;
    let eventTime: string;
    if (PLAIN_NANOS.test(t)) {
      const s = t.slice(0, -9);
      if (s !== second) {
        second = s;
        secondIso = new Date(Number(s) * 1000).toISOString().slice(0, 19);
      }
      eventTime = `${secondIso}.${t.slice(-9, -3)}+00`;
    } else eventTime = eventTimeOfNanos(t);
    // Every value through copyText, as copyLines does (a row replayed from the spool is escaped alike).
    const line =
      `${copyText(r.tenant)}\t${copyText(r.source)}\t${copyText(r.recordId)}\t${copyText(t)}\t${eventTime}\t${copyText(r.user)}\t${copyText(r.tier)}\t` +
      `${copyText(r.model)}\t${copyText(r.keyId)}\t${copyText(r.keyName)}\t${copyText(r.organizationId)}\t${copyText(r.groups)}\t${copyText(r.responseCode)}\t` +
      `${copyText(r.responseType)}\t${copyText(r.inputTokens)}\t${copyText(r.outputTokens)}\t${copyText(r.totalTokens)}\t${copyText(r.billable)}\n`;
    // At most 3 UTF-8 bytes per UTF-16 code unit: with that much room the write never truncates.
    if (buf.length - length < 3 * line.length) {
      const bigger = Buffer.allocUnsafe(Math.max(2 * buf.length, length + 3 * line.length));
      buf.copy(bigger, 0, 0, length);
      buf = bigger;
    }
    length += buf.write(line, length, "utf8");
  }
  return buf.subarray(0, length);
};

export const upsertAccessLogRows = async (db: Pool | PoolClient, rows: readonly AccessLogRow[]): Promise<AccessLogInsertResult> => {
  if (rows.length === 0) return { accepted: 0, duplicates: 0, completed: 0 };
  const folded = foldCopies(rows);
  return copyFirst(
    db,
    {
      sql: COPY_ACCESS_LOG_SQL,
      rows: folded.length,
      countedByTable: true,
      text: () => accessLogCopyText(folded),
      // Every row new: accepted, and the copies folded within the batch are duplicates.
      result: (copied) => ({ accepted: copied, completed: 0, duplicates: rows.length - copied }),
    },
    () => upsertFolded(db, rows, folded),
  );
};

/** The idempotent upsert of a batch's folded rows (`rows`: the batch as received, for the counts). */
const upsertFolded = async (db: Pool | PoolClient, rows: readonly AccessLogRow[], folded: readonly AccessLogRow[]): Promise<AccessLogInsertResult> => {
  const n = folded.length;
  const col = <T>(f: (r: AccessLogRow) => T): T[] => {
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) out[i] = f(folded[i]);
    return out;
  };
  const result = await db.query<{ accepted: number; changed: number }>(UPSERT_ACCESS_LOG_SQL, [
    col((r) => r.tenant),
    col((r) => r.source),
    col((r) => r.recordId),
    col((r) => r.timeUnixNano),
    col((r) => r.user),
    col((r) => r.tier),
    col((r) => r.model),
    col((r) => r.keyId),
    col((r) => r.keyName),
    col((r) => r.organizationId),
    col((r) => r.groups),
    col((r) => r.responseCode),
    col((r) => r.responseType),
    col((r) => String(r.inputTokens)),
    col((r) => String(r.outputTokens)),
    col((r) => String(r.totalTokens)),
    col((r) => r.billable),
  ]);
  const { accepted, changed } = result.rows[0];
  const completed = changed - accepted;
  return { accepted, completed, duplicates: rows.length - accepted - completed };
};
