/** `maas-billing invoice create|finalize|show|list` */
import { Command } from "commander";
import type { Pool } from "pg";
import { invoicesToFocus, invoiceToCsv } from "../../invoices/render";
import { createInvoice, finalizeInvoice, getInvoice, listInvoices, type Invoice } from "../../invoices/store";
import { loadPriceBook } from "../../pricebook/pricebook";
import { commandConfig, withMigratedDatabase, writeJson } from "../context";

const FORMATS = ["json", "csv", "focus"];

const print = (invoice: Invoice, format: string): void => {
  if (format === "csv") process.stdout.write(invoiceToCsv(invoice));
  else if (format === "focus") process.stdout.write(invoicesToFocus([invoice]));
  else writeJson(invoice);
};

const checkFormat = (format: string): void => {
  if (!FORMATS.includes(format)) throw new Error(`--format: expected one of ${FORMATS.join(", ")}, got ${JSON.stringify(format)}`);
};

/** A subcommand that takes one invoice (id or number) of a tenant and prints what `load` returns. */
const addInvoiceCommand = (
  invoice: Command,
  name: string,
  description: string,
  load: (pool: Pool, tenant: string, id: string) => Promise<Invoice>,
): void => {
  invoice
    .command(name)
    .description(description)
    .requiredOption("--tenant <tenant>", "tenant name")
    .argument("<invoice>", "invoice id or number")
    .option("--format <format>", "json | csv | focus", "json")
    .action(async (id: string, flags: { tenant: string; format: string }, command: Command) => {
      checkFormat(flags.format);
      await withMigratedDatabase(commandConfig(command), async (pool) => print(await load(pool, flags.tenant, id), flags.format));
    });
};

export const invoiceCommand = (): Command => {
  const invoice = new Command("invoice").description("build, finalize and show invoices");
  invoice
    .command("create")
    .description("build the draft invoice of a month from the ledger (an adjustment if the month is already final)")
    .requiredOption("--tenant <tenant>", "tenant name")
    .requiredOption("--period <YYYY-MM>", "calendar month (UTC)")
    .option("--format <format>", "json | csv | focus", "json")
    .option("--split-by <what>", "key: one line per API key (key id and name from the access logs)")
    .action(async (flags: { tenant: string; period: string; format: string; splitBy?: string }, command: Command) => {
      checkFormat(flags.format);
      if (flags.splitBy !== undefined && flags.splitBy !== "key") throw new Error(`--split-by: expected "key", got ${JSON.stringify(flags.splitBy)}`);
      const config = commandConfig(command);
      const book = loadPriceBook(config.priceBook.path);
      await withMigratedDatabase(config, async (pool) => {
        const result = await createInvoice(pool, book, flags.tenant, flags.period, flags.splitBy === "key" ? { splitBy: "key" } : {});
        if (result.created) print(result.invoice, flags.format);
        else process.stderr.write(`${result.reason}\n`);
      });
    });
  invoice
    .command("finalize")
    .description("make a draft final and immutable (a draft with a blocking flag needs --accept-flag and --reason)")
    .requiredOption("--tenant <tenant>", "tenant name")
    .argument("<invoice>", "invoice id or number")
    .option("--format <format>", "json | csv | focus", "json")
    .option("--accept-flag <flag>", "accept a blocking flag (meteringShortfall), recorded in the invoice; repeatable", (v: string, prev: string[] = []) => [...prev, v])
    .option("--reason <text>", "why the flag is accepted (required with --accept-flag)")
    .action(async (id: string, flags: { tenant: string; format: string; acceptFlag?: string[]; reason?: string }, command: Command) => {
      checkFormat(flags.format);
      if (flags.acceptFlag !== undefined && (flags.reason === undefined || flags.reason.trim() === "")) throw new Error('--accept-flag needs --reason "..." (it is recorded in the invoice)');
      if (flags.acceptFlag === undefined && flags.reason !== undefined) throw new Error("--reason goes with --accept-flag");
      // The operator's login name as the accepting principal (the CLI runs with database access, i.e. as an admin).
      const by = `cli:${process.env.USER ?? "unknown"}`;
      await withMigratedDatabase(commandConfig(command), async (pool) =>
        print(await finalizeInvoice(pool, flags.tenant, id, flags.acceptFlag ? { accept: { flags: flags.acceptFlag, reason: flags.reason!, by } } : {}), flags.format),
      );
    });
  addInvoiceCommand(invoice, "show", "print one invoice", getInvoice);
  invoice
    .command("list")
    .description("list a tenant's invoices")
    .requiredOption("--tenant <tenant>", "tenant name")
    .option("--period <YYYY-MM>", "only this month")
    .action(async (flags: { tenant: string; period?: string }, command: Command) => {
      await withMigratedDatabase(commandConfig(command), async (pool) => writeJson({ invoices: await listInvoices(pool, flags.tenant, flags.period) }));
    });
  return invoice;
};
