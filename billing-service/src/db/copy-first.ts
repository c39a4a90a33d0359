/**
 * Insert a batch of new ledger rows with COPY FROM STDIN, and fall back to the table's idempotent
 * statement (INSERT ... ON CONFLICT) only when a row already exists.
 *
 * Why: a 1,000-row COPY costs PostgreSQL about two thirds of the CPU of the same rows through
 * `insert ... select from unnest($1::text[], ...) on conflict ...` (no array literals to parse, no
 * speculative insertion with its extra unique-index probe per row; bench/ingest-profile.ts). A batch
 * whose rows are all new — every batch but a retry — is stored by the COPY alone. COPY has no
 * ON CONFLICT: a row whose key is already stored (a retried batch, a copy earlier in the same
 * batch, or one committed meanwhile by a concurrent batch) fails the whole COPY with
 * unique_violation, which stores nothing (the statement's triggers never fire), and the batch is
 * then stored by the idempotent statement exactly as before. So the answer (accepted/duplicates)
 * and what is stored are the same as with the statement alone; only the cost differs.
 *
 * Only for a pool: the COPY runs in a transaction of its own on a connection of its own, so a failed
 * COPY aborts nothing of the caller's. A caller inside its own transaction (a PoolClient) uses the
 * statement.
 */
import type { Pool, PoolClient } from "pg";
import { from as copyFrom } from "pg-copy-streams";

const UNIQUE_VIOLATION = "23505";
/** maas_billing_expect_rows_inserted's SQLSTATE (migration 068): the COPY stored another number of rows than the batch holds. */
const ROWS_INSERTED_MISMATCH = "MB001";

/** One value in COPY's text format: backslash, tab, newline and carriage return escaped; null is \N. */
export const copyText = (value: string | number | boolean | bigint | null | undefined): string => {
  if (value === null || value === undefined) return "\\N";
  const s = String(value);
  return /[\\\t\n\r]/.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r")) : s;
};

/** Rows in COPY's text format: one line per row, columns tab-separated. */
export const copyLines = <R>(rows: readonly R[], columns: (row: R) => readonly (string | number | boolean | bigint | null | undefined)[]): string => {
  let out = "";
  for (const row of rows) out += `${columns(row).map(copyText).join("\t")}\n`;
  return out;
};

/**
 * Runs `copy <table> (<columns>) from stdin` with `text` on `client`; resolves with the rows copied.
 * `text` is the whole batch (a string, or already encoded as UTF-8), or its pieces as they are
 * produced (sent as they come, so PostgreSQL stores one piece while the next is produced; nothing
 * more is sent once the COPY failed).
 */
export const copyIn = (client: PoolClient, sql: string, text: string | Buffer | AsyncIterable<string>): Promise<number> =>
  new Promise((resolve, reject) => {
    const stream = client.query(copyFrom(sql));
    let failed = false;
    stream.on("error", (e) => {
      failed = true;
      reject(e);
    });
    // 'finish' comes after PostgreSQL confirmed the COPY and the connection is ready again (pg-copy-streams 4+).
    stream.on("finish", () => resolve(stream.rowCount));
    if (typeof text === "string" || Buffer.isBuffer(text)) {
      stream.end(text);
      return;
    }
    void (async () => {
      try {
        for await (const piece of text) {
          if (failed) return;
          stream.write(piece);
        }
        if (!failed) stream.end();
      } catch (e) {
        // The pieces could not be produced: CopyFail, so the COPY stores nothing and fails.
        if (!failed) stream.destroy(e instanceof Error ? e : new Error(String(e)));
      }
    })();
  });

export const isPool = (db: Pool | PoolClient): db is Pool => "totalCount" in db;

