/** Prices in force now, and announced changes. */
import { html, type SafeHtml } from "../html";
import { pricesVisibleTo } from "../../pricebook/cost";
import type { PriceBook, PriceVersion } from "../../pricebook/pricebook";
import { price, utcDateTime } from "./format";
import { badge, notice } from "./layout";

// Only the list prices and this tenant's own contract entries: another tenant's contract is its business.
const table = (v: PriceVersion, currency: string, tenant: string): SafeHtml => html`<div class="table-wrap" tabindex="0" role="region" aria-label="Prices"><table>
  <thead><tr><th scope="col">Price</th><th scope="col">Tier</th><th scope="col">Model</th><th scope="col" class="num">Input, per 1M tokens</th><th scope="col" class="num">Output, per 1M tokens</th><th scope="col" class="num">Per request</th></tr></thead>
  <tbody>${pricesVisibleTo(v, tenant).map(
    (p) =>
      html`<tr><td>${p.tenant ? badge("ok", "Your contract") : html`<span class="muted">list</span>`}</td><td>${p.tier === "*" ? html`<span class="muted">any tier</span>` : p.tier}</td><td>${p.model === "*" ? html`<span class="muted">any model</span>` : p.model}</td><td class="num">${price(p.text.inputPerMillionTokens, currency)}</td><td class="num">${price(p.text.outputPerMillionTokens, currency)}</td><td class="num">${price(p.text.perRequest, currency)}</td></tr>`,
  )}</tbody></table></div>`;

export const pricesPage = (book: PriceBook, now: Date, tenant: string): SafeHtml => {
  const current = [...book.versions].reverse().find((v) => v.effectiveFrom.getTime() <= now.getTime());
  const upcoming = book.versions.filter((v) => v.effectiveFrom.getTime() > now.getTime());
  return html`
  <div class="page-head"><h1>Prices</h1><p class="hint">Prices in ${book.currency}. Your contract prices, where you have them, apply before the list prices; within each, a more specific entry wins: tier and model, then any model of the tier, then the model on any tier, then any.</p></div>
  ${current
    ? html`<section class="card"><div class="section-head"><h2>In force since ${utcDateTime(current.effectiveFrom.toISOString())}</h2>${badge("ok", "Current")}</div>
        ${current.content.note ? html`<p class="hint">${current.content.note}</p>` : ""}${table(current, book.currency, tenant)}
        <p class="hint mono">Price version ${current.id}</p></section>`
    : notice("empty", "No price in force yet", "The first prices take effect on the date shown below. Usage before it cannot be invoiced; ask your platform team.")}
  ${upcoming.map(
    (v) => html`<section class="card"><div class="section-head"><h2>From ${utcDateTime(v.effectiveFrom.toISOString())}</h2>${badge("neutral", "Announced")}</div>
      ${v.content.note ? html`<p class="hint">${v.content.note}</p>` : ""}${table(v, book.currency, tenant)}</section>`,
  )}
`;
};
