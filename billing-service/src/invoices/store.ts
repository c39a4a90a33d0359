/**
 * Invoices in the database: build a draft from the ledger (or an adjustment when the period's
 * invoice is already final), finalize, read. Immutability of final invoices is enforced by
 * triggers (migration 003); this module never needs to "remember" not to edit them.
 */
import { createHash } from "node:crypto";
import type { Pool, PoolClient } from "pg";
import { withRollback, withTransaction } from "../db/transaction";
import { formatScaled } from "../pricebook/money";
import { METERING_SHORTFALL, METERING_SHORTFALL_BILLED, meteringShortfall, meteringShortfallBilled, unacceptedBlockingFlags, type FlagAcceptance } from "./shortfall";
import { versionsInRange, type PriceBook } from "../pricebook/pricebook";
import { parsePeriod } from "./periods";
import { priceGroups, type UsageGroup } from "./pricing";
import { GROUP_DIMENSIONS, groupFromRow, rollupGroups, versionWindow, type TenantMonth } from "./draft-groups";

export const ROUNDING_RULE =
  "exact total rounded half away from zero to the minor unit; lines rounded down, leftover minor units to the largest remainders";

export class InvoiceNotFoundError extends Error {}
export class InvoiceStateError extends Error {}
/** A draft with a blocking flag not accepted, or an acceptance without a reason (a 409). */
export class InvoiceFlagError extends InvoiceStateError {}

export interface InvoiceLine {
  lineNo: number;
  tier: string;
  model: string;
  component: string;
  /** Attribute labels of the line's usage (organization_id, cost_center, ...); {} = none. */
  dimensions: Record<string, string>;
  priceVersionId: string;
  quantity: string;
  unit: string;
  unitPrice: string;
  amountMinor: string;
  amount: string;
  lineage: Record<string, unknown>;
}

export interface Invoice {
  id: string;
  number: string;
  tenant: string;
  period: string;
  periodStart: string;
  periodEnd: string;
  kind: "standard" | "adjustment";
  status: "draft" | "final";
  currency: string;
  minorUnitDigits: number;
  totalMinor: string;
  total: string;
  ledgerRows: number;
  roundingRule: string;
  flags: Record<string, unknown>;
  contentSha256: string | null;
  createdAt: string;
  finalizedAt: string | null;
  lines: InvoiceLine[];
}

export interface InvoiceOptions {
  /** `key`: one line per API key (access-log usage; key id and name in the line's dimensions and FOCUS Tags). */
  readonly splitBy?: "key";
}

export type CreateResult = { created: true; invoice: Invoice } | { created: false; reason: string };

/**
 * Builds the draft for (tenant, period), replacing an older draft. When the period already has a
 * final invoice, the draft is an adjustment holding only the difference between the ledger now
 * and what final invoices billed (new rows, and collector rows revised after late data).
 */
export const createInvoice = async (pool: Pool, book: PriceBook, tenant: string, periodLabel: string, options: InvoiceOptions = {}): Promise<CreateResult> => {
  const period = parsePeriod(periodLabel);
  const id = await withTransaction(pool, (client) => buildDraft(client, book, tenant, period.label, options));
  if (id === undefined) return { created: false, reason: nothingToAdjust(tenant, period.label) };
  return { created: true, invoice: await getInvoice(pool, tenant, id) };
};

const nothingToAdjust = (tenant: string, period: string): string => `no usage changed since the final invoice of ${tenant} for ${period}: nothing to adjust`;

/**
 * The draft createInvoice would build now, without keeping it: the same code runs in a
 * transaction that is rolled back, so a preview (the portal's month-to-date cost) equals the
 * draft an admin creates from the same ledger, to the minor unit. Nothing is stored.
 */
