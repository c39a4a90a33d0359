/** `maas-billing migrate`: apply pending schema migrations and exit. */
import { Command } from "commander";
import { migrate } from "../../db/migrate";
import { openDatabase } from "../../db/open";
import { commandConfig, writeJson } from "../context";

export const migrateCommand = (): Command =>
  new Command("migrate").description("apply pending database migrations (forward-only) and exit").action(async (_flags: object, command: Command) => {
    const config = commandConfig(command);
    const db = await openDatabase(config);
    try {
      const result = await migrate(db.pool);
      writeJson({ applied: result.applied, current: result.current, embedded: db.embedded });
    } finally {
      await db.close();
    }
  });
