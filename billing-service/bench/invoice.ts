/*
 * Invoice benchmark: a ledger of 10 million event rows (40 tenants x 12 months, generated in SQL),
 * then the time to build one tenant-month's draft (`createInvoice`: groups from the hourly rollup,
 * lineage per group, priced lines, totals) against a naive full scan computing the same
 * per-(tier, model) totals with index scans turned off, in the same run and database; and, for
 * the log, the same groups read row by row through the index, and the finalization (per-row
 * snapshot of the tenant-month).
 */
import { withRollback } from "../src/db/transaction";
import { ledgerGroups, type TenantMonth } from "../src/invoices/draft-groups";
import { createInvoice, finalizeInvoice } from "../src/invoices/store";
import { parsePriceBook, versionsInRange, type PriceBook } from "../src/pricebook/pricebook";
import { BASE_PRICES, priceBookYaml } from "../testkit/pricebook";
import { seconds, startBenchDatabase, type Pool } from "./setup";
import { fmtSeconds } from "./table";

export interface InvoiceFigures {
  ledgerRows: number;
  tenantMonthRows: number;
  loadSeconds: number;
  draftSeconds: number;
  scanSeconds: number;
  /** The draft's groups from the tenant-month's ledger rows through the index (the pre-rollup read). */
  rowReadSeconds: number;
  /** Finalizing the draft: the per-row snapshot of the tenant-month and its check. */
  finalizeSeconds: number;
  totalMinor: string;
  /** The same draft when the ledger held a tenth of the rows (growth). */
  tenthLedgerRows: number;
  tenthTenantMonthRows: number;
  tenthDraftSeconds: number;
  /** The same draft at every smaller ledger size asked for (growth; the tenth is the last). */
  points: Array<{ ledgerRows: number; tenantMonthRows: number; draftSeconds: number }>;
}

const TENANTS = 40;
const FIRST_MONTH = "2025-06-01";
const MONTHS = 12;
const PRICE_BOOK = priceBookYaml([{ effectiveFrom: "2025-01-01T00:00:00Z", prices: BASE_PRICES }]);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Adds ledger rows `from` .. `to - 1` the way one restores a dump (indexes, key and rollup rebuilt after). */
const load = async (pool: Pool, from: number, to: number): Promise<void> => {
  // Without the indexes and the rollup trigger, which are rebuilt from their own definitions
  // afterwards (usage_hourly is not read by invoices; usage_rollup is).
  const indexes = (await pool.query<{ def: string }>("select indexdef as def from pg_indexes where tablename = 'usage_events' and indexname <> 'usage_events_pkey'")).rows.map((r) => r.def);
  const pk = (await pool.query<{ def: string }>("select pg_get_constraintdef(oid) as def from pg_constraint where conname = 'usage_events_pkey'")).rows[0].def;
  await pool.query("alter table usage_events disable trigger usage_events_rollup");
  await pool.query("alter table usage_events drop constraint usage_events_pkey");
  for (const def of indexes) await pool.query(`drop index ${/INDEX (\S+) ON/.exec(def)![1]}`);
  const parts = 4;
  const per = Math.ceil((to - from) / parts);
  await Promise.all(
    Array.from({ length: parts }, (_, p) =>
      pool.query(
        `insert into usage_events (source, event_id, tenant, user_id, tier, model, event_time, input_tokens, output_tokens, requests)
         select '//bench', 'ev-' || g, 'tenant-' || lpad((g % ${TENANTS})::text, 2, '0'), 'user-' || (g % 997),
                (array['free','premium','enterprise'])[1 + g % 3], (array['llama','granite','mistral','qwen'])[1 + g % 4],
                timestamptz '${FIRST_MONTH}' + ((g::bigint * 7919) % (${MONTHS} * 30 * 86400)) * interval '1 second',
                50 + g % 950, 20 + g % 480, 1
           from generate_series($1::bigint, $2::bigint) g`,
        [from + p * per, Math.min(to, from + (p + 1) * per) - 1],
      ),
    ),
  );
  await pool.query("set maintenance_work_mem = '512MB'");
  await pool.query(`alter table usage_events add constraint usage_events_pkey ${pk}`);
  for (const def of indexes) await pool.query(def);
  // The rollup the trigger would have kept, rebuilt in one pass (as migration 070 does for the rows
  // stored before it).
  await pool.query("delete from usage_rollup");
  await pool.query(
    `insert into usage_rollup (tenant, hour, tier, model, dimensions, origin, input_tokens, output_tokens, requests, ledger_rows, resets, gaps, first_window, last_window)
     select tenant, date_trunc('hour', event_time, 'UTC'), tier, model, dimensions, 'events',
            sum(input_tokens), sum(output_tokens), sum(requests), count(*), 0, 0, min(event_time), max(event_time)
       from usage_events group by 1, 2, 3, 4, 5`,
  );
  await pool.query("alter table usage_events enable trigger usage_events_rollup");
  await pool.query("vacuum analyze usage_events");
  await pool.query("vacuum analyze usage_rollup");
};