export const previewInvoice = async (pool: Pool, book: PriceBook, tenant: string, periodLabel: string, options: InvoiceOptions = {}): Promise<CreateResult> => {
  const period = parsePeriod(periodLabel);
  return withRollback(pool, async (client): Promise<CreateResult> => {
    const id = await buildDraft(client, book, tenant, period.label, options);
    if (id === undefined) return { created: false, reason: nothingToAdjust(tenant, period.label) };
    return { created: true, invoice: await getInvoice(client, tenant, id) };
  });
};

/** Writes the draft of (tenant, period) inside the caller's transaction; its id, or undefined when an adjustment would be empty. */
const buildDraft = async (client: PoolClient, book: PriceBook, tenant: string, periodLabel: string, options: InvoiceOptions): Promise<string | undefined> => {
  const period = parsePeriod(periodLabel);
  const versions = versionsInRange(book, period.start, period.end);
  // One builder per (tenant, period) at a time.
  await client.query("select pg_advisory_xact_lock(hashtext('maas-invoice'), hashtext($1))", [`${tenant}/${period.label}`]);
  for (const v of versions) {
    await client.query(
      "insert into price_book_versions (id, effective_from, currency, minor_unit_digits, content) values ($1, $2, $3, $4, $5) on conflict (id) do nothing",
      [v.id, v.effectiveFrom, book.currency, book.minorUnitDigits, JSON.stringify(v.content)],
    );
  }
  const finals = await client.query("select 1 from invoices where tenant = $1 and period = $2 and status = 'final' limit 1", [tenant, period.label]);
  const kind = finals.rowCount ? "adjustment" : "standard";
  await client.query("delete from invoices where tenant = $1 and period = $2 and status = 'draft'", [tenant, period.label]);
  const header = await client.query<{ id: string }>(
    `insert into invoices (number, tenant, period, period_start, period_end, kind, status, currency, minor_unit_digits, total_minor, ledger_rows, rounding_rule)
     values (md5(random()::text), $1, $2, $3, $4, $5, 'draft', $6, $7, 0, 0, $8) returning id`,
    [tenant, period.label, period.start, period.end, kind, book.currency, book.minorUnitDigits, ROUNDING_RULE],
  );
  const invoiceId = header.rows[0].id;
  const month: TenantMonth = { tenant, start: period.start, end: period.end, versions, splitByKey: options.splitBy === "key" };
  const groups = kind === "standard" ? await standardGroups(client, invoiceId, month) : await adjustmentGroups(client, invoiceId, month, period.label);
  if (groups === undefined) {
    await client.query("delete from invoices where id = $1", [invoiceId]);
    return undefined;
  }
  const { lines, totalMinor } = priceGroups(book, tenant, groups);
  // One statement for all lines (one round trip, one run of the statement-level immutability check).
  await client.query(
    `insert into invoice_lines (invoice_id, line_no, tier, model, component, price_version_id, quantity, unit, unit_price, amount_minor, lineage, dimensions)
     select $1, l.* from unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[], $10::bigint[], $11::jsonb[], $12::jsonb[]) l`,
    [
      invoiceId,
      lines.map((l) => l.lineNo),
      lines.map((l) => l.tier),
      lines.map((l) => l.model),
      lines.map((l) => l.component),
      lines.map((l) => l.priceVersionId),
      lines.map((l) => l.quantity.toString()),
      lines.map((l) => l.unit),
      lines.map((l) => l.unitPrice),
      lines.map((l) => l.amountMinor.toString()),
      lines.map((l) => JSON.stringify(l.lineage)),
      lines.map((l) => JSON.stringify(l.dimensions)),
    ],
  );
  const shortfall = await meteringShortfall(client, tenant, period.label, period.start, period.end);
  const billedShortfall = await meteringShortfallBilled(client, tenant, period.start, period.end);
  const flags = {
    counterResets: groups.reduce((a, g) => a + g.resets, 0),
    scrapeGaps: groups.reduce((a, g) => a + g.gaps, 0),
    priceVersions: [...new Set(groups.map((g) => g.priceVersionId))],
    ...(shortfall ? { [METERING_SHORTFALL]: shortfall } : {}),
    ...(billedShortfall ? { [METERING_SHORTFALL_BILLED]: billedShortfall } : {}),
  };
  const number = `INV-${period.label}-${tenant}-${invoiceId}`;
  await client.query("update invoices set number = $2, total_minor = $3, ledger_rows = $4, flags = $5 where id = $1", [
    invoiceId,
    number,
    totalMinor.toString(),
    groups.reduce((a, g) => a + g.ledgerRows, 0),
    JSON.stringify(flags),
  ]);
  return invoiceId;
};

