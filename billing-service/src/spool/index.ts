/**
 * The events spool for `serve`: `spool.dir` (default `<data dir>/spool`), limited by
 * `spool.maxBytes` (`MAAS_BILLING_SPOOL_MAX_BYTES`, default 256 MiB; `0` turns spooling off: events
 * are refused with 503 while the database is down). Both are checked with the rest of the config.
 */
import type { Pool } from "pg";
import type { ServiceConfig } from "../config";
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
