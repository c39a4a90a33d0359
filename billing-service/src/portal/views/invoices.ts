/** Invoices: the list, and one invoice with its lines, flags, lineage summary and downloads. */
import { html, type SafeHtml } from "../html";
import type { Invoice } from "../../invoices/store";
import { count, money, price, utcDate, utcDateTime } from "./format";
import { badge, notice, tenantPath } from "./layout";

type InvoiceHead = Omit<Invoice, "lines">;

const status = (inv: InvoiceHead): SafeHtml => (inv.status === "final" ? badge("final", "Final") : badge("draft", "Draft"));
const invoicePath = (inv: InvoiceHead, sub = ""): string => tenantPath(inv.tenant, `invoices/${encodeURIComponent(inv.id)}${sub}`);

export const invoiceListPage = (invoices: readonly InvoiceHead[]): SafeHtml => html`
  <div class="page-head"><h1>Invoices</h1><p class="hint">A final invoice never changes; usage that arrives later goes to an adjustment invoice of the same period.</p></div>
  ${invoices.length === 0
    ? notice("empty", "No invoices yet", "Your platform team creates the invoice of a month after it ends. Until then, the overview shows this month's cost so far.")
    : html`<section class="card"><div class="table-wrap" tabindex="0" role="region" aria-label="Invoices"><table id="invoice-list" class="stack">
        <thead><tr><th scope="col">Invoice</th><th scope="col">Period</th><th scope="col">Kind</th><th scope="col">Status</th><th scope="col" class="num">Total</th><th scope="col">Finalized</th></tr></thead>
        <tbody>${[...invoices].reverse().map(
          (inv) => html`<tr>
            <th scope="row"><a href="${invoicePath(inv)}">${inv.number}</a></th>
            <td data-label="Period">${inv.period}</td><td data-label="Kind">${inv.kind === "adjustment" ? "Adjustment" : "Standard"}</td><td data-label="Status">${status(inv)}</td>
            <td class="num" data-label="Total">${money(inv.total, inv.currency, inv.minorUnitDigits)}</td>
            <td data-label="Finalized">${inv.finalizedAt ? utcDate(inv.finalizedAt) : html`<span class="muted">not yet</span>`}</td></tr>`,
        )}</tbody></table></div></section>`}
`;

/** Any flag the invoice carries, shown as it is: counts, lists and booleans. */
const flagValue = (value: unknown): SafeHtml | string => {
  if (typeof value === "boolean") return value ? badge("warn", "yes") : "no";
  if (Array.isArray(value)) return html`<ul class="plain">${value.map((v) => html`<li class="mono">${typeof v === "string" ? v : JSON.stringify(v)}</li>`)}</ul>`;
  if (value !== null && typeof value === "object") return html`<code>${JSON.stringify(value)}</code>`;
  return String(value);
};

const FLAG_LABEL: Record<string, string> = {
  counterResets: "Counter resets found (counted from zero)",
  scrapeGaps: "Scrape gaps in the metrics",
  priceVersions: "Price versions applied",
};

const humanize = (key: string): string => FLAG_LABEL[key] ?? key.replace(/([a-z])([A-Z])/g, "$1 $2").replace(/^./, (c) => c.toUpperCase());

const COMPONENT: Record<string, string> = { input_tokens: "Input tokens", output_tokens: "Output tokens", requests: "Requests" };

