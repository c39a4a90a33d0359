/** Quotas: used, remaining, when each resets, and where it stands against the warning thresholds. */
import { html, type SafeHtml } from "../html";
import { formatScaled } from "../../pricebook/money";
import type { QuotaState } from "../../quota/store";
import { count, money, utcDateTime } from "./format";
import { badge, notice } from "./layout";

/** Thresholds the page marks: warn from 80 % used, critical from 95 %, exhausted at 100 %. */
export const QUOTA_WARN_PERCENT = 80n;
export const QUOTA_CRITICAL_PERCENT = 95n;

export const resetAt = (q: Pick<QuotaState, "period" | "periodStart">): string => {
  const start = new Date(q.periodStart);
  const next = q.period === "day" ? Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate() + 1) : Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1);
  return new Date(next).toISOString();
};

const standing = (used: bigint, limit: bigint): SafeHtml => {
  if (limit === 0n || used >= limit) return badge("bad", "Exhausted: requests are refused");
  const percent = (used * 100n) / limit;
  if (percent >= QUOTA_CRITICAL_PERCENT) return badge("bad", `${percent}% used`);
  if (percent >= QUOTA_WARN_PERCENT) return badge("warn", `${percent}% used`);
  return badge("ok", `${percent}% used`);
};

export const quotasPage = (quotas: readonly QuotaState[], currency: string, digits: number): SafeHtml => {
  const amount = (q: QuotaState, v: string): string =>
    q.kind === "cost" ? money(formatScaled(BigInt(v), digits), currency, digits) : `${count(v)} ${q.kind === "requests" ? "requests" : "tokens"}`;
  return html`
  <div class="page-head"><h1>Quotas</h1>
    <p class="hint">Limits your platform team set. A request that would go over a limit is refused until the period resets. Marked at ${QUOTA_WARN_PERCENT}% and ${QUOTA_CRITICAL_PERCENT}% used.</p></div>
  ${quotas.length === 0
    ? notice("empty", "No quotas set", "Requests are not limited by a budget. Ask your platform team if you want a monthly token or cost cap for the tenant or a user.")
    : html`<div class="cards quotas">${quotas.map((q) => {
        const used = BigInt(q.used);
        const limit = BigInt(q.limit);
        return html`<section class="card quota">
          <h2>${q.user ? html`User <span class="mono">${q.user}</span>` : "Whole tenant"}: ${q.kind} per ${q.period}</h2>
          <meter min="0" max="${limit.toString()}" low="${((limit * QUOTA_WARN_PERCENT) / 100n).toString()}" high="${((limit * QUOTA_CRITICAL_PERCENT) / 100n).toString()}" optimum="0" value="${(used > limit ? limit : used).toString()}" aria-label="Used of the limit"></meter>
          <dl class="facts">
            <div><dt>Used</dt><dd>${amount(q, q.used)}</dd></div>
            <div><dt>Remaining</dt><dd>${amount(q, q.remaining)}</dd></div>
            <div><dt>Limit</dt><dd>${amount(q, q.limit)}</dd></div>
            <div><dt>Resets</dt><dd>${utcDateTime(resetAt(q))}</dd></div>
          </dl>
          <p>${standing(used, limit)}</p>
        </section>`;
      })}</div>`}
`;
};
