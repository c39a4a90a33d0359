/** `maas-billing invoice create|finalize|show|list` */
import { Command } from "commander";
import { invoicesToFocus, invoiceToCsv } from "../../invoices/render";
import { createInvoice, finalizeInvoice, getInvoice, listInvoices, type Invoice } from "../../invoices/store";
import { loadPriceBook } from "../../pricebook/pricebook";
import { commandConfig, openMigrated, writeJson } from "../context";

const FORMATS = ["json", "csv", "focus"];

const print = (invoice: Invoice, format: string): void => {
  if (format === "csv") process.stdout.write(invoiceToCsv(invoice));
  else if (format === "focus") process.stdout.write(invoicesToFocus([invoice]));
  else writeJson(invoice);
};

const checkFormat = (format: string): void => {
  if (!FORMATS.includes(format)) throw new Error(`--format: expected one of ${FORMATS.join(", ")}, got ${JSON.stringify(format)}`);
};

export const invoiceCommand = (): Command => {
  const invoice = new Command("invoice").description("build, finalize and show invoices");
  invoice
    .command("create")
    .description("build the draft invoice of a month from the ledger (an adjustment if the month is already final)")
    .requiredOption("--tenant <tenant>", "tenant name")
    .requiredOption("--period <YYYY-MM>", "calendar month (UTC)")
    .option("--format <format>", "json | csv | focus", "json")
    .action(async (flags: { tenant: string; period: string; format: string }, command: Command) => {
      checkFormat(flags.format);
      const config = commandConfig(command);
      const book = loadPriceBook(config.priceBookPath);
      const db = await openMigrated(config);
      try {
        const result = await createInvoice(db.pool, book, flags.tenant, flags.period);
        if (!result.created) {
          process.stderr.write(`${result.reason}\n`);
          return;
        }
        print(result.invoice, flags.format);
      } finally {
        await db.close();
      }
    });
  invoice
    .command("finalize")
    .description("make a draft final and immutable")
    .requiredOption("--tenant <tenant>", "tenant name")
    .argument("<invoice>", "invoice id or number")
    .option("--format <format>", "json | csv | focus", "json")
    .action(async (id: string, flags: { tenant: string; format: string }, command: Command) => {
      checkFormat(flags.format);
      const db = await openMigrated(commandConfig(command));
      try {
        print(await finalizeInvoice(db.pool, flags.tenant, id), flags.format);
      } finally {
        await db.close();
      }
    });
  invoice
    .command("show")
    .description("print one invoice")
    .requiredOption("--tenant <tenant>", "tenant name")
    .argument("<invoice>", "invoice id or number")
    .option("--format <format>", "json | csv | focus", "json")
    .action(async (id: string, flags: { tenant: string; format: string }, command: Command) => {
      checkFormat(flags.format);
      const db = await openMigrated(commandConfig(command));
      try {
        print(await getInvoice(db.pool, flags.tenant, id), flags.format);
      } finally {
        await db.close();
      }
    });
  invoice
    .command("list")
    .description("list a tenant's invoices")
    .requiredOption("--tenant <tenant>", "tenant name")
    .option("--period <YYYY-MM>", "only this month")
    .action(async (flags: { tenant: string; period?: string }, command: Command) => {
      const db = await openMigrated(commandConfig(command));
      try {
        writeJson({ invoices: await listInvoices(db.pool, flags.tenant, flags.period) });
      } finally {
        await db.close();
      }
    });
  return invoice;
};
