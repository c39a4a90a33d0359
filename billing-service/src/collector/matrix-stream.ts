/**
 * Incremental parser for a Prometheus matrix response.
 *
 * A query over every series of a counter returns one large JSON document; parsing it whole holds
 * the text and the full object tree in memory at once. This splitter scans the bytes as they
 * arrive, cuts out each element of `data.result` and parses only that element, so memory stays at
 * about one series and parsing overlaps the download.
 */

/** One series of a matrix result: its labels and its raw samples (seconds, value string). */
export interface MatrixSeries {
  readonly metric: Record<string, string>;
  readonly values: ReadonlyArray<readonly [number, string]>;
}

const RESULT_START = /"result"\s*:\s*\[/;

export class MatrixStreamParser {
  private buffer = "";
  /** Index in `buffer` up to which text has been scanned. */
  private pos = 0;
  private inResult = false;
  private done = false;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private objectStart = -1;
  private head = "";

  constructor(private readonly onSeries: (series: MatrixSeries) => void) {}

  push(chunk: string): void {
    if (this.done) {
      this.head += chunk;
      return;
    }
    this.buffer += chunk;
    if (!this.inResult) {
      const m = RESULT_START.exec(this.buffer);
      if (!m) return;
      this.head = this.buffer.slice(0, m.index);
      this.inResult = true;
      this.buffer = this.buffer.slice(m.index + m[0].length);
      this.pos = 0;
    }
    this.scan();
  }

  /** Text before the result array (status, resultType), kept for checks and error messages. */
  get prefix(): string {
    return this.head;
  }

  get sawResult(): boolean {
    return this.inResult;
  }

  private scan(): void {
    const b = this.buffer;
    let i = this.pos;
    for (; i < b.length; i++) {
      const c = b.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c /* \ */) this.escaped = true;
        else if (c === 0x22 /* " */) this.inString = false;
        continue;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
        if (this.depth === 0 && c === 0x7b) this.objectStart = i;
        this.depth += 1;
      } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
        if (this.depth === 0) {
          // The closing bracket of the result array: everything after is trailer.
          this.done = true;
          this.head += b.slice(i);
          this.buffer = "";
          this.pos = 0;
          return;
        }
        this.depth -= 1;
        if (this.depth === 0 && c === 0x7d) {
          this.onSeries(JSON.parse(b.slice(this.objectStart, i + 1)) as MatrixSeries);
          this.objectStart = -1;
        }
      }
    }
    // Drop text already handed out; keep an unfinished element.
    if (this.objectStart >= 0) {
      this.buffer = b.slice(this.objectStart);
      this.pos = i - this.objectStart;
      this.objectStart = 0;
    } else {
      this.buffer = "";
      this.pos = 0;
    }
  }
}
