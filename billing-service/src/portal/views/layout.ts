/** The page frame: header with the tenant (or the admin's tenant switcher), navigation, sign-out. */
import { html, type SafeHtml } from "../html";

export type Section = "overview" | "usage" | "quotas" | "invoices" | "prices";

export interface Frame {
  readonly title: string;
  /** The tenant the page is about; undefined on pages outside a tenant (sign-in, errors). */
  readonly tenant?: string;
  readonly section?: Section;
  /** Only for admins: every tenant, for the switcher. A tenant's page never gets this list. */
  readonly switchTo?: readonly string[];
  /** CSRF token of the session, for the sign-out form; none when signed out. */
  readonly csrf?: string;
  readonly scripts?: readonly string[];
}

const NAV: ReadonlyArray<[Section, string, string]> = [
  ["overview", "Overview", ""],
  ["usage", "Usage", "usage"],
  ["quotas", "Quotas", "quotas"],
  ["invoices", "Invoices", "invoices"],
  ["prices", "Prices", "prices"],
];

export const tenantPath = (tenant: string, sub = ""): string => `/portal/t/${encodeURIComponent(tenant)}/${sub}`;

const switcher = (current: string, tenants: readonly string[]): SafeHtml => html`
  <form class="switcher" method="get" action="/portal/switch">
    <label for="tenant-switch">Tenant</label>
    <select id="tenant-switch" name="tenant">
      ${tenants.map((t) => html`<option value="${t}" ${t === current ? html`selected` : ""}>${t}</option>`)}
    </select>
    <button type="submit" class="button secondary">Switch</button>
  </form>`;

export const page = (frame: Frame, body: SafeHtml): SafeHtml => html`<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${frame.title}${frame.tenant ? ` · ${frame.tenant}` : ""} · maas-billing</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/portal/assets/portal.css">
  ${(frame.scripts ?? []).some((s) => s.includes("uPlot")) ? html`<link rel="stylesheet" href="/portal/assets/uPlot.min.css">` : ""}
  ${(frame.scripts ?? []).map((s) => html`<script src="${s}" defer></script>`)}
</head>
<body>
  <a class="skip" href="#main">Skip to content</a>
  <header class="top">
    <div class="brand"><span class="logo" aria-hidden="true">◆</span> <span>maas-billing</span><span class="sub">Billing portal</span></div>
    ${frame.tenant
      ? frame.switchTo
        ? switcher(frame.tenant, frame.switchTo)
        : html`<div class="tenant"><span class="label">Tenant</span> <strong>${frame.tenant}</strong></div>`
      : ""}
    ${frame.csrf
      ? html`<form class="signout" method="post" action="/portal/sign-out">
          <input type="hidden" name="_csrf" value="${frame.csrf}">
          <button type="submit" class="button secondary">Sign out</button>
        </form>`
      : ""}
  </header>
  ${frame.tenant
    ? html`<nav class="tabs" aria-label="Sections">
        <ul>
          ${NAV.map(
            ([id, label, sub]) =>
              html`<li><a href="${tenantPath(frame.tenant!, sub)}" ${id === frame.section ? html`aria-current="page"` : ""}>${label}</a></li>`,
          )}
        </ul>
      </nav>`
    : ""}
  <main id="main" tabindex="-1">
    ${body}
  </main>
  <footer class="foot">
    <p>Amounts come from the same code as your invoices: exact to the minor unit, all times UTC.</p>
  </footer>
</body>
</html>`;

/** A message box for empty and error states: what happened and what to do. */
export const notice = (kind: "empty" | "error" | "info", title: string, body: SafeHtml | string): SafeHtml =>
  html`<section class="notice ${kind}" ${kind === "error" ? html`role="alert"` : ""}><h2>${title}</h2><p>${body}</p></section>`;

/** A status badge with text (never colour alone). */
export const badge = (kind: "final" | "draft" | "ok" | "warn" | "bad" | "neutral", text: string): SafeHtml => html`<span class="badge ${kind}">${text}</span>`;
