/**
 * Writes one collected chunk atomically and idempotently.
 *
 * Rows are keyed by deterministic keys (hash of their dimensions and window) and carry a hash of
 * their content: an upsert touches a row only when its content changed, so collecting the same
 * window again writes nothing. A chunk is authoritative for its windows: a stored row that the new
 * collection no longer produces (usage moved to another window by a late sample) is set to zero,
 * never left stale. Rows, reconciliations, unattributed usage and the watermark commit together,
 * so a crash leaves either the whole chunk or none of it.
 */
import { sha256Hex as sha } from "../sha256";
import type { PoolClient } from "pg";
import type { LedgerRow, Reconciliation } from "./reconcile";
import type { UnattributedUsage } from "./aggregate";
import { inTransaction } from "../db/transaction";
import { copyFirstInTransaction, copyText } from "../db/copy-first";
import { COLLECTOR_LOCK_KEY } from "./lock";
import { MAX_OF_COUNTERS_SOURCE } from "./meters";

/** ISO time of a window edge; a chunk has few distinct edges and thousands of rows on them. */
const isoCache = new Map<number, string>();
const iso = (ms: number): string => {
  let s = isoCache.get(ms);
  if (s === undefined) {
    if (isoCache.size > 10_000) isoCache.clear();
    s = new Date(ms).toISOString();
    isoCache.set(ms, s);
  }
  return s;
};

/**
 * A stored row: its key and identity columns, its content, and the hash of that content (the upsert
 * leaves a row alone while the hash is the same).
 */
const hashedRecord = <I extends object, C extends object>(identity: I, content: C) => ({
  ...identity,
  ...content,
  content_hash: sha(JSON.stringify(content)),
});

/** Deterministic key of a usage row: the same dimensions and window always give the same key. */
export const usageKey = (r: LedgerRow["row"]): string =>
  // Without attributes the key is the one rows had before attributes existed (re-collections of
  // old windows update those rows instead of adding new ones).
  sha(
    JSON.stringify(
      Object.keys(r.attributes).length === 0
        ? ["usage/v1", r.source, r.tenant, r.user, r.tier, r.model, iso(r.windowStartMs)]
        : ["usage/v1", r.source, r.tenant, r.user, r.tier, r.model, iso(r.windowStartMs), r.attributes],
    ),
  );

export interface ChunkWrite {
  readonly fromMs: number;
  readonly toMs: number;
  readonly ledger: readonly LedgerRow[];
  readonly reconciliations: readonly Reconciliation[];
  readonly unattributed: readonly UnattributedUsage[];
  /** Sources whose watermark moves to `toMs` (when contiguous with it). */
  readonly sources: readonly string[];
}

export interface ChunkWriteResult {
  /** Usage rows inserted or changed (0 when the chunk was collected before with the same data). */
  readonly usageRowsChanged: number;
  readonly usageRowsZeroed: number;
  readonly reconciliationsChanged: number;
  readonly unattributedChanged: number;
  /** Per tenant and source, resets and gaps newly recorded by this write (for the counters). */
  readonly newFlags: Array<{ tenant: string; source: string; resets: number; gaps: number }>;
  /** Unattributed amounts newly recorded by this write, per source and metric (for the counter). */
  readonly newUnattributed: Array<{ source: string; metric: string; amount: number }>;
}