const unpricedError = (first: Date): Error => new Error(`usage at ${first.toISOString()} is before the first price book version`);

/**
 * A standard draft (the month has no final invoice yet): its groups from the hourly rollup, and as
 * lineage one row per group naming the ledger rows behind it (tenant, tier, model, dimensions,
 * window start in [window_from, window_to)); finalizing snapshots those rows one by one.
 */
const standardGroups = async (client: PoolClient, invoiceId: string, month: TenantMonth): Promise<UsageGroup[]> => {
  const { groups, unpricedFrom } = await rollupGroups(client, month);
  if (unpricedFrom) throw unpricedError(unpricedFrom);
  const windows = groups.map((g) => versionWindow(month, month.versions.findIndex((v) => v.id === g.priceVersionId)));
  await client.query(
    `insert into invoice_line_groups (invoice_id, group_no, tier, model, dimensions, price_version_id, window_from, window_to, ledger_rows, input_tokens, output_tokens, requests, key_split)
     select $1, g.*, $13
       from unnest($2::int[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[]) g`,
    [
      invoiceId,
      groups.map((_, i) => i + 1),
      groups.map((g) => g.tier),
      groups.map((g) => g.model),
      groups.map((g) => JSON.stringify(g.dimensions ?? {})),
      groups.map((g) => g.priceVersionId),
      windows.map((w) => w.from),
      windows.map((w) => w.to),
      groups.map((g) => g.ledgerRows),
      groups.map((g) => g.inputTokens.toString()),
      groups.map((g) => g.outputTokens.toString()),
      groups.map((g) => g.requests.toString()),
      month.splitByKey === true,
    ],
  );
  return groups;
};

/**
 * An adjustment (the month already has a final invoice): the difference, row by row, between the
 * ledger now and the snapshots of the final invoices (new rows, and collector rows revised after
 * late data), stored as this draft's lineage and grouped. Undefined when nothing changed.
 */
