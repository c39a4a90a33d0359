/**
 * A durable, ordered, size-bounded spool of event batches on local disk.
 *
 * One batch is one file `<sequence>.batch`, written to a `.tmp` name, fsynced, renamed and the
 * directory fsynced: after `append` returns, the batch survives a SIGKILL or a power cut, and a
 * crash before that leaves only a `.tmp` file that is ignored (the caller never got an answer, so
 * the client retries). A batch is therefore in the spool whole or not at all. Files are replayed in
 * sequence order.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import path from "node:path";

export interface SpooledBatch<T> {
  readonly sequence: number;
  readonly file: string;
  readonly items: T[];
}

/** The spool holds more than its limit: refuse, do not buffer without bound. */
export class SpoolFullError extends Error {
  constructor(readonly bytes: number, readonly maxBytes: number) {
    super(`local spool is full (${bytes} of ${maxBytes} bytes waiting for the database)`);
  }
}

/** The spool directory cannot be written (permissions, read-only or full disk). */
export class SpoolWriteError extends Error {
  constructor(readonly dir: string, readonly cause: Error) {
    super(`local spool ${dir} cannot be written: ${(cause as NodeJS.ErrnoException).code ?? ""} ${cause.message}`.replace(/\s+/g, " "));
  }
}

const SUFFIX = ".batch";
const seqName = (n: number) => `${String(n).padStart(16, "0")}${SUFFIX}`;

const fsyncDir = (dir: string): void => {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
};

export class FileSpool<T> {
  private files: { sequence: number; bytes: number }[] = [];
  private bytes = 0;
  private nextSequence = 1;
  /** Why the spool cannot be used, when it cannot (checked at open and on every failed write). */
  private brokenReason: string | undefined;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  /** Creates the directory, drops leftovers of interrupted writes, indexes the waiting batches. */
  open(): this {
    try {
      mkdirSync(this.dir, { recursive: true });
      for (const name of readdirSync(this.dir)) {
        if (name.endsWith(".tmp")) unlinkSync(path.join(this.dir, name));
      }
      this.files = readdirSync(this.dir)
        .filter((n) => n.endsWith(SUFFIX))
        .map((n) => ({ sequence: Number(n.slice(0, -SUFFIX.length)), bytes: statSync(path.join(this.dir, n)).size }))
        .filter((f) => Number.isSafeInteger(f.sequence))
        .sort((a, b) => a.sequence - b.sequence);
      this.bytes = this.files.reduce((a, f) => a + f.bytes, 0);
      this.nextSequence = (this.files.at(-1)?.sequence ?? 0) + 1;
      this.brokenReason = undefined;
    } catch (e) {
      this.brokenReason = new SpoolWriteError(this.dir, e as Error).message;
    }
    return this;
  }

  get pendingBatches(): number {
    return this.files.length;
  }

  get pendingBytes(): number {
    return this.bytes;
  }

  /** Set when the directory could not be opened; appends will fail with this reason. */
  get problem(): string | undefined {
    return this.brokenReason;
  }

  /** Writes one batch durably; throws SpoolFullError or SpoolWriteError (nothing is kept then). */
  append(items: readonly T[]): number {
    const body = Buffer.from(JSON.stringify(items));
    if (this.bytes + body.length > this.maxBytes) throw new SpoolFullError(this.bytes, this.maxBytes);
    const sequence = this.nextSequence;
    const final = path.join(this.dir, seqName(sequence));
    const tmp = `${final}.tmp`;
    try {
      if (this.brokenReason) this.open();
      if (this.brokenReason) throw new Error(this.brokenReason);
      const fd = openSync(tmp, "wx", 0o600);
      try {
        let off = 0;
        while (off < body.length) off += writeSync(fd, body, off);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, final);
      fsyncDir(this.dir);
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        // nothing was created
      }
      throw e instanceof SpoolWriteError ? e : new SpoolWriteError(this.dir, e as Error);
    }
    this.nextSequence = sequence + 1;
    this.files.push({ sequence, bytes: body.length });
    this.bytes += body.length;
    return sequence;
  }

  /**
   * The oldest waiting batch, or undefined. A file that cannot be read back (damaged on disk) is
   * moved to `rejected/` and reported through `onRejected`, so it can neither crash the service nor
   * block the batches behind it.
   */
  oldest(onRejected?: (file: string, reason: string) => void): SpooledBatch<T> | undefined {
    for (;;) {
      const f = this.files[0];
      if (!f) return undefined;
      const file = path.join(this.dir, seqName(f.sequence));
      try {
        const items: unknown = JSON.parse(readFileSync(file, "utf8"));
        if (!Array.isArray(items)) throw new Error("not a JSON array of events");
        return { sequence: f.sequence, file, items: items as T[] };
      } catch (e) {
        const moved = this.reject({ sequence: f.sequence, file, items: [] });
        onRejected?.(moved, (e as Error).message);
      }
    }
  }

  /** Moves a batch the database will never take to `<dir>/rejected/` (kept for a person to look at). */
  reject(batch: SpooledBatch<T>): string {
    const rejectedDir = path.join(this.dir, "rejected");
    mkdirSync(rejectedDir, { recursive: true });
    const target = path.join(rejectedDir, path.basename(batch.file));
    renameSync(batch.file, target);
    this.forget(batch);
    return target;
  }

  /** Removes a batch once the database has it (the removal is made durable too). */
  remove(batch: SpooledBatch<T>): void {
    unlinkSync(batch.file);
    this.forget(batch);
  }

  /** After a batch's file left the spool directory: that change made durable, its bytes no longer counted. */
  private forget(batch: SpooledBatch<T>): void {
    fsyncDir(this.dir);
    const i = this.files.findIndex((f) => f.sequence === batch.sequence);
    if (i >= 0) {
      this.bytes -= this.files[i].bytes;
      this.files.splice(i, 1);
    }
  }
}