export const invoicePage = (inv: Invoice): SafeHtml => {
  const origins = [...new Set(inv.lines.flatMap((l) => (Array.isArray(l.lineage.origins) ? (l.lineage.origins as string[]) : [])))];
  const windows = inv.lines.flatMap((l) => [l.lineage.firstWindow, l.lineage.lastWindow]).filter((w): w is string => typeof w === "string").sort();
  return html`
  <div class="page-head">
    <p class="crumb"><a href="${tenantPath(inv.tenant, "invoices")}">Invoices</a> /</p>
    <h1 id="invoice-number">${inv.number}</h1>
    <p>${status(inv)} ${inv.kind === "adjustment" ? badge("neutral", "Adjustment") : ""} <span class="hint">Period ${inv.period}: ${utcDate(inv.periodStart)} to ${utcDate(inv.periodEnd)} (end excluded)</span></p>
  </div>
  <div class="cards">
    <section class="card kpi"><h2>Total</h2><div class="figure" id="invoice-total" data-amount-minor="${inv.totalMinor}">${money(inv.total, inv.currency, inv.minorUnitDigits)}</div>
      <p class="hint">${inv.currency}, ${inv.lines.length} line(s)</p></section>
    <section class="card kpi"><h2>Status</h2>
      ${inv.status === "final"
        ? html`<p>Finalized ${utcDateTime(inv.finalizedAt ?? "")}. This invoice can no longer change.</p>
            <p class="hint">Content SHA-256</p><p class="hash mono" id="content-hash">${inv.contentSha256}</p>`
        : html`<p>Draft created ${utcDateTime(inv.createdAt)}. It is rebuilt from the ledger until your platform team finalizes it.</p>`}
    </section>
    <section class="card kpi"><h2>Downloads</h2>
      <ul class="downloads">
        <li><a class="button secondary" download href="${invoicePath(inv, "/download/json")}">JSON</a></li>
        <li><a class="button secondary" download href="${invoicePath(inv, "/download/csv")}">CSV</a></li>
        <li><a class="button secondary" download href="${invoicePath(inv, "/download/focus")}">FOCUS CSV</a></li>
      </ul>
      <p class="hint">FOCUS is the FinOps cost and usage format most cost tools import.</p>
    </section>
  </div>
  <section class="card">
    <h2>Lines</h2>
    ${inv.lines.length === 0
      ? html`<p class="empty-row">This invoice has no lines: there was no billable usage in the period.</p>`
      : html`<div class="table-wrap" tabindex="0" role="region" aria-label="Invoice lines"><table id="invoice-lines" class="stack">
        <thead><tr><th scope="col" class="num">#</th><th scope="col">Model</th><th scope="col">Tier</th><th scope="col">Component</th><th scope="col" class="num">Quantity</th><th scope="col">Unit</th><th scope="col" class="num">Unit price</th><th scope="col" class="num">Amount</th></tr></thead>
        <tbody>${inv.lines.map(
          (l) => html`<tr data-line="${l.lineNo}" data-amount-minor="${l.amountMinor}">
            <td class="num" data-label="Line">${l.lineNo}</td><td data-label="Model">${l.model}</td><td data-label="Tier">${l.tier}</td><td data-label="Component">${COMPONENT[l.component] ?? l.component}</td>
            <td class="num" data-label="Quantity">${count(l.quantity)}</td><td data-label="Unit">${l.unit}</td><td class="num" data-label="Unit price">${price(l.unitPrice, inv.currency)}</td><td class="num amount" data-label="Amount">${money(l.amount, inv.currency, inv.minorUnitDigits)}</td></tr>`,
        )}</tbody>
        <tfoot><tr><th scope="row" colspan="7">Total</th><td class="num">${money(inv.total, inv.currency, inv.minorUnitDigits)}</td></tr></tfoot>
      </table></div>
      <p class="hint">Rounding: ${inv.roundingRule}.</p>`}
  </section>
  <div class="cards two">
    <section class="card"><h2>Flags</h2>
      ${Object.keys(inv.flags ?? {}).length === 0
        ? html`<p class="empty-row">No flags.</p>`
        : html`<dl class="facts" id="invoice-flags">${Object.entries(inv.flags).map(([k, v]) => html`<div data-flag="${k}"><dt>${humanize(k)}</dt><dd>${flagValue(v)}</dd></div>`)}</dl>`}
    </section>
    <section class="card"><h2>Lineage</h2>
      <dl class="facts">
        <div><dt>Ledger rows billed</dt><dd>${count(inv.ledgerRows)}</dd></div>
        <div><dt>Sources</dt><dd>${origins.length ? origins.join(", ") : "—"}</dd></div>
        <div><dt>Usage windows</dt><dd>${windows.length ? `${utcDateTime(windows[0])} to ${utcDateTime(windows[windows.length - 1])}` : "—"}</dd></div>
        <div><dt>Invoice id</dt><dd class="mono">${inv.id}</dd></div>
      </dl>
      <p class="hint">Each line in the JSON download lists its ledger rows, price version and exact amount before rounding.</p>
    </section>
  </div>
`;
};
