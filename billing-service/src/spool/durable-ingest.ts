/**
 * Acknowledged means durable: a batch of events is answered only once it is committed to
 * PostgreSQL or, when the database is unreachable, written and fsynced to the local spool.
 * Spooled batches are replayed in order as soon as the database answers again; the insert is
 * idempotent on (tenant, source, id), so a batch replayed twice (crash between commit and spool removal, or
 * a timed-out insert that committed after all) is stored once. While anything is spooled, new
 * batches queue behind it, so the database sees batches in the order they were acknowledged.
 * When the spool passes its size limit, or cannot be written, the caller gets an
 * IngestUnavailableError (the API answers 503 with Retry-After) and nothing is kept in memory.
 */
import { FileSpool, SpoolFullError, SpoolWriteError, type SpooledBatch } from "./file-spool";
import { DatabaseTimeoutError, isDatabaseUnavailable } from "./database-errors";

export interface InsertResult {
  readonly accepted: number;
  readonly duplicates: number;
}

export type IngestOutcome =
  | ({ readonly stored: "database" } & InsertResult)
  | { readonly stored: "spool"; readonly spooled: number; readonly sequence: number };

/** The batch was not acknowledged: answer 503 with Retry-After; the client retries. */
export class IngestUnavailableError extends Error {
  readonly statusCode = 503;
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    readonly reason: "spool-full" | "spool-unwritable",
  ) {
    super(message);
  }
}

export interface SpoolLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface DurableIngestOptions<E> {
  /** The one insert path (src/events/ingest.ts), idempotent on the events' keys. */
  readonly insert: (events: readonly E[]) => Promise<InsertResult>;
  readonly spool: FileSpool<E>;
  readonly log: SpoolLog;
  /** An insert slower than this counts as "database unavailable" and the batch is spooled. */
  readonly databaseTimeoutMs?: number;
  /** Retry-After sent with a 503. */
  readonly retryAfterSeconds?: number;
  /** How often a non-empty spool retries the database. */
  readonly replayIntervalMs?: number;
}

export class DurableIngest<E> {
  private readonly timeoutMs: number;
  private readonly retryAfter: number;
  private readonly replayIntervalMs: number;
  private draining: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private databaseDown = false;

  constructor(private readonly options: DurableIngestOptions<E>) {
    this.timeoutMs = options.databaseTimeoutMs ?? 5_000;
    this.retryAfter = options.retryAfterSeconds ?? 5;
    this.replayIntervalMs = options.replayIntervalMs ?? 1_000;
  }

  get spool(): FileSpool<E> {
    return this.options.spool;
  }

  /** Starts replaying what a previous run left in the spool, and retrying while it is not empty. */
  start(): void {
    this.stopped = false;
    if (this.spool.problem) this.options.log.error({ problem: this.spool.problem }, "spool: unusable; events will be refused with 503 while the database is down");
    if (this.spool.pendingBatches > 0) this.options.log.info({ batches: this.spool.pendingBatches, bytes: this.spool.pendingBytes }, "spool: replaying batches left by a previous run");
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.draining;
  }

  readonly ingest = async (events: readonly E[]): Promise<IngestOutcome> => {
    if (this.spool.pendingBatches === 0) {
      try {
        const r = await this.insertWithTimeout(events);
        this.noteDatabaseUp();
        return { stored: "database", ...r };
      } catch (e) {
        if (!isDatabaseUnavailable(e)) throw e;
        this.noteDatabaseDown(e as Error);
      }
    }
    const sequence = this.appendToSpool(events);
    this.schedule(this.databaseDown ? this.replayIntervalMs : 0);
    return { stored: "spool", spooled: events.length, sequence };
  };

  /** Replays spooled batches in order until the spool is empty or the database fails again. */
  drain(): Promise<void> {
    this.draining ??= this.replay()
      .catch((e: unknown) => {
        // Never an unhandled rejection (that would end the process): log, and try again later.
        this.options.log.error({ err: (e as Error).message }, "spool: replay failed; will retry");
        this.schedule(this.replayIntervalMs * 10);
      })
      .finally(() => {
        this.draining = undefined;
      });
    return this.draining;
  }

  private appendToSpool(events: readonly E[]): number {
    try {
      return this.spool.append(events);
    } catch (e) {
      if (e instanceof SpoolFullError) {
        this.options.log.warn({ bytes: e.bytes, maxBytes: e.maxBytes }, "spool: full; refusing events with 503 until the database catches up");
        throw new IngestUnavailableError(`${e.message}; retry later`, this.retryAfter, "spool-full");
      }
      const message = e instanceof SpoolWriteError ? e.message : `local spool: ${(e as Error).message}`;
      this.options.log.error({ dir: this.spool.dir, err: message }, "spool: cannot write; refusing events with 503");
      throw new IngestUnavailableError(`database unavailable and ${message}`, this.retryAfter, "spool-unwritable");
    }
  }

  private async replay(): Promise<void> {
    let batch: SpooledBatch<E> | undefined;
    const damaged = (file: string, reason: string) =>
      this.options.log.error({ file, err: reason }, "spool: damaged batch file moved aside; its events were not stored");
    while (!this.stopped && (batch = this.spool.oldest(damaged)) !== undefined) {
      try {
        const r = await this.insertWithTimeout(batch.items);
        this.spool.remove(batch);
        this.noteDatabaseUp();
        this.options.log.info({ sequence: batch.sequence, events: batch.items.length, ...r, left: this.spool.pendingBatches }, "spool: batch replayed");
      } catch (e) {
        if (isDatabaseUnavailable(e)) {
          this.noteDatabaseDown(e as Error);
          this.schedule(this.replayIntervalMs);
          return;
        }
        // A batch the database refuses for its content would block the queue forever; it was
        // validated before it was spooled, so this is a bug: set it aside, loudly, and go on.
        const moved = this.spool.reject(batch);
        this.options.log.error({ sequence: batch.sequence, file: moved, events: batch.items.length, err: (e as Error).message }, "spool: batch refused by the database; moved aside, its events were not stored");
      }
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped || this.spool.pendingBatches === 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.drain(), delayMs);
    this.timer.unref();
  }

  /**
   * Concurrent batches upsert the same hourly rollup rows and can deadlock (40P01) or fail
   * serialization (40001): the loser's batch was rolled back whole, so it is simply tried again.
   */
  private async insertWithTimeout(events: readonly E[]): Promise<InsertResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.insertOnce(events);
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        if ((code !== "40P01" && code !== "40001") || attempt >= 5) throw e;
        this.options.log.warn({ code, attempt }, "spool: insert lost a lock conflict; retrying the batch");
        await new Promise((r) => setTimeout(r, 5 * attempt));
      }
    }
  }

  private insertOnce(events: readonly E[]): Promise<InsertResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DatabaseTimeoutError(`database insert took longer than ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    // A timed-out insert may still commit: the replay of the spooled copy is then a no-op.
    return Promise.race([this.options.insert(events), timeout]).finally(() => clearTimeout(timer));
  }

  private noteDatabaseDown(e: Error): void {
    if (!this.databaseDown) this.options.log.warn({ err: e.message }, "spool: database unavailable; acknowledging events from the local spool");
    this.databaseDown = true;
  }

  private noteDatabaseUp(): void {
    if (this.databaseDown) this.options.log.info({ pending: this.spool.pendingBatches }, "spool: database reachable again");
    this.databaseDown = false;
  }
}
