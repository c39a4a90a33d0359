/** Usage explorer: a UTC date range, group-by fields, the rows of queryUsage and a CSV download. */
import { html, type SafeHtml } from "../html";
import { GROUP_FIELDS, type GroupField, type UsageReport } from "../../usage/query";
import { count, utcDateTime } from "./format";
import { notice, tenantPath } from "./layout";

export interface UsageForm {
  /** Inclusive first day, YYYY-MM-DD (UTC). */
  readonly fromDay: string;
  /** Inclusive last day, YYYY-MM-DD (UTC). */
  readonly toDay: string;
  readonly groupBy: GroupField[];
}

const LABEL: Record<GroupField, string> = { user: "User", model: "Model", tier: "Tier" };

export const usageQueryString = (f: UsageForm): string => {
  const q = new URLSearchParams({ from: f.fromDay, to: f.toDay });
  if (f.groupBy.length) q.set("groupBy", f.groupBy.join(","));
  return q.toString();
};

export const usagePage = (tenant: string, form: UsageForm, report: UsageReport | undefined, problem: string | undefined): SafeHtml => html`
  <div class="page-head"><h1>Usage</h1><p class="hint">Tokens and requests from the usage ledger, the same rows invoices are built from.</p></div>
  <form class="card filters" method="get" action="${tenantPath(tenant, "usage")}">
    <div class="field"><label for="from">From (UTC day)</label><input id="from" name="from" type="date" value="${form.fromDay}" required></div>
    <div class="field"><label for="to">To (UTC day, included)</label><input id="to" name="to" type="date" value="${form.toDay}" required></div>
    <fieldset class="field"><legend>Group by</legend>
      ${GROUP_FIELDS.map((g) => html`<label class="check"><input type="checkbox" name="groupBy" value="${g}" ${form.groupBy.includes(g) ? html`checked` : ""}> ${LABEL[g]}</label>`)}
    </fieldset>
    <div class="field actions"><button type="submit" class="button">Show usage</button></div>
  </form>
  ${problem ? notice("error", "Check the range", problem) : ""}
  ${report
    ? html`<section class="card">
        <div class="section-head">
          <h2>${count(report.rows.length)} row(s) <span class="muted">· ${utcDateTime(report.from)} to ${utcDateTime(report.to)} (end excluded)</span></h2>
          <a class="button secondary" id="usage-csv" href="${tenantPath(tenant, `usage.csv?${usageQueryString(form)}`)}" download>Download CSV</a>
        </div>
        ${report.rows.length === 0
          ? notice("empty", "No usage in this range", "Pick a wider range, or check that requests went through the gateway with this tenant's API keys.")
          : html`<div class="table-wrap" tabindex="0" role="region" aria-label="Usage rows"><table id="usage-table">
              <thead><tr>${report.groupBy.map((g) => html`<th scope="col">${LABEL[g]}</th>`)}<th scope="col" class="num">Input tokens</th><th scope="col" class="num">Output tokens</th><th scope="col" class="num">Total tokens</th><th scope="col" class="num">Requests</th></tr></thead>
              <tbody>${report.rows.map(
                (r) =>
                  html`<tr>${report.groupBy.map((g) => html`<td>${r[g] || html`<span class="muted">(none)</span>`}</td>`)}<td class="num">${count(r.inputTokens)}</td><td class="num">${count(r.outputTokens)}</td><td class="num">${count(r.totalTokens)}</td><td class="num">${count(r.requests)}</td></tr>`,
              )}</tbody>
              ${report.groupBy.length === 0
                ? ""
                : html`<tfoot><tr><th scope="row" ${report.groupBy.length > 1 ? html`colspan="${report.groupBy.length}"` : ""}>Total</th><td class="num">${count(report.inputTokens)}</td><td class="num">${count(report.outputTokens)}</td><td class="num">${count(report.totalTokens)}</td><td class="num">${count(report.requests)}</td></tr></tfoot>`}
            </table></div>`}
      </section>`
    : ""}
`;
