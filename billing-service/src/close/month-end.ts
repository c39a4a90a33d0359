/**
 * Month-end close: once a month is over and its grace period (late events, the collector's
 * re-collection) has passed, for every tenant with usage or invoices in that month:
 *   1. build the draft (createInvoice), unless the month already has a final standard invoice;
 *   2. finalize it unless it carries blocking flags (counter resets or scrape gaps: a person
 *      decides those), which stay drafts for review;
 *   3. write the month's exports to the sink (close/sink.ts: a directory on a PVC, or an
 *      S3-compatible bucket): `<month>/focus-1.2.csv` (all final invoices of the month) and
 *      `<month>/invoices/<tenant>.csv`; a file is written atomically, and the same text under the
 *      same key is not written again;
 *   4. record the month in month_end_closes.
 * invoice.created / invoice.finalized / metering.flagged webhooks are written by the invoices'
 * own transactions (migration 31). Idempotent across replicas and restarts: the close of a month
 * runs under a session advisory lock and ends by recording the month; a month already recorded is
 * skipped, so a second run changes nothing. A run that died half-way resumes: finals are kept,
 * drafts are rebuilt, exports rewritten where they differ. Every replica tries hourly; the one that
 * gets the lock (pg_try_advisory_lock) is the only writer of that month, so the sink must be
 * reachable from every replica (a ReadWriteMany volume, or the bucket).
 */
import type { Pool } from "pg";
import { parsePeriod, periodOf, type Period } from "../invoices/periods";
import { invoicesToFocus, invoiceToCsv } from "../invoices/render";
import { createInvoice, finalizeInvoice, getInvoice, type Invoice } from "../invoices/store";
import type { PriceBook } from "../pricebook/pricebook";
import type { ExportSink } from "./sink";

export interface MonthEndOptions {
  /** Time after the end of the month before it is closed. */
  graceMs: number;
  /** Where the exports go (sink.ts: directorySink, s3Sink). */
  sink: ExportSink;
  now?: Date;
}

export interface MonthEndReport {
  period: string;
  status: "closed" | "already closed" | "not yet" | "busy";
  finalized: string[];
  heldForReview: string[];
  /** Locations of the exports (paths, or s3:// URLs without credentials). */
  files: string[];
}

/** Advisory lock namespace of the close ("mclo" as ASCII). */
const CLOSE_LOCK = 0x6d636c6f;

/** The month to close at `now`: the previous one, once its grace period is over. */
export const monthToClose = (now: Date, graceMs: number): Period | undefined => {
  const current = periodOf(now);
  const previous = periodOf(new Date(current.start.getTime() - 1));
  return now.getTime() >= previous.end.getTime() + graceMs ? previous : undefined;
};

const blocking = (inv: Invoice): boolean => Number(inv.flags.counterResets ?? 0) + Number(inv.flags.scrapeGaps ?? 0) > 0;

export const runMonthEndClose = async (pool: Pool, book: PriceBook, options: MonthEndOptions): Promise<MonthEndReport> => {
  const now = options.now ?? new Date();
  const period = monthToClose(now, options.graceMs);
  const label = period?.label ?? periodOf(now).label;
  const report: MonthEndReport = { period: label, status: "not yet", finalized: [], heldForReview: [], files: [] };
  if (!period) return report;
  const client = await pool.connect();
  try {
    const locked = await client.query<{ ok: boolean }>("select pg_try_advisory_lock($1, hashtext($2)) as ok", [CLOSE_LOCK, period.label]);
    if (!locked.rows[0].ok) return { ...report, status: "busy" };
    try {
      if ((await client.query("select 1 from month_end_closes where period = $1", [period.label])).rowCount) return { ...report, status: "already closed" };
      const tenants = (
        await client.query<{ tenant: string }>(
          `select tenant from usage_ledger where window_start >= $1 and window_start < $2
           union select tenant from invoices where period = $3 order by 1`,
          [period.start, period.end, period.label],
        )
      ).rows.map((r) => r.tenant);
      const finals: Invoice[] = [];
      for (const tenant of tenants) {
        const final = await client.query<{ id: string }>("select id from invoices where tenant = $1 and period = $2 and status = 'final' and kind = 'standard'", [tenant, period.label]);
        if (final.rowCount) {
          finals.push(await getInvoice(pool, tenant, final.rows[0].id));
          continue;
        }
        const created = await createInvoice(pool, book, tenant, period.label);
        if (!created.created) continue;
        if (blocking(created.invoice)) {
          report.heldForReview.push(created.invoice.number);
          continue;
        }
        const invoice = await finalizeInvoice(pool, tenant, created.invoice.id);
        report.finalized.push(invoice.number);
        finals.push(invoice);
      }
      const csv = "text/csv; charset=utf-8";
      report.files.push((await options.sink.put(`${period.label}/focus-1.2.csv`, invoicesToFocus(finals), csv)).location);
      for (const inv of finals) report.files.push((await options.sink.put(`${period.label}/invoices/${inv.tenant}.csv`, invoiceToCsv(inv), csv)).location);
      const done = { ...report, status: "closed" as const };
      await client.query("insert into month_end_closes (period, report) values ($1, $2)", [period.label, JSON.stringify(done)]);
      return done;
    } finally {
      await client.query("select pg_advisory_unlock($1, hashtext($2))", [CLOSE_LOCK, period.label]);
    }
  } finally {
    client.release();
  }
};

/** For tests and the CLI: the close of a given month label, as if run at the end of its grace. */
export const closeAt = (label: string, graceMs: number): Date => new Date(parsePeriod(label).end.getTime() + graceMs);
