/**
 * A throw-away embedded PostgreSQL for the collector tests: its own temp directory and port.
 */
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { startPostgres, type RunningPostgres } from "../../demo/lib/postgres-process";

export type TestPostgres = RunningPostgres;

export const startTestPostgres = async (): Promise<TestPostgres> =>
  startPostgres(await mkdtemp(path.join(os.tmpdir(), "maas-collector-pg-")));