/** Median of 3 drafts of the bench tenant-month (`createInvoice`, each replacing the previous draft). */
const drafts = async (pool: Pool, book: PriceBook): Promise<{ seconds: number; id: string; totalMinor: string; rows: number }> => {
  // One untimed draft first: the first in a process pays for connections, JIT and query plans.
  await createInvoice(pool, book, TENANT, PERIOD);
  const times: number[] = [];
  let last: { id: string; totalMinor: string; rows: number } | undefined;
  for (let i = 0; i < 3; i++) {
    const start = process.hrtime.bigint();
    const r = await createInvoice(pool, book, TENANT, PERIOD);
    times.push(seconds(start));
    if (!r.created) throw new Error(`invoice bench: no draft (${r.reason})`);
    last = { id: r.invoice.id, totalMinor: r.invoice.totalMinor, rows: r.invoice.ledgerRows };
  }
  return { seconds: median(times), ...last! };
};

const TENANT = "tenant-07";
const PERIOD = "2026-05";

/**
 * `smaller`: ledger sizes (ascending, below `rows`) at which the same tenant-month is drafted first,
 * in the one ledger as it grows (growth rows); the default is a tenth of `rows`.
 */
export async function benchInvoice(rows = 10_000_000, log: (s: string) => void = () => {}, smaller: readonly number[] = [Math.floor(rows / 10)]): Promise<InvoiceFigures> {
  const db = await startBenchDatabase();
  try {
    const { pool } = db;
    const book = parsePriceBook(PRICE_BOOK, "bench price book");
    // Growth: the same tenant-month drafted in the ledger at each smaller size, then at all of it.
    const points: InvoiceFigures["points"] = [];
    let loaded = 0;
    for (const size of smaller) {
      const loadStart = process.hrtime.bigint();
      await load(pool, loaded, size);
      loaded = size;
      const at = await drafts(pool, book);
      points.push({ ledgerRows: size, tenantMonthRows: at.rows, draftSeconds: at.seconds });
      log(`invoice: ${size.toLocaleString("en-US")} ledger rows (loaded in ${seconds(loadStart).toFixed(1)} s): draft of ${at.rows} rows ${fmtSeconds(at.seconds)}`);
    }
    const small = loaded;
    const atTenth = { rows: points[points.length - 1].tenantMonthRows, seconds: points[points.length - 1].draftSeconds };
    const loadStart = process.hrtime.bigint();
    await load(pool, small, rows);
    const loadSeconds = seconds(loadStart);
    const ledgerRows = Number((await pool.query("select count(*) as n from usage_ledger")).rows[0].n);
    const size = (
      await pool.query<{ events: string; rollup: string; rollup_rows: string }>(
        "select pg_total_relation_size('usage_events')::text as events, pg_total_relation_size('usage_rollup')::text as rollup, (select count(*) from usage_rollup)::text as rollup_rows",
      )
    ).rows[0];
    log(
      `invoice: ${ledgerRows.toLocaleString("en-US")} ledger rows loaded in ${loadSeconds.toFixed(1)} s; usage_events with its indexes ${(Number(size.events) / 2 ** 30).toFixed(2)} GiB (${Math.round(Number(size.events) / ledgerRows)} bytes per row), usage_rollup ${Number(size.rollup_rows).toLocaleString("en-US")} rows ${(Number(size.rollup) / 2 ** 20).toFixed(0)} MiB`,
    );

    const tenant = TENANT;
    const full = await drafts(pool, book);
    const draftId = full.id;
    const totalMinor = full.totalMinor;
    const tenantMonthRows = full.rows;
    // The same groups read row by row through the (tenant, event_time) index: what drafts read
    // before the rollup (the ledger rows of the tenant-month, not the whole ledger).
    const month: TenantMonth = { tenant, start: new Date("2026-05-01T00:00:00Z"), end: new Date("2026-06-01T00:00:00Z"), versions: versionsInRange(book, new Date("2026-05-01T00:00:00Z"), new Date("2026-06-01T00:00:00Z")) };
    const rowReads: number[] = [];
    for (let i = 0; i < 3; i++) {
      const start = process.hrtime.bigint();
      await withRollback(pool, (c) => ledgerGroups(c, month));
      rowReads.push(seconds(start));
    }
    // Finalizing copies the tenant-month's rows into the invoice's snapshot (once per month).
    const finalStart = process.hrtime.bigint();
    await finalizeInvoice(pool, tenant, draftId);
    const finalizeSeconds = seconds(finalStart);
    // The naive way: the same totals by reading the whole ledger.
    const scans: number[] = [];
    let scanRows = 0;
    for (let i = 0; i < 3; i++) {
      const client = await pool.connect();
      try {
        await client.query("begin");
        await client.query("set local enable_indexscan = off; set local enable_bitmapscan = off; set local enable_indexonlyscan = off");
        const start = process.hrtime.bigint();
        const res = await client.query(
          `select tier, model, sum(input_tokens) i, sum(output_tokens) o, sum(requests) r, count(*) n from usage_ledger
            where tenant = $1 and window_start >= $2 and window_start < $3 group by 1, 2`,
          [tenant, "2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z"],
        );
        scans.push(seconds(start));
        scanRows = res.rows.reduce((a, r) => a + Number(r.n), 0);
        await client.query("commit");
      } finally {
        client.release();
      }
    }
    if (scanRows !== tenantMonthRows) throw new Error(`invoice bench: scan saw ${scanRows} rows, the draft ${tenantMonthRows}`);
    return {
      ledgerRows,
      tenantMonthRows,
      loadSeconds,
      draftSeconds: full.seconds,
      scanSeconds: median(scans),
      rowReadSeconds: median(rowReads),
      finalizeSeconds,
      totalMinor,
      tenthLedgerRows: small,
      tenthTenantMonthRows: atTenth.rows,
      tenthDraftSeconds: atTenth.seconds,
      points,
    };
  } finally {
    await db.stop();
  }
}
