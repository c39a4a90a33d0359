/** Billing periods are calendar months in UTC, written YYYY-MM. */
export interface Period {
  readonly label: string;
  readonly start: Date;
  readonly end: Date;
}

export const parsePeriod = (label: string): Period => {
  const m = /^(\d{4})-(\d{2})$/.exec(label);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 12) throw new Error(`expected a period like 2026-05, got ${JSON.stringify(label)}`);
  const year = Number(m[1]);
  const month = Number(m[2]) - 1;
  return { label, start: new Date(Date.UTC(year, month, 1)), end: new Date(Date.UTC(year, month + 1, 1)) };
};

/** The calendar month (UTC) that `at` falls in. */
export const periodOf = (at: Date): Period =>
  parsePeriod(`${at.getUTCFullYear()}-${String(at.getUTCMonth() + 1).padStart(2, "0")}`);
