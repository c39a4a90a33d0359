/**
 * `maas-billing migrate`: apply pending schema migrations and exit. Run it as the schema owner; with
 * MAAS_BILLING_APP_DB_ROLE/PASSWORD it also creates or updates the service's app role (db/roles.ts).
 */
import { Command } from "commander";
import { openDatabase } from "../../db/open";
import { commandConfig, writeJson } from "../context";

export const migrateCommand = (): Command =>
  new Command("migrate").description("apply pending database migrations (forward-only) and exit").action(async (_flags: object, command: Command) => {
    const config = commandConfig(command);
    const db = await openDatabase(config);
    try {
      const result = await db.migrate();
      writeJson({ applied: result.applied, current: result.current, embedded: db.embedded });
    } finally {
      await db.close();
    }
  });