const adjustmentGroups = async (client: PoolClient, invoiceId: string, month: TenantMonth, periodLabel: string): Promise<UsageGroup[] | undefined> => {
  const { tenant, versions } = month;
  const inserted = await client.query(
    `insert into invoice_ledger_rows (invoice_id, ledger_key, origin, tier, model, dimensions, window_start, price_version_id, input_tokens, output_tokens, requests, resets, gaps)
     select $1, k.ledger_key, k.origin, k.tier, k.model, k.dimensions, k.window_start,
            coalesce(($5::text[])[(select count(*) from unnest($4::timestamptz[]) b where b <= k.window_start)::int], ''),
            k.i, k.o, k.r, k.resets, k.gaps
       from (
         select ledger_key, coalesce(c.origin, p.origin) as origin, coalesce(c.tier, p.tier) as tier, coalesce(c.model, p.model) as model,
                coalesce(c.dimensions, p.dimensions, '{}'::jsonb) as dimensions,
                coalesce(c.window_start, p.window_start) as window_start,
                coalesce(c.input_tokens, 0) - coalesce(p.i, 0) as i,
                coalesce(c.output_tokens, 0) - coalesce(p.o, 0) as o,
                coalesce(c.requests, 0) - coalesce(p.r, 0) as r,
                coalesce(c.resets, 0) as resets, coalesce(c.gaps, 0) as gaps
           from (select * from usage_ledger where tenant = $2 and window_start >= $3 and window_start < $6) c
           full join (
             select r.ledger_key, min(r.origin) as origin, min(r.tier) as tier, min(r.model) as model,
                    (array_agg(r.dimensions))[1] as dimensions, min(r.window_start) as window_start,
                    sum(r.input_tokens) as i, sum(r.output_tokens) as o, sum(r.requests) as r
               from invoice_ledger_rows r join invoices v on v.id = r.invoice_id
              where v.tenant = $2 and v.period = $7 and v.status = 'final'
              group by r.ledger_key
           ) p using (ledger_key)
       ) k
      where k.i <> 0 or k.o <> 0 or k.r <> 0`,
    [invoiceId, tenant, month.start, versions.map((v) => v.effectiveFrom), versions.map((v) => v.id), month.end, periodLabel],
  );
  if (inserted.rowCount === 0) return undefined;
  const unpriced = await client.query("select min(window_start) as first from invoice_ledger_rows where invoice_id = $1 and price_version_id = ''", [invoiceId]);
  if (unpriced.rows[0].first) throw unpricedError(new Date(unpriced.rows[0].first));
  return (
    await client.query(
      // Lines split by API key only when asked: the key's id and name stay in each row's lineage anyway.
      `select tier, model, price_version_id, ${GROUP_DIMENSIONS("origin", "dimensions", "$2::boolean")} as dimensions,
              sum(input_tokens)::text as i, sum(output_tokens)::text as o, sum(requests)::text as r,
              count(*)::int as n, sum(resets)::int as resets, sum(gaps)::int as gaps,
              min(window_start) as first, max(window_start) as last, array_agg(distinct origin order by origin) as origins
         from invoice_ledger_rows where invoice_id = $1 group by 1, 2, 3, 4 order by 1, 2, 3, 4::text`,
      [invoiceId, month.splitByKey === true],
    )
  ).rows.map(groupFromRow);
};

/**
 * Finalizing a standard draft: copies the ledger rows behind its groups into invoice_ledger_rows
 * (the snapshot later adjustments are measured against, and the per-row lineage that survives
 * retention) and checks that they add up to the groups the draft was priced from, and that the
 * tenant-month holds no other rows. Anything else (usage that arrived after the draft, or a
 * rollup that does not match the ledger) refuses the finalization: the draft must be rebuilt.
 */
const snapshotDraftLineage = async (client: PoolClient, invoiceId: string, tenant: string, start: string, end: string): Promise<void> => {
  const grouped = await client.query<{ n: string; split: boolean }>(
    "select count(*)::text as n, coalesce(bool_or(key_split), false) as split from invoice_line_groups where invoice_id = $1",
    [invoiceId],
  );
  if (grouped.rows[0].n === "0") return; // a draft built before migration 070, or an adjustment: its rows are stored already
  const copied = await client.query(
    `insert into invoice_ledger_rows (invoice_id, ledger_key, origin, tier, model, dimensions, window_start, price_version_id, input_tokens, output_tokens, requests, resets, gaps)
     select g.invoice_id, l.ledger_key, l.origin, l.tier, l.model, l.dimensions, l.window_start, g.price_version_id,
            l.input_tokens, l.output_tokens, l.requests, l.resets, l.gaps
       from invoice_line_groups g
       join usage_ledger l on l.tenant = $2 and l.tier = g.tier and l.model = g.model
                          and ${GROUP_DIMENSIONS("l.origin", "l.dimensions", "g.key_split")} = g.dimensions
                          and l.window_start >= g.window_from and l.window_start < g.window_to
      where g.invoice_id = $1`,
    [invoiceId, tenant],
  );
  const check = await client.query<{ ledger: string; differing: string }>(
    `select (select count(*) from usage_ledger where tenant = $2 and window_start >= $3 and window_start < $4)::text as ledger,
            (select count(*) from (select * from invoice_line_groups where invoice_id = $1) g
               full join (select tier, model, ${GROUP_DIMENSIONS("origin", "dimensions", "$5::boolean")} as dimensions, price_version_id,
                                 count(*) as n, sum(input_tokens) as i, sum(output_tokens) as o, sum(requests) as r
                            from invoice_ledger_rows where invoice_id = $1 group by 1, 2, 3, 4) s
                 on s.tier = g.tier and s.model = g.model and s.dimensions = g.dimensions and s.price_version_id = g.price_version_id
              where s.n is distinct from g.ledger_rows or s.i is distinct from g.input_tokens
                 or s.o is distinct from g.output_tokens or s.r is distinct from g.requests)::text as differing`,
    [invoiceId, tenant, start, end, grouped.rows[0].split],
  );
  const { ledger, differing } = check.rows[0];
  if (differing !== "0" || BigInt(ledger) !== BigInt(copied.rowCount ?? 0)) {
    throw new InvoiceStateError(
      `the ledger of ${tenant} changed since this draft was built (${ledger} ledger rows in the period now, ${copied.rowCount} of them behind the draft's lines, ${differing} line group(s) differ): rebuild the draft and finalize the new one`,
    );
  }
};

