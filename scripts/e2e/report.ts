// Named checks with a printed verdict each, and a closing "N passed, N failed" line.

export class CheckFailure extends Error {}

/** Throws a CheckFailure (a failed expectation, as opposed to a harness error) when `condition` is false. */
export function expect(condition: boolean, message: string): asserts condition {
  if (!condition) throw new CheckFailure(message);
}

export class Report {
  private passed = 0;
  private failed = 0;

  /** Runs one check; its `detail` lines are printed under the verdict so the log shows what was seen. */
  async check(name: string, run: (detail: (line: string) => void) => Promise<void>): Promise<boolean> {
    const details: string[] = [];
    try {
      await run((line) => details.push(line));
      this.passed++;
      console.log(`PASS ${name}`);
      for (const line of details) console.log(`     ${line}`);
      return true;
    } catch (err) {
      this.failed++;
      console.log(`FAIL ${name}`);
      for (const line of details) console.log(`     ${line}`);
      console.log(`     ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
  }

  /** Passed and failed checks so far (a stage's share is the difference across it). */
  get counts(): { passed: number; failed: number } {
    return { passed: this.passed, failed: this.failed };
  }

  /** Records a failure that is not a check of its own (a stage that could not run, and why). */
  fail(name: string, reason: string): void {
    this.failed++;
    console.log(`FAIL ${name}`);
    for (const line of reason.split("\n")) console.log(`     ${line}`);
  }

  get ok(): boolean {
    return this.failed === 0 && this.passed > 0;
  }

  summary(): string {
    return `e2e: ${this.passed} passed, ${this.failed} failed`;
  }
}
