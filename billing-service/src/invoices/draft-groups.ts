/**
 * The usage groups of a tenant-month, one per (tier, model, price version, dimensions), as an
 * invoice draft prices them, computed two ways that must agree row for row:
 *
 *   - `rollupGroups` (what drafts use): the hourly rollup usage_rollup (migration 070) with the
 *     rows not folded into it yet (view usage_rollup_current: collector rows arrive by their
 *     insert's statement triggers, events and access-log rows through ledger_rollup_queue since
 *     migration 062) for every hour in which no price version starts, and
 *     the ledger rows themselves for the few hours in which one starts off the hour, so each row
 *     is still priced with the version in force at its own window start. A tenant-month is a few
 *     thousand rollup rows however many events it holds.
 *   - `ledgerGroups` (the full scan it replaces): every ledger row of the tenant-month, each
 *     assigned its version. test/property-invoice-rollup.test.ts proves the two equal.
 *
 * Finalizing does not trust the rollup: it snapshots the ledger rows behind the groups and refuses
 * when they do not add up to them (store.ts).
 */
import type { PoolClient } from "pg";
import type { PriceBook, PriceVersion } from "../pricebook/pricebook";
import type { UsageGroup } from "./pricing";

const HOUR_MS = 3_600_000;

/** UTC hours that contain a version start that is not on the hour, each once: those are read row by row. */
export const splitHours = (book: Pick<PriceBook, "versions">): Date[] =>
  [...new Set(book.versions.map((v) => v.effectiveFrom.getTime()).filter((t) => t % HOUR_MS !== 0).map((t) => t - (t % HOUR_MS)))].map((t) => new Date(t));

export interface TenantMonth {
  readonly tenant: string;
  readonly start: Date;
  readonly end: Date;
  /** The versions in force during the month (versionsInRange), sorted by effectiveFrom. */
  readonly versions: readonly PriceVersion[];
  /** One group per API key (splitBy "key"); otherwise access-log rows of all keys share a group. */
  readonly splitByKey?: boolean;
}

export interface DraftGroups {
  readonly groups: UsageGroup[];
  /** The first window start no version prices (before the first version), if any. */
  readonly unpricedFrom?: Date;
}

/**
 * The dimensions a row is grouped by: an access-log row's key id and name only when the invoice is
 * split by key (`split`), every other dimension always (the key stays in the row's lineage anyway).
 */
export const GROUP_DIMENSIONS = (origin: string, dimensions: string, split: string): string =>
  `case when ${split} or ${origin} <> 'access-log' then ${dimensions} else ${dimensions} - 'key_id' - 'key_name' end`;

/**
 * The same select list, grouping and order (tier, model, version id, dimensions as text, in the
 * database's collation) for both paths, so line numbers cannot differ between them.
 */
const GROUPED = `
select tier, model, coalesce(($5::text[])[vi], '') as price_version_id, dimensions,
       sum(i)::text as i, sum(o)::text as o, sum(r)::text as r, sum(n)::int as n, sum(resets)::int as resets, sum(gaps)::int as gaps,
       min(f) as first, max(l) as last, array_agg(distinct origin order by origin) as origins
  from (select u.tier, u.model, ${GROUP_DIMENSIONS("u.origin", "u.dimensions", "$6::boolean")} as dimensions, u.origin, u.i, u.o, u.r, u.n, u.resets, u.gaps, u.f, u.l,
               (select count(*) from unnest($4::timestamptz[]) b where b <= u.ts)::int as vi from u) v
 group by tier, model, 3, dimensions
 order by 1, 2, 3, 4::text`;

const LEDGER_ROWS = `
select tier, model, dimensions, origin, window_start as ts, input_tokens as i, output_tokens as o, requests as r,
       1 as n, resets, gaps, window_start as f, window_start as l
  from usage_ledger`;

/** A grouped row (tier, model, price_version_id, dimensions, i, o, r, n, resets, gaps, first, last, origins) as a UsageGroup. */
export const groupFromRow = (r: Record<string, any>): UsageGroup => ({
  tier: r.tier,
  model: r.model,
  dimensions: r.dimensions,
  priceVersionId: r.price_version_id,
  inputTokens: BigInt(r.i),
  outputTokens: BigInt(r.o),
  requests: BigInt(r.r),
  ledgerRows: r.n,
  origins: r.origins,
  resets: r.resets,
  gaps: r.gaps,
  firstWindow: new Date(r.first).toISOString(),
  lastWindow: new Date(r.last).toISOString(),
});

const toGroups = (rows: Record<string, any>[]): DraftGroups => {
  let unpricedFrom: Date | undefined;
  const groups: UsageGroup[] = [];
  for (const r of rows) {
    if (r.price_version_id === "") {
      const first = new Date(r.first);
      if (!unpricedFrom || first < unpricedFrom) unpricedFrom = first;
      continue;
    }
    groups.push(groupFromRow(r));
  }
  return { groups, ...(unpricedFrom ? { unpricedFrom } : {}) };
};

const params = (m: TenantMonth) => [m.tenant, m.start, m.end, m.versions.map((v) => v.effectiveFrom), m.versions.map((v) => v.id), m.splitByKey === true];

/** The groups from the hourly rollup (and the ledger rows of hours a version starts inside). */
export const rollupGroups = async (client: PoolClient, m: TenantMonth): Promise<DraftGroups> => {
  const split = splitHours(m).filter((h) => h >= m.start && h < m.end);
  const fromRows =
    split.length === 0
      ? ""
      : `union all
         select l.* from unnest($7::timestamptz[]) s (h)
           cross join lateral (${LEDGER_ROWS} where tenant = $1 and window_start >= s.h and window_start < s.h + interval '1 hour') l`;
  const res = await client.query(
    `with u as (
       select tier, model, dimensions, origin, hour as ts, input_tokens as i, output_tokens as o, requests as r,
              ledger_rows as n, resets, gaps, first_window as f, last_window as l
         from usage_rollup_current where tenant = $1 and hour >= $2 and hour < $3 and not (hour = any($7::timestamptz[]))
       ${fromRows}
     ) ${GROUPED}`,
    [...params(m), split],
  );
  return toGroups(res.rows);
};

/** The groups from every ledger row of the tenant-month (the full scan; for tests and the bench). */
export const ledgerGroups = async (client: PoolClient, m: TenantMonth): Promise<DraftGroups> => {
  const res = await client.query(`with u as (${LEDGER_ROWS} where tenant = $1 and window_start >= $2 and window_start < $3) ${GROUPED}`, params(m));
  return toGroups(res.rows);
};

/** [from, to): the part of the month in which `versions[i]` is in force. */
export const versionWindow = (m: TenantMonth, i: number): { from: Date; to: Date } => {
  const from = m.versions[i].effectiveFrom > m.start ? m.versions[i].effectiveFrom : m.start;
  const next = m.versions[i + 1]?.effectiveFrom;
  return { from, to: next && next < m.end ? next : m.end };
};
