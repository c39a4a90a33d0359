/**
 * Server-side HTML with escaping by default: every value interpolated into `html` is escaped
 * unless it is itself the result of `html` (a SafeHtml). Arrays are joined. There is no way to
 * put a raw string into a page except through another `html` template, so tenant-controlled
 * text (user names, model names, invoice numbers) can never become markup.
 */
export class SafeHtml {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (c) => ESCAPES[c]);

type Value = SafeHtml | string | number | bigint | boolean | null | undefined | readonly Value[];

const render = (value: Value): string => {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof SafeHtml) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(String(value));
};

export const html = (strings: TemplateStringsArray, ...values: Value[]): SafeHtml =>
  new SafeHtml(strings.reduce((out, s, i) => out + s + (i < values.length ? render(values[i]) : ""), ""));

/** A JSON data block for the page's script (type application/json is data, not script, under CSP). */
export const jsonData = (id: string, data: unknown): SafeHtml =>
  // "<" is escaped so no value can close the element.
  new SafeHtml(`<script type="application/json" id="${escapeHtml(id)}">${JSON.stringify(data).replace(/</g, "\\u003c")}</script>`);
