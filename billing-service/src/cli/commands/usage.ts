/** `maas-billing usage --tenant T --from ISO --to ISO [--group-by user,model,tier] [--format json|csv]` */
import { Command } from "commander";
import { loadPriceBook } from "../../pricebook/pricebook";
import { parseGroupBy, queryUsage, usageToCsv } from "../../usage/query";
import { commandConfig, parseInstantFlag, withMigratedDatabase, writeJson } from "../context";

export const usageCommand = (): Command =>
  new Command("usage")
    .description("print a tenant's usage from the ledger (JSON has the total as totalTokens)")
    .requiredOption("--tenant <tenant>", "tenant name")
    .requiredOption("--from <iso>", "start (inclusive), e.g. 2026-05-01T00:00:00Z")
    .requiredOption("--to <iso>", "end (exclusive)")
    .option("--group-by <fields>", "comma-separated: user,model,tier, key (API key id and name, from access logs) or attribute labels")
    .option("--format <format>", "json | csv", "json")
    .action(async (flags: { tenant: string; from: string; to: string; groupBy?: string; format: string }, command: Command) => {
      if (!["json", "csv"].includes(flags.format)) throw new Error(`--format: expected json or csv, got ${JSON.stringify(flags.format)}`);
      const from = parseInstantFlag("--from", flags.from);
      const to = parseInstantFlag("--to", flags.to);
      if (to <= from) throw new Error("--to must be after --from");
      const groupBy = parseGroupBy(flags.groupBy);
      const config = commandConfig(command);
      await withMigratedDatabase(config, async (pool) => {
        // With the configured price book: cost per row, priced and rounded like the invoice.
        const report = await queryUsage(pool, flags.tenant, from, to, groupBy, loadPriceBook(config.priceBook.path));
        if (flags.format === "csv") process.stdout.write(usageToCsv(report));
        else writeJson(report);
      });
    });
