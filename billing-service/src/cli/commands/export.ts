/** `maas-billing export --period YYYY-MM [--tenant T] [--format focus|csv|json] [--include-drafts]` */
import { Command } from "commander";
import { invoicesToFocus, invoiceToCsv } from "../../invoices/render";
import { getInvoice, type Invoice } from "../../invoices/store";
import { commandConfig, withMigratedDatabase, writeJson } from "../context";

export const exportCommand = (): Command =>
  new Command("export")
    .description("export the invoices of a month (all tenants unless --tenant) as FOCUS CSV, CSV or JSON")
    .requiredOption("--period <YYYY-MM>", "calendar month (UTC)")
    .option("--tenant <tenant>", "only this tenant")
    .option("--format <format>", "focus | csv | json", "focus")
    .option("--include-drafts", "also export draft invoices (default: final ones only)")
    .action(async (flags: { period: string; tenant?: string; format: string; includeDrafts?: boolean }, command: Command) => {
      if (!["focus", "csv", "json"].includes(flags.format)) throw new Error(`--format: expected focus, csv or json, got ${JSON.stringify(flags.format)}`);
      await withMigratedDatabase(commandConfig(command), async (pool) => {
        const heads = await pool.query<{ id: string; tenant: string }>(
          `select id::text, tenant from invoices where period = $1 and ($2::text is null or tenant = $2) and ($3 or status = 'final') order by tenant, id`,
          [flags.period, flags.tenant ?? null, flags.includeDrafts === true],
        );
        const invoices: Invoice[] = [];
        for (const h of heads.rows) invoices.push(await getInvoice(pool, h.tenant, h.id));
        if (flags.format === "json") writeJson({ invoices });
        else if (flags.format === "csv") process.stdout.write(invoices.map((i, n) => (n === 0 ? invoiceToCsv(i) : invoiceToCsv(i).split("\n").slice(1).join("\n"))).join(""));
        else process.stdout.write(invoicesToFocus(invoices));
      });
    });
