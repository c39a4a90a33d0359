/** Overview: month-to-date cost (the draft invoice), tokens, the daily series, top models and users. */
import { html, jsonData, type SafeHtml } from "../html";
import type { Overview, Ranked } from "../data";
import { compact, count, money, utcDate, utcDateTime } from "./format";
import { badge, notice, tenantPath } from "./layout";

const ranked = (title: string, caption: string, rows: readonly Ranked[], withCost: boolean, currency: string, digits: number, unnamed: string): SafeHtml => html`
  <section class="card">
    <h2>${title}</h2>
    <p class="hint">${caption}</p>
    ${rows.length === 0
      ? html`<p class="empty-row">No usage this month yet.</p>`
      : html`<div class="table-wrap" tabindex="0" role="region" aria-label="${title}"><table>
          <thead><tr><th scope="col">Name</th><th scope="col" class="num">Tokens</th><th scope="col" class="num">Requests</th>${withCost ? html`<th scope="col" class="num">Cost</th>` : ""}</tr></thead>
          <tbody>${rows.map(
            (r) => html`<tr><th scope="row">${r.name || html`<span class="muted">${unnamed}</span>`}</th><td class="num">${count(r.totalTokens)}</td><td class="num">${count(r.requests)}</td>${
              withCost ? html`<td class="num">${r.cost !== undefined ? money(r.cost, currency, digits) : "—"}</td>` : ""
            }</tr>`,
          )}</tbody>
        </table></div>`}
  </section>`;

export const overviewPage = (tenant: string, o: Overview, currency: string, digits: number): SafeHtml => {
  const draft = o.draft;
  const costCard =
    draft.kind === "draft"
      ? html`<div class="figure" id="mtd-cost" data-amount-minor="${draft.invoice.totalMinor}" data-currency="${draft.invoice.currency}">${money(draft.invoice.total, draft.invoice.currency, draft.invoice.minorUnitDigits)}</div>
          <p class="hint">${draft.invoice.kind === "adjustment" ? "Adjustment on top of this month's final invoice" : "Draft invoice for"} ${o.period}, ${draft.invoice.lines.length} line(s).
            ${badge("draft", "Draft: changes until finalized")}</p>`
      : draft.kind === "nothing"
        ? html`<div class="figure" id="mtd-cost" data-amount-minor="0">${money("0", currency, digits)}</div><p class="hint">${draft.reason}</p>`
        : html`<div class="figure muted" id="mtd-cost">—</div>
            <p class="hint error-text" role="alert">This month's usage cannot be priced yet: ${draft.message}. Ask your platform team to add the missing price to the price book; nothing is lost meanwhile.</p>`;
  const hasUsage = BigInt(o.totalTokens) > 0n || BigInt(o.requests) > 0n;
  return html`
  <div class="page-head">
    <h1>Overview <span class="muted">· ${o.period}</span></h1>
    <p class="hint">Month to date: ${utcDate(o.from)} to ${utcDateTime(o.to)}.</p>
  </div>
  <div class="cards">
    <section class="card kpi" aria-labelledby="k-cost"><h2 id="k-cost">Cost, month to date</h2>${costCard}</section>
    <section class="card kpi" aria-labelledby="k-tokens"><h2 id="k-tokens">Tokens, month to date</h2>
      <div class="figure" id="mtd-tokens" data-tokens="${o.totalTokens}" title="${count(o.totalTokens)} tokens">${compact(o.totalTokens)}</div>
      <p class="hint">${count(o.inputTokens)} input · ${count(o.outputTokens)} output</p></section>
    <section class="card kpi" aria-labelledby="k-req"><h2 id="k-req">Requests, month to date</h2>
      <div class="figure">${count(o.requests)}</div><p class="hint"><a href="${tenantPath(tenant, "invoices")}">See invoices</a></p></section>
  </div>
  ${hasUsage
    ? html`<section class="card chart-card">
        <h2 id="daily-title">Tokens per day (UTC)</h2>
        <div id="daily-chart" class="chart" role="img" aria-labelledby="daily-title" aria-describedby="daily-table-summary"></div>
        ${jsonData("daily-data", o.daily)}
        <details id="daily-table-summary"><summary>Show the daily figures as a table</summary>
          <div class="table-wrap" tabindex="0" role="region" aria-label="Daily figures"><table>
            <thead><tr><th scope="col">Day</th><th scope="col" class="num">Input tokens</th><th scope="col" class="num">Output tokens</th></tr></thead>
            <tbody>${o.daily.map((d) => html`<tr><th scope="row">${d.day}</th><td class="num">${count(d.inputTokens)}</td><td class="num">${count(d.outputTokens)}</td></tr>`)}</tbody>
          </table></div>
        </details>
      </section>
      <div class="cards two">
        ${ranked("Top models", "By tokens this month; cost from the draft invoice lines.", o.models, true, currency, digits, "(no model label)")}
        ${ranked("Top users and API keys", "By tokens; the user is the identity an API key carries (kuadrant.io/user-id).", o.users, false, currency, digits, "(no user)")}
      </div>`
    : notice("empty", "No usage this month yet", html`Usage appears here a few minutes after your first requests through the gateway. If you expected usage, check that your API keys belong to this tenant, or look at <a href="${tenantPath(tenant, "usage")}">earlier months in the usage explorer</a>.`)}
`;
};