const rowToInvoice = (r: Record<string, any>, lines: InvoiceLine[]): Invoice => ({
  id: String(r.id),
  number: r.number,
  tenant: r.tenant,
  period: r.period,
  periodStart: new Date(r.period_start).toISOString(),
  periodEnd: new Date(r.period_end).toISOString(),
  kind: r.kind,
  status: r.status,
  currency: r.currency,
  minorUnitDigits: r.minor_unit_digits,
  totalMinor: String(r.total_minor),
  total: formatScaled(BigInt(r.total_minor), r.minor_unit_digits),
  ledgerRows: Number(r.ledger_rows),
  roundingRule: r.rounding_rule,
  flags: r.flags,
  contentSha256: r.content_sha256,
  createdAt: new Date(r.created_at).toISOString(),
  finalizedAt: r.finalized_at ? new Date(r.finalized_at).toISOString() : null,
  lines,
});

/** Reads an invoice by id or number, only within `tenant` (a foreign invoice is "not found"). */
export const getInvoice = async (pool: Pool | PoolClient, tenant: string, idOrNumber: string): Promise<Invoice> => {
  const byId = /^\d+$/.test(idOrNumber);
  // An id beyond bigint cannot exist (and would be a database error, i.e. a 500, not a 404).
  if (byId && BigInt(idOrNumber) > 9223372036854775807n) throw new InvoiceNotFoundError(`no invoice ${idOrNumber} for tenant ${tenant}`);
  const head = await pool.query(`select * from invoices where tenant = $1 and ${byId ? "id = $2::bigint" : "number = $2"}`, [tenant, idOrNumber]);
  if (head.rowCount === 0) throw new InvoiceNotFoundError(`no invoice ${idOrNumber} for tenant ${tenant}`);
  const r = head.rows[0];
  const lines = (await pool.query("select * from invoice_lines where invoice_id = $1 order by line_no", [r.id])).rows.map(
    (l): InvoiceLine => ({
      lineNo: l.line_no,
      tier: l.tier,
      model: l.model,
      component: l.component,
      dimensions: l.dimensions ?? {},
      priceVersionId: l.price_version_id,
      quantity: String(l.quantity),
      unit: l.unit,
      unitPrice: l.unit_price,
      amountMinor: String(l.amount_minor),
      amount: formatScaled(BigInt(l.amount_minor), r.minor_unit_digits),
      lineage: l.lineage,
    }),
  );
  return rowToInvoice(r, lines);
};

