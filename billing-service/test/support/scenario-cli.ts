/**
 * Runs `collect` as its own process, the way an operator does, against DATABASE_URL.
 * (Stand-in for bin/maas-billing until the service's main.ts registers the command.)
 */
import { Command } from "commander";
import pg from "pg";
import { collectCommand } from "../../src/cli/commands/collect";

const program = new Command("maas-billing").addCommand(
  collectCommand(async () => {
    const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
    return { pool, close: () => pool.end() };
  }),
);
program.parseAsync(process.argv).catch((e: Error) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(2);
});
