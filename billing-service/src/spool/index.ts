/**
 * The events spool for `serve`: `spool.dir` (default `<data dir>/spool`), limited by
 * `spool.maxBytes` (`MAAS_BILLING_SPOOL_MAX_BYTES`, default 256 MiB; `0` turns spooling off: events
 * are refused with 503 while the database is down). Both are checked with the rest of the config.
 */
import path from "node:path";
import type { Pool } from "pg";
import type { ServiceConfig } from "../config";
import { upsertAccessLogRows } from "../accesslog/store";
import type { AccessLogRow } from "../accesslog/records";
import { ingestEvents } from "../events/ingest";
import type { UsageEvent } from "../events/schema";
import { DurableIngest, type SpoolLog } from "./durable-ingest";
import { FileSpool } from "./file-spool";

export { DurableIngest, IngestUnavailableError, type IngestOutcome } from "./durable-ingest";

export const createEventSpool = (options: {
  readonly pool: Pool;
  readonly spool: ServiceConfig["spool"];
  readonly log: SpoolLog;
}): DurableIngest<UsageEvent> => {
  const spool = new FileSpool<UsageEvent>(options.spool.dir, options.spool.maxBytes).open();
  return new DurableIngest<UsageEvent>({ insert: (events) => ingestEvents(options.pool, events), spool, log: options.log });
};

/**
 * The access-log spool (POST /v1/logs): `<spool dir>/access-logs`, its own queue with the same
 * limit, so access-log batches are replayed in their own order through their own insert path.
 */
export const createAccessLogSpool = (options: {
  readonly pool: Pool;
  readonly spool: ServiceConfig["spool"];
  readonly log: SpoolLog;
}): DurableIngest<AccessLogRow> => {
  const spool = new FileSpool<AccessLogRow>(path.join(options.spool.dir, "access-logs"), options.spool.maxBytes).open();
  return new DurableIngest<AccessLogRow>({ insert: (rows) => upsertAccessLogRows(options.pool, rows), spool, log: options.log });
};