export const listInvoices = async (pool: Pool, tenant: string, period?: string): Promise<Omit<Invoice, "lines">[]> => {
  const rows = (
    await pool.query("select * from invoices where tenant = $1 and ($2::text is null or period = $2) order by period, id", [tenant, period ?? null])
  ).rows;
  return rows.map((r) => {
    const { lines: _lines, ...rest } = rowToInvoice(r, []);
    return rest;
  });
};

export interface FinalizeOptions {
  /** Blocking flags (shortfall.ts) the admin accepts, with the reason; recorded in the sealed invoice. */
  readonly accept?: { readonly flags: readonly string[]; readonly reason: string; readonly by: string };
}

/**
 * Makes a draft final (immutable from then on) and seals its content with a SHA-256. A draft with
 * a blocking flag (a metering shortfall) is refused unless the admin accepts that flag with a
 * reason; the acceptance (flag, reason, who, when) becomes part of the sealed content.
 */
export const finalizeInvoice = async (pool: Pool, tenant: string, idOrNumber: string, options: FinalizeOptions = {}): Promise<Invoice> => {
  let draft = await getInvoice(pool, tenant, idOrNumber);
  if (draft.status === "final") throw new InvoiceStateError(`invoice ${draft.number} is already final`);
  const accept = options.accept;
  if (accept) {
    if (accept.reason.trim() === "") throw new InvoiceFlagError(`accepting ${accept.flags.join(", ")} needs a reason (--reason "...")`);
    const absent = accept.flags.filter((f) => draft.flags[f] === undefined);
    if (absent.length > 0) throw new InvoiceFlagError(`invoice ${draft.number} does not carry ${absent.join(", ")}: nothing to accept`);
  }
  const blocking = unacceptedBlockingFlags(draft.flags, accept?.flags ?? []);
  if (blocking.length > 0) {
    const shortfall = draft.flags[METERING_SHORTFALL] as { windows: unknown[]; shortfallTokens: string } | undefined;
    const detail = shortfall ? ` (${shortfall.windows.length} window(s), ${shortfall.shortfallTokens} tokens the gateway did not count)` : "";
    throw new InvoiceFlagError(
      `invoice ${draft.number} carries ${blocking.join(", ")}${detail}: not finalized. Check the metering, rebuild the draft, or accept it: --accept-flag ${blocking[0]} --reason "..."`,
    );
  }
  if (accept && accept.flags.length > 0) {
    const at = new Date().toISOString();
    const acceptances: FlagAcceptance[] = accept.flags.map((flag) => ({ flag, reason: accept.reason, acceptedBy: accept.by, acceptedAt: at }));
    const recorded = await pool.query(
      "update invoices set flags = jsonb_set(flags, '{acceptedFlags}', coalesce(flags->'acceptedFlags', '[]'::jsonb) || $2::jsonb) where id = $1 and status = 'draft'",
      [draft.id, JSON.stringify(acceptances)],
    );
    if (recorded.rowCount !== 1) throw new InvoiceStateError(`invoice ${draft.number} changed while finalizing`);
    draft = await getInvoice(pool, tenant, draft.id);
  }
  const { contentSha256: _c, finalizedAt: _f, status: _s, ...content } = draft;
  const sha = createHash("sha256").update(JSON.stringify(content)).digest("hex");
  await withTransaction(pool, async (client) => {
    const locked = await client.query("select 1 from invoices where id = $1 and status = 'draft' for update", [draft.id]);
    if (locked.rowCount !== 1) throw new InvoiceStateError(`invoice ${draft.number} changed while finalizing`);
    await snapshotDraftLineage(client, draft.id, tenant, draft.periodStart, draft.periodEnd);
    const updated = await client.query("update invoices set status = 'final', finalized_at = now(), content_sha256 = $2 where id = $1 and status = 'draft'", [
      draft.id,
      sha,
    ]);
    if (updated.rowCount !== 1) throw new InvoiceStateError(`invoice ${draft.number} changed while finalizing`);
  });
  return getInvoice(pool, tenant, draft.id);
};
