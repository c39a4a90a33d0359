/**
 * What every subcommand shares: the global flags, the validated config (parsed once per command,
 * before the database is opened) and the database opener (DATABASE_URL or the embedded
 * PostgreSQL in the data directory, migrated before use).
 */
import type { Command } from "commander";
import type { Pool } from "pg";
import { loadConfig, type ConfigFlags, type ServiceConfig } from "../config";
import { openDatabase, type OpenedDatabase } from "../db/open";

export interface GlobalFlags {
  dataDir?: string;
  priceBook?: string;
  logLevel?: string;
}

/** Config from the environment, the program's global flags and the command's own flags. */
export const commandConfig = (command: Command, own: ConfigFlags = {}): ServiceConfig => {
  const globals = command.optsWithGlobals() as GlobalFlags;
  return loadConfig({ dataDir: globals.dataDir, priceBook: globals.priceBook, logLevel: globals.logLevel, ...own });
};

/** Opens and migrates the database (migrations run at start of every command that uses it). */
export const openMigrated = async (config: Pick<ServiceConfig, "database" | "dataDir">): Promise<OpenedDatabase> => {
  const db = await openDatabase(config);
  try {
    await db.migrate();
  } catch (e) {
    await db.close();
    throw e;
  }
  return db;
};

/** Runs `work` on the migrated database, then closes it (also when `work` throws). */
export const withMigratedDatabase = async <T>(config: Pick<ServiceConfig, "database" | "dataDir">, work: (pool: Pool) => Promise<T>): Promise<T> => {
  const db = await openMigrated(config);
  try {
    return await work(db.pool);
  } finally {
    await db.close();
  }
};

/** An ISO date or date-time flag value; the error names the flag. */
export const parseInstantFlag = (flag: string, value: string): Date => {
  const d = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(d.getTime())) throw new Error(`${flag}: expected an ISO date or date-time, got ${JSON.stringify(value)}`);
  return d;
};

export const writeJson = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};