export interface CopyBatch<T> {
  /** `copy <table> (<columns>) from stdin` (text format). */
  readonly sql: string;
  /** The batch in COPY's text format (copyLines; or its UTF-8 bytes), or its pieces as produced; only built when the COPY runs. */
  readonly text: () => string | Buffer | AsyncIterable<string>;
  /** Rows in the batch: a COPY that reads any other number is rolled back. */
  readonly rows: number;
  /**
   * The table notes each insert's row count for its transaction (migration 068's trigger, read by
   * maas_billing_expect_rows_inserted): then one query string begins, copies, checks the count in
   * the database and commits. Two round trips instead of four (begin, the COPY's two, commit),
   * each of which waits for serve's event loop while it decodes other batches.
   */
  readonly countedByTable?: boolean;
  /** The answer when every row was copied. */
  readonly result: (copied: number) => T;
}

/**
 * New rows by COPY, else (some row's key exists) `fallback()`, the idempotent statement. When `db`
 * is a client (the caller's transaction must not see a failed statement) only `fallback` runs.
 */
export const copyFirst = async <T>(db: Pool | PoolClient, copy: CopyBatch<T>, fallback: () => Promise<T>): Promise<T> => {
  if (!isPool(db)) return fallback();
  const client = await db.connect();
  // A connection that dies while this holds it (the server stopped, a failover) makes the client
  // emit 'error'; the pool listens only while a connection is idle, so without this listener the
  // process would crash. The failed query rejects as well, and the connection is destroyed below.
  let lost: Error | undefined;
  const onLost = (e: Error): void => {
    lost = e;
  };
  client.on("error", onLost);
  const release = (failed?: Error): void => {
    client.removeListener("error", onLost);
    client.release(failed ?? lost);
  };
  let copied: number;
  try {
    // Belt and braces against a value that escaped copyText and split into rows of its own (threat
    // model B7): a COPY that read another number of rows than it was given is undone, by the
    // database before its commit (countedByTable) or here between the COPY and the commit.
    if (copy.countedByTable === true) {
      if (!Number.isSafeInteger(copy.rows)) throw new Error(`copyFirst: rows must be an integer, got ${copy.rows}`);
      copied = await copyIn(client, `begin; ${copy.sql}; call maas_billing_expect_rows_inserted(${copy.rows}); commit`, copy.text());
    } else {
      await client.query("begin");
      copied = await copyIn(client, copy.sql, copy.text());
      if (copied !== copy.rows) throw new CopyRowCountError(`COPY read ${copied} rows from a batch of ${copy.rows}: nothing stored`);
      await client.query("commit");
    }
  } catch (e) {
    const code = (e as { code?: string }).code;
    // A server error (it has a SQLSTATE) leaves the connection usable once the transaction is
    // rolled back; otherwise (a lost connection, a failed rollback) the connection is destroyed.
    const rolledBack = lost === undefined && (await client.query("rollback").then(
      () => true,
      () => false,
    ));
    release(rolledBack ? undefined : e instanceof Error ? e : new Error(String(e)));
    if (code === ROWS_INSERTED_MISMATCH) throw new CopyRowCountError(`COPY: ${(e as Error).message}`);
    if (code !== UNIQUE_VIOLATION) throw e;
    return fallback();
  }
  release();
  return copy.result(copied);
};

/**
 * The same inside the caller's transaction on `client`: the COPY runs under a savepoint, so a
 * unique_violation undoes the COPY alone and `fallback()` then stores the batch by the statement,
 * in the same transaction. Any other failure is rethrown (the caller's transaction then fails).
 */
export const copyFirstInTransaction = async <T>(client: PoolClient, copy: CopyBatch<T>, fallback: () => Promise<T>): Promise<T> => {
  await client.query("savepoint copy_first");
  let copied: number;
  try {
    copied = await copyIn(client, copy.sql, copy.text());
    if (copied !== copy.rows) throw new CopyRowCountError(`COPY read ${copied} rows from a batch of ${copy.rows}: nothing stored`);
  } catch (e) {
    await client.query("rollback to savepoint copy_first");
    if ((e as { code?: string }).code !== UNIQUE_VIOLATION) throw e;
    return fallback();
  }
  await client.query("release savepoint copy_first");
  return copy.result(copied);
};

export class CopyRowCountError extends Error {}