const usageRecord = (b: LedgerRow, key: string, reconciliationByKey: Map<string, Reconciliation>) => {
  const r = b.row;
  const rec = b.reconciliationKey ? reconciliationByKey.get(b.reconciliationKey) : undefined;
  const lineage = {
    source: "prometheus",
    // The model server's excess over the gateway in a shortfall window, billed by setting shortfallBilling.
    ...(r.source === MAX_OF_COUNTERS_SOURCE ? { rule: "max(gateway, model-server)" } : {}),
    series: r.series,
    samples: r.samples,
    resets: r.resets,
    gaps: r.gaps,
    split: rec
      ? {
          reconciliationKey: rec.tenant + "|" + (rec.model ?? "") + "|" + iso(rec.windowStartMs),
          basis: rec.splitBasis,
          groupGatewayTokens: rec.gatewayTokens,
          groupInputTokens: rec.apportionedInputTokens,
          modelInputTokens: rec.modelInputTokens,
          modelOutputTokens: rec.modelOutputTokens,
          method: "largest-remainder",
        }
      : null,
  };
  const content = {
    input_tokens: b.inputTokens,
    output_tokens: b.outputTokens,
    total_tokens: b.totalTokens,
    requests: b.requests,
    limited_requests: b.limitedRequests,
    resets: r.resets,
    gaps: r.gaps,
    samples: r.samples,
    series: r.series,
    reconciliation_key: b.reconciliationKey,
    lineage,
  };
  return hashedRecord(
    {
      idempotency_key: key,
      source: r.source,
      billable: b.billable,
      tenant: r.tenant,
      user_id: r.user,
      tier: r.tier,
      model: r.model,
      dimensions: r.attributes,
      window_start: iso(r.windowStartMs),
      window_end: iso(r.windowEndMs),
    },
    content,
  );
};

const reconciliationRecord = (c: Reconciliation) =>
  hashedRecord(
    {
      reconciliation_key: sha(JSON.stringify(["reconciliation/v1", c.tenant, c.model, iso(c.windowStartMs)])),
      tenant: c.tenant,
      model: c.model,
      window_start: iso(c.windowStartMs),
      window_end: iso(c.windowEndMs),
    },
    {
      gateway_tokens: c.gatewayTokens,
      model_input_tokens: c.modelInputTokens,
      model_output_tokens: c.modelOutputTokens,
      diff_tokens: c.diffTokens,
      diff_ratio: c.diffRatio,
      flagged: c.flagged,
      split_basis: c.splitBasis,
      apportioned_input_tokens: c.apportionedInputTokens,
      apportioned_output_tokens: c.apportionedOutputTokens,
    },
  );

const unattributedRecord = (u: UnattributedUsage) =>
  hashedRecord(
    {
      unattributed_key: sha(JSON.stringify(["unattributed/v1", u.source, u.metric, u.reason, iso(u.windowStartMs)])),
      source: u.source,
      metric: u.metric,
      reason: u.reason,
      window_start: iso(u.windowStartMs),
    },
    { amount: u.amount, series: u.series },
  );

/**
 * Deletes the rows of a table in the chunk's windows [from, to) whose keys the collection no longer
 * produces: the chunk is authoritative for its windows (usage rows are zeroed instead, below).
 * Table and key column are fixed names, never input.
 */
const deleteUnproduced = (
  client: PoolClient,
  table: "collector_reconciliation" | "collector_unattributed",
  keyColumn: "reconciliation_key" | "unattributed_key",
  from: string,
  to: string,
  keys: readonly string[],
) =>
  client.query(
    `delete from ${table} where window_start >= $1::timestamptz and window_start < $2::timestamptz and not (${keyColumn} = any($3::text[]))`,
    [from, to, keys],
  );

/** The columns of a usage row as stored (`dimensions` only when some row carries attribute labels). */
const usageColumns = (dims: boolean): string =>
  `idempotency_key, source, billable, tenant, user_id, tier, model, ${dims ? "dimensions, " : ""}window_start, window_end,
         input_tokens, output_tokens, total_tokens, requests, limited_requests, resets, gaps, samples, series,
         reconciliation_key, lineage, content_hash`;

type UsageRecord = ReturnType<typeof usageRecord>;

const copyUsageSql = (dims: boolean): string => `copy collector_usage (${usageColumns(dims)}) from stdin`;

/**
 * One usage row in COPY's text format, columns in the order of usageColumns: text that labels or
 * JSON can fill escaped by copyText (a tab, newline or backslash in a label never splits a row or a
 * column), keys, hashes, times, booleans and integers as they are.
 */
const usageCopyLine = (u: UsageRecord, dims: boolean): string =>
  `${u.idempotency_key}\t${copyText(u.source)}\t${u.billable}\t${copyText(u.tenant)}\t${copyText(u.user_id)}\t${copyText(u.tier)}\t${copyText(u.model)}\t` +
  `${dims ? `${copyText(JSON.stringify(u.dimensions))}\t` : ""}${u.window_start}\t${u.window_end}\t` +
  `${u.input_tokens}\t${u.output_tokens}\t${u.total_tokens}\t${u.requests}\t${u.limited_requests}\t${u.resets}\t${u.gaps}\t${u.samples}\t${u.series}\t` +
  `${copyText(u.reconciliation_key)}\t${copyText(JSON.stringify(u.lineage))}\t${u.content_hash}\n`;

