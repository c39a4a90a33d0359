/**
 * The events spool for `serve`: `<data dir>/spool`, limited by `MAAS_BILLING_SPOOL_MAX_BYTES`
 * (default 256 MiB; `0` turns spooling off: events are refused with 503 while the database is down).
 */
import path from "node:path";
import type { Pool } from "pg";
import { SERVICE_ENV } from "../contract";
import { ingestEvents } from "../events/ingest";
import type { UsageEvent } from "../events/schema";
import { DurableIngest, type SpoolLog } from "./durable-ingest";
import { FileSpool } from "./file-spool";

export { DurableIngest, IngestUnavailableError, type IngestOutcome } from "./durable-ingest";

export const DEFAULT_SPOOL_MAX_BYTES = 256 * 1024 * 1024;

export const spoolMaxBytesFromEnv = (env: NodeJS.ProcessEnv): number => {
  const raw = env[SERVICE_ENV.spoolMaxBytes];
  if (raw === undefined || raw.trim() === "") return DEFAULT_SPOOL_MAX_BYTES;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${SERVICE_ENV.spoolMaxBytes}: expected a whole number of bytes >= 0, got "${raw}". Example: 268435456`);
  return n;
};

export const createEventSpool = (options: {
  readonly pool: Pool;
  readonly dataDir: string;
  readonly log: SpoolLog;
  readonly env?: NodeJS.ProcessEnv;
}): DurableIngest<UsageEvent> => {
  const env = options.env ?? process.env;
  const spool = new FileSpool<UsageEvent>(env[SERVICE_ENV.spoolDir] ?? path.join(options.dataDir, "spool"), spoolMaxBytesFromEnv(env)).open();
  return new DurableIngest<UsageEvent>({ insert: (events) => ingestEvents(options.pool, events), spool, log: options.log });
};
