/**
 * The one way the service runs a transaction: begin, the work, commit; on any error a rollback and
 * the error rethrown. A pooled connection that failed mid-transaction is destroyed rather than
 * handed back (it may have lost its server, or be in an unknown state when the rollback failed).
 */
import type { Pool, PoolClient } from "pg";

export interface TransactionOptions {
  /**
   * Repeatable read, read only: every statement of `work` reads one snapshot (the quota view reads
   * rules and usage that agree) and nothing can be written.
   */
  readonly readOnlySnapshot?: boolean;
}

/** Runs `work` in a transaction on a connection the caller holds (e.g. one holding an advisory lock). */
export const inTransaction = async <T>(client: PoolClient, work: (client: PoolClient) => Promise<T>, options: TransactionOptions = {}): Promise<T> => {
  await client.query(options.readOnlySnapshot ? "begin isolation level repeatable read read only" : "begin");
  try {
    const result = await work(client);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback").catch((rollbackError: unknown) => {
      throw new TransactionBrokenError(error, rollbackError);
    });
    throw error;
  }
};

/** A rollback that failed: the connection is in an unknown state. `cause` is the original error. */
export class TransactionBrokenError extends Error {
  constructor(
    readonly cause: unknown,
    readonly rollbackError: unknown,
  ) {
    super(`${(cause as Error)?.message ?? String(cause)} (and the rollback failed: ${(rollbackError as Error)?.message ?? String(rollbackError)})`);
  }
}

/** Runs `work` in a transaction on a pooled connection, released afterwards (destroyed after a failure). */
export const withTransaction = async <T>(pool: Pool, work: (client: PoolClient) => Promise<T>, options: TransactionOptions = {}): Promise<T> => {
  const client = await pool.connect();
  let failed: Error | undefined;
  try {
    return await inTransaction(client, work, options);
  } catch (error) {
    failed = error instanceof Error ? error : new Error(String(error));
    throw error instanceof TransactionBrokenError ? error.cause : error;
  } finally {
    client.release(failed);
  }
};

/**
 * Runs `work` in a transaction that is always rolled back: a what-if on the real data with the real
 * code, leaving nothing behind (the portal's preview of the draft invoice, invoices/store.ts).
 */
export const withRollback = async <T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> => {
  const client = await pool.connect();
  let failed: Error | undefined;
  try {
    await client.query("begin");
    return await work(client);
  } catch (error) {
    failed = error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    await client.query("rollback").catch((rollbackError: unknown) => {
      failed ??= rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    client.release(failed);
  }
};