/** Rows built and sent to COPY per batch: PostgreSQL stores one batch while the next is built. */
const COPY_BATCH_ROWS = 512;

/** Inserts or updates usage rows (only those whose content changed); resolves with the rows written. */
const upsertUsage = async (client: PoolClient, usage: readonly UsageRecord[], dims: boolean): Promise<number> => {
  const changed = await client.query(
    `insert into collector_usage as u (${usageColumns(dims)})
     select idempotency_key, source, billable, tenant, user_id, tier, model, ${dims ? "coalesce(dimensions, '{}'::jsonb), " : ""}window_start, window_end,
       input_tokens, output_tokens, total_tokens, requests, limited_requests, resets, gaps, samples, series,
       reconciliation_key, lineage, content_hash
     from jsonb_to_recordset($1::jsonb) as x(idempotency_key text, source text, billable boolean, tenant text, user_id text, tier text,
       model text, dimensions jsonb, window_start timestamptz, window_end timestamptz, input_tokens bigint, output_tokens bigint,
       total_tokens bigint, requests bigint, limited_requests bigint, resets integer, gaps integer, samples integer,
       series integer, reconciliation_key text, lineage jsonb, content_hash text)
     on conflict (idempotency_key) do update set
       input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
       total_tokens = excluded.total_tokens, requests = excluded.requests,
       limited_requests = excluded.limited_requests, resets = excluded.resets, gaps = excluded.gaps,
       samples = excluded.samples, series = excluded.series, reconciliation_key = excluded.reconciliation_key,
       lineage = excluded.lineage, content_hash = excluded.content_hash, updated_at = now()
     where u.content_hash is distinct from excluded.content_hash`,
    [JSON.stringify(usage)],
  );
  return changed.rowCount ?? 0;
};

/** A usage row is worth storing when it has usage or data-quality findings. */
const worthStoring = (b: LedgerRow): boolean =>
  b.totalTokens + b.requests + b.limitedRequests > 0 || b.row.resets > 0 || b.row.gaps > 0;

export interface WriteChunkOptions {
  /**
   * true: no shortcut (every usage row through the upsert statement, the zeroing statement always
   * run), the path the equality test compares the default one with.
   */
  readonly reference?: boolean;
}

