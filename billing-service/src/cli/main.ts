/**
 * `maas-billing`: one binary for the billing service. Subcommands:
 *   serve | migrate | collect | usage | invoice create|finalize|show|list | export | quota set|list | token create
 * Config comes from the environment and flags, parsed once per command (src/config.ts); without DATABASE_URL every command
 * uses an embedded PostgreSQL in --data-dir / MAAS_BILLING_DATA_DIR (default ./.maas-billing).
 */
import { Command, CommanderError } from "commander";
import { ConfigError } from "../config";
import { collectCommand } from "./commands/collect";
import { exportCommand } from "./commands/export";
import { invoiceCommand } from "./commands/invoice";
import { migrateCommand } from "./commands/migrate";
import { quotaCommand } from "./commands/quota";
import { serveCommand } from "./commands/serve";
import { tokenCommand } from "./commands/token";
import { usageCommand } from "./commands/usage";

export const buildProgram = (): Command => {
  const program = new Command("maas-billing")
    .description("usage ledger, price book, quotas and invoices for maas-billing")
    .option("--data-dir <dir>", "embedded PostgreSQL and local state when DATABASE_URL is unset (env MAAS_BILLING_DATA_DIR, default ./.maas-billing)")
    .option("--price-book <path>", "price book YAML (env MAAS_BILLING_PRICE_BOOK, default: the shipped example book)")
    .option("--log-level <level>", "fatal|error|warn|info|debug|trace|silent (env LOG_LEVEL, default info)")
    .showHelpAfterError();
  program.addCommand(serveCommand());
  program.addCommand(migrateCommand());
  program.addCommand(collectCommand());
  program.addCommand(usageCommand());
  program.addCommand(invoiceCommand());
  program.addCommand(exportCommand());
  program.addCommand(quotaCommand());
  program.addCommand(tokenCommand());
  return program;
};

/** Runs the CLI on process.argv (called by bin/maas-billing.cjs). */
export const run = (): void => {
  buildProgram()
    .exitOverride()
    .parseAsync(process.argv)
    .catch((e: unknown) => {
      if (e instanceof CommanderError) {
        process.exit(e.exitCode);
      }
      const message = e instanceof ConfigError ? e.message : `error: ${(e as Error).message}`;
      process.stderr.write(`${message}\n`);
      process.exit(e instanceof ConfigError ? 2 : 1);
    });
};

if (require.main === module) run();
