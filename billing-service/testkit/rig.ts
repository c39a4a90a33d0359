/**
 * Test kit: the service rig most HTTP-level tests, attacks and dashboard tests start from: a work
 * directory, a migrated embedded PostgreSQL (testkit/postgres.ts), an optional price book file, and
 * real `maas-billing serve` processes on that database (testkit/service.ts), each with its own data
 * directory and static tokens (the admin `ops` plus the given senders and tenants). stop() kills
 * every service it started, stops PostgreSQL and removes the work directory.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { StaticTokenEntry } from "../src/auth/static";
import { SERVICE_ENV } from "../src/contract/env";
import { startMigratedPostgres, type RunningPostgres } from "./postgres";
import { startService, type ServiceProcess } from "./service";

export interface ServiceRigOptions {
  /** Prefix of the work directory (under the OS temp directory), e.g. "maas-otlp". */
  readonly name: string;
  /** More entries of the tokens file besides the admin token (tenant tokens, senders). */
  readonly tokens?: readonly StaticTokenEntry[];
  /** Price book YAML (testkit/pricebook.ts): written to `<work>/pricebook.yaml`, which the services read. */
  readonly priceBook?: string;
  /** More environment of every service (e.g. LOG_LEVEL, the vocabulary, webhook settings). */
  readonly env?: Record<string, string>;
  /** Connections of the rig's own pool (`db.pool`, for the test's queries). Default 8. */
  readonly poolSize?: number;
}

/** What a further service on the rig's database may change: its tokens and environment. */
export interface RigServiceOptions {
  readonly tokens?: readonly StaticTokenEntry[];
  readonly env?: Record<string, string>;
}

export interface ServiceRig {
  /** The temp directory holding the price book, each service's data directory, and whatever the test adds. */
  readonly work: string;
  readonly db: RunningPostgres;
  /** The first service, started with the rig. */
  readonly service: ServiceProcess;
  /** Starts another service on the same database (a replica, or a differently configured one); stop() kills it too. */
  startService(options?: RigServiceOptions): Promise<ServiceProcess>;
  stop(): Promise<void>;
}

export const startServiceRig = async (options: ServiceRigOptions): Promise<ServiceRig> => {
  const work = await mkdtemp(path.join(os.tmpdir(), `${options.name}-`));
  const services: ServiceProcess[] = [];
  let db: RunningPostgres | undefined;
  const stop = async (): Promise<void> => {
    for (const s of services) await s.kill("SIGTERM");
    await db?.stop();
    await rm(work, { recursive: true, force: true });
  };
  try {
    const env: Record<string, string> = { ...options.env };
    if (options.priceBook !== undefined) {
      const book = path.join(work, "pricebook.yaml");
      await writeFile(book, options.priceBook);
      env[SERVICE_ENV.priceBook] = book;
    }
    db = await startMigratedPostgres({ poolSize: options.poolSize ?? 8 });
    const running = db;
    const start = async (o: RigServiceOptions = {}): Promise<ServiceProcess> => {
      const service = await startService({
        databaseUrl: running.url,
        dataDir: await mkdtemp(path.join(work, "serve-")),
        tokens: o.tokens ?? options.tokens ?? [],
        env: { ...env, ...o.env },
      });
      services.push(service);
      return service;
    };
    const service = await start();
    return { work, db: running, service, startService: start, stop };
  } catch (e) {
    await stop();
    throw e;
  }
};