export const writeChunk = async (client: PoolClient, chunk: ChunkWrite, options: WriteChunkOptions = {}): Promise<ChunkWriteResult> => {
  const reconciliationByKey = new Map<string, Reconciliation>();
  for (const c of chunk.reconciliations) {
    reconciliationByKey.set(`${c.tenant}|${c.model ?? ""}|${iso(c.windowStartMs)}`, c);
  }
  const ledger = chunk.ledger.filter(worthStoring);
  // Keys first: they decide which rows are new; the rows' content (and its hash) is built while
  // the new ones stream into COPY.
  const keys = ledger.map((b) => usageKey(b.row));
  // The dimensions column (migration 040) is written only when some row carries attribute labels,
  // so the collector also runs on its own tables alone (COLLECTOR_ONLY) without attributeLabels.
  const dims = ledger.some((b) => Object.keys(b.row.attributes).length > 0);
  const recs = chunk.reconciliations.map(reconciliationRecord);
  const unattributed = chunk.unattributed.map(unattributedRecord);
  const from = iso(chunk.fromMs);
  const to = iso(chunk.toMs);

  // One transaction; the result is computed before the commit from what it read and wrote.
  return inTransaction(client, async () => {
    // Resets and gaps already stored for this chunk, so the counters only count new findings.
    const before = await client.query<{ idempotency_key: string; resets: number; gaps: number }>(
      `select idempotency_key, resets, gaps from collector_usage where window_start >= $1::timestamptz and window_start < $2::timestamptz`,
      [from, to],
    );
    const old = new Map(before.rows.map((r) => [r.idempotency_key, r]));
    const unattributedBefore = await client.query<{ unattributed_key: string; amount: string }>(
      `select unattributed_key, amount from collector_unattributed where window_start >= $1::timestamptz and window_start < $2::timestamptz`,
      [from, to],
    );
    const oldUnattributed = new Map(unattributedBefore.rows.map((r) => [r.unattributed_key, Number(r.amount)]));

    // Rows with a key nothing stored yet (a window collected for the first time) go in by COPY,
    // which costs PostgreSQL about half the statement's CPU for the same rows (no JSON document to
    // parse, no speculative insertion), streamed in batches as they are built; rows already stored,
    // and a COPY that meets a key stored meanwhile (unique_violation, undone by its savepoint), go
    // through the upsert, which touches only rows whose content changed. The stored rows are the
    // same either way (collector-store-copy.test.ts compares both paths).
    const freshIndexes: number[] = [];
    const known: UsageRecord[] = [];
    ledger.forEach((b, i) => {
      if (!options.reference && !old.has(keys[i])) freshIndexes.push(i);
      else known.push(usageRecord(b, keys[i], reconciliationByKey));
    });
    const freshRecords = (indexes: readonly number[]) => indexes.map((i) => usageRecord(ledger[i], keys[i], reconciliationByKey));
    async function* freshCopyText(): AsyncGenerator<string> {
      for (let start = 0; start < freshIndexes.length; start += COPY_BATCH_ROWS) {
        let text = "";
        for (const u of freshRecords(freshIndexes.slice(start, start + COPY_BATCH_ROWS))) text += usageCopyLine(u, dims);
        yield text;
        // Lets the socket send this batch (and PostgreSQL's answers arrive) before the next is built.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    let usageRowsChanged = 0;
    if (freshIndexes.length > 0) {
      usageRowsChanged += await copyFirstInTransaction(
        client,
        { sql: copyUsageSql(dims), text: freshCopyText, rows: freshIndexes.length, result: (copied) => copied },
        () => upsertUsage(client, freshRecords(freshIndexes), dims),
      );
    }
    if (known.length > 0) usageRowsChanged += await upsertUsage(client, known, dims);
    // Stored rows of these windows that this collection no longer produces are zeroed; when it
    // produces every one of them again there is nothing to zero.
    const produced = new Set(keys);
    const zeroed = !options.reference && !before.rows.some((r) => !produced.has(r.idempotency_key)) ? { rowCount: 0 } : await client.query(
      `update collector_usage set input_tokens = 0, output_tokens = 0, total_tokens = 0, requests = 0,
         limited_requests = 0, resets = 0, gaps = 0, samples = 0, series = 0, reconciliation_key = null,
         lineage = jsonb_build_object('source', 'prometheus', 'zeroed', 'no usage in this window at the latest collection'),
         content_hash = 'zeroed', updated_at = now()
       where window_start >= $1::timestamptz and window_start < $2::timestamptz
         and content_hash <> 'zeroed' and not (idempotency_key = any($3::text[]))`,
      [from, to, keys],
    );
    const recChanged = await client.query(
      `insert into collector_reconciliation as r (reconciliation_key, tenant, model, window_start, window_end,
         gateway_tokens, model_input_tokens, model_output_tokens, diff_tokens, diff_ratio, flagged, split_basis,
         apportioned_input_tokens, apportioned_output_tokens, content_hash)
       select * from jsonb_to_recordset($1::jsonb) as x(reconciliation_key text, tenant text, model text,
         window_start timestamptz, window_end timestamptz, gateway_tokens bigint, model_input_tokens bigint,
         model_output_tokens bigint, diff_tokens bigint, diff_ratio double precision, flagged boolean,
         split_basis text, apportioned_input_tokens bigint, apportioned_output_tokens bigint, content_hash text)
       on conflict (reconciliation_key) do update set
         gateway_tokens = excluded.gateway_tokens, model_input_tokens = excluded.model_input_tokens,
         model_output_tokens = excluded.model_output_tokens, diff_tokens = excluded.diff_tokens,
         diff_ratio = excluded.diff_ratio, flagged = excluded.flagged, split_basis = excluded.split_basis,
         apportioned_input_tokens = excluded.apportioned_input_tokens,
         apportioned_output_tokens = excluded.apportioned_output_tokens, content_hash = excluded.content_hash,
         updated_at = now()
       where r.content_hash is distinct from excluded.content_hash`,
      [JSON.stringify(recs)],
    );
    await deleteUnproduced(client, "collector_reconciliation", "reconciliation_key", from, to, recs.map((r) => r.reconciliation_key));
    const unChanged = await client.query(
      `insert into collector_unattributed as n (unattributed_key, source, metric, reason, window_start, amount, series, content_hash)
       select * from jsonb_to_recordset($1::jsonb) as x(unattributed_key text, source text, metric text, reason text,
         window_start timestamptz, amount bigint, series integer, content_hash text)
       on conflict (unattributed_key) do update set amount = excluded.amount, series = excluded.series,
         content_hash = excluded.content_hash, updated_at = now()
       where n.content_hash is distinct from excluded.content_hash`,
      [JSON.stringify(unattributed)],
    );
    await deleteUnproduced(client, "collector_unattributed", "unattributed_key", from, to, unattributed.map((u) => u.unattributed_key));
    // The watermark only moves forward, and only over contiguous ranges, so collecting an old
    // range by hand never makes the loop skip windows.
    for (const source of chunk.sources) {
      await client.query(
        `insert into collector_watermark (source, collected_until) values ($1, $3::timestamptz)
         on conflict (source) do update set collected_until = excluded.collected_until, updated_at = now()
         where collector_watermark.collected_until >= $2::timestamptz
           and collector_watermark.collected_until < excluded.collected_until`,
        [source, from, to],
      );
    }

    const flags = new Map<string, { tenant: string; source: string; resets: number; gaps: number }>();
    ledger.forEach(({ row: u }, i) => {
      const prev = old.get(keys[i]);
      const resets = Math.max(0, u.resets - (prev?.resets ?? 0));
      const gaps = Math.max(0, u.gaps - (prev?.gaps ?? 0));
      if (resets + gaps === 0) return;
      const k = `${u.tenant}|${u.source}`;
      const f = flags.get(k) ?? { tenant: u.tenant, source: u.source, resets: 0, gaps: 0 };
      f.resets += resets;
      f.gaps += gaps;
      flags.set(k, f);
    });
    const unattributedDelta = new Map<string, { source: string; metric: string; amount: number }>();
    for (const u of unattributed) {
      const delta = u.amount - (oldUnattributed.get(u.unattributed_key) ?? 0);
      if (delta <= 0) continue;
      const k = `${u.source}|${u.metric}`;
      const d = unattributedDelta.get(k) ?? { source: u.source, metric: u.metric, amount: 0 };
      d.amount += delta;
      unattributedDelta.set(k, d);
    }
    return {
      newUnattributed: [...unattributedDelta.values()],
      usageRowsChanged,
      usageRowsZeroed: zeroed.rowCount ?? 0,
      reconciliationsChanged: recChanged.rowCount ?? 0,
      unattributedChanged: unChanged.rowCount ?? 0,
      newFlags: [...flags.values()],
    };
  });
};

/** Watermarks of the given sources (ms), or undefined when a source was never collected. */
export const readWatermark = async (client: PoolClient, sources: readonly string[]): Promise<number | undefined> => {
  const res = await client.query<{ source: string; collected_until: Date }>(
    `select source, collected_until from collector_watermark where source = any($1::text[])`,
    [sources],
  );
  if (res.rows.length < sources.length) return undefined;
  // Sources are collected together; resume from the least advanced one.
  return Math.min(...res.rows.map((r) => r.collected_until.getTime()));
};

/** Session-level advisory lock: true when this connection now holds the collector lock. */
export const tryCollectorLock = async (client: PoolClient): Promise<boolean> => {
  const res = await client.query<{ locked: boolean }>("select pg_try_advisory_lock($1::bigint) as locked", [
    COLLECTOR_LOCK_KEY.toString(),
  ]);
  return res.rows[0].locked;
};

export const releaseCollectorLock = async (client: PoolClient): Promise<void> => {
  await client.query("select pg_advisory_unlock($1::bigint)", [COLLECTOR_LOCK_KEY.toString()]);
};
