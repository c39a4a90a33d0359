/**
 * The tenant billing portal at /portal/: server-rendered pages over the same modules as the API.
 * registerPortal must run before registerAuth (app.ts): its onRequest hook turns the session
 * cookie into the bearer credential the API's auth hook then checks, unchanged. Tenant pages are
 * /portal/t/<tenant>/... with scope { tenant: "params" }, exactly like /v1/tenants/<tenant>/....
 */
import { randomBytes } from "node:crypto";
import cookie from "@fastify/cookie";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Pool } from "pg";
import { z } from "zod";
import { isBillingAdmin, type Authenticator } from "../auth/types";
import { invoicesToFocus, invoiceToCsv } from "../invoices/render";
import { getInvoice, InvoiceNotFoundError, listInvoices } from "../invoices/store";
import type { PriceBook } from "../pricebook/pricebook";
import { readQuotaStates } from "../quota/service";
import { tenantParams } from "../schemas";
import { UnpricedUsageError } from "../invoices/pricing";
import { queryUsage, usageToCsv } from "../usage/query";
import { registerPortalAssets } from "./assets";
import { loadOverview, visibleTenants } from "./data";
import { csrfFor, isPortalUrl, resolveCredential, SESSION_COOKIE, setSecurityHeaders, SIGNIN_COOKIE, stateChangeAllowed } from "./guard";
import type { SafeHtml } from "./html";
import { createPortalSessions, csrfTokenFor, SESSION_TTL_MS } from "./sessions";
import { parseUsageForm } from "./usage-form";
import { errorPage, signInPage } from "./views/signin";
import { invoiceListPage, invoicePage } from "./views/invoices";
import { notice, page, tenantPath, type Section } from "./views/layout";
import { overviewPage } from "./views/overview";
import { pricesPage } from "./views/prices";
import { quotasPage } from "./views/quotas";
import { usagePage } from "./views/usage";

export interface PortalDeps {
  readonly pool: Pool;
  readonly priceBook: () => PriceBook;
  readonly authenticator: Authenticator;
  /** Kubernetes auth mode behind the platform's OAuth proxy: take the user's token from X-Forwarded-Access-Token. */
  readonly trustForwardedToken?: boolean;
}

const COOKIE_BASE = { path: "/", httpOnly: true, secure: true, sameSite: "strict" } as const;

const sendPage = (reply: FastifyReply, body: SafeHtml, status = 200): FastifyReply => reply.code(status).type("text/html; charset=utf-8").send(body.text);

export const registerPortal = (base: FastifyInstance, deps: PortalDeps): void => {
  const sessions = createPortalSessions(deps.pool);
  void base.register(cookie);

  // Forms post urlencoded bodies; parsed for portal URLs only (the API takes JSON).
  base.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string", bodyLimit: 16 * 1024 }, (request, body, done) => {
    if (!isPortalUrl(request.url)) return done(Object.assign(new Error("unsupported media type: send JSON"), { statusCode: 415 }), undefined);
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  base.addHook("onRequest", async (request, reply) => {
    if (!isPortalUrl(request.url)) return;
    // Only the cookie (or the proxy's header) signs a portal request in: never a header a page could be tricked into sending.
    delete request.headers.authorization;
    const credential = await resolveCredential(request, sessions, deps.trustForwardedToken === true);
    if (credential) {
      request.portalCredential = credential;
      request.headers.authorization = `Bearer ${credential.token}`;
    } else if (request.routeOptions.config?.scope && request.method === "GET") {
      return reply.redirect("/portal/sign-in", 303);
    }
  });

  // State changes: same origin and the session's CSRF token, checked before anything else runs.
  base.addHook("preValidation", async (request, reply) => {
    if (!isPortalUrl(request.url) || request.method === "GET" || request.method === "HEAD") return;
    const key = request.routeOptions.url === "/portal/sign-in" ? request.cookies[SIGNIN_COOKIE] : request.portalCredential?.csrfKey;
    if (!stateChangeAllowed(request, key)) {
      request.log.warn({ event: "portal.csrf_refused", route: request.routeOptions.url, site: request.headers["sec-fetch-site"], origin: request.headers.origin }, "refused");
      return sendPage(reply, errorPage(403), 403);
    }
  });

  base.addHook("onSend", async (request, reply, payload) => {
    if (!isPortalUrl(request.url)) return payload;
    setSecurityHeaders(reply, request.url.startsWith("/portal/assets/") && reply.statusCode === 200);
    // The API's JSON errors (auth 401/403, validation, 404, 500) as pages that say what to do.
    if (reply.statusCode >= 400 && String(reply.getHeader("content-type") ?? "").startsWith("application/json")) {
      reply.type("text/html; charset=utf-8");
      reply.removeHeader("content-length");
      return errorPage(reply.statusCode, csrfFor(request)).text;
    }
    return payload;
  });

  const app = base.withTypeProvider<ZodTypeProvider>();
  const signedIn = { config: { scope: { tenant: "none" as const } }, schema: { hide: true } };
  const tenantScoped = { config: { scope: { tenant: "params" as const } } };

  registerPortalAssets(app);
  app.get("/portal", { schema: { hide: true } }, async (_request, reply) => reply.redirect("/portal/", 308));

  app.get("/portal/sign-in", { schema: { hide: true, querystring: z.object({ "signed-out": z.string().optional() }) } }, async (request, reply) => {
    if (request.portalCredential) return reply.redirect("/portal/", 303);
    let pre = request.cookies[SIGNIN_COOKIE];
    if (!pre || !/^[A-Za-z0-9_-]{43}$/.test(pre)) {
      pre = randomBytes(32).toString("base64url");
      reply.setCookie(SIGNIN_COOKIE, pre, { ...COOKIE_BASE, maxAge: 60 * 60 });
    }
    return sendPage(reply, signInPage({ csrf: csrfTokenFor(pre), signedOut: request.query["signed-out"] !== undefined, proxy: deps.trustForwardedToken }));
  });

  app.post("/portal/sign-in", { schema: { hide: true, body: z.object({ token: z.string().max(4096).default(""), _csrf: z.string() }) } }, async (request, reply) => {
    const token = request.body.token.trim();
    const principal = token ? await deps.authenticator.authenticate(token) : undefined;
    const pre = request.cookies[SIGNIN_COOKIE]!;
    if (!principal) {
      request.log.warn({ event: "portal.sign_in_refused" }, "unknown token");
      return sendPage(reply, signInPage({ csrf: csrfTokenFor(pre), problem: "That token was not accepted. Copy the whole token (it starts with mb_), or ask your platform team for a new one." }), 401);
    }
    const secret = await sessions.create(token, principal.name);
    request.log.info({ event: "portal.signed_in", principal: principal.name }, "signed in");
    reply.clearCookie(SIGNIN_COOKIE, COOKIE_BASE);
    reply.setCookie(SESSION_COOKIE, secret, { ...COOKIE_BASE, maxAge: SESSION_TTL_MS / 1000 });
    return reply.redirect("/portal/", 303);
  });

  app.post("/portal/sign-out", { ...signedIn, schema: { hide: true, body: z.object({ _csrf: z.string() }) } }, async (request, reply) => {
    const credential = request.portalCredential!;
    if (credential.sessionSecret) await sessions.end(credential.sessionSecret);
    request.log.info({ event: "portal.signed_out", principal: request.principal?.name }, "signed out");
    reply.clearCookie(SESSION_COOKIE, COOKIE_BASE);
    // Behind the OAuth proxy, its own sign-out ends the proxy's session.
    return reply.redirect(credential.via === "proxy" ? "/oauth/sign_out" : "/portal/sign-in?signed-out=1", 303);
  });

  app.get("/portal/", signedIn, async (request, reply) => {
    const tenants = await visibleTenants(deps.pool, request.principal!);
    if (tenants.length > 0) return reply.redirect(tenantPath(tenants[0]), 303);
    return sendPage(
      reply,
      page({ title: "No tenant yet", csrf: csrfFor(request) }, notice("empty", "No tenant to show yet", "This sign-in gives access to no tenant with usage, quotas or invoices yet. Come back after the first requests, or ask your platform team which token to use.")),
    );
  });

  app.get("/portal/switch", { config: { scope: { tenant: "none", admin: true } }, schema: { hide: true, querystring: tenantParams } }, async (request, reply) =>
    reply.redirect(tenantPath(request.query.tenant), 303),
  );

  /** Renders a tenant page inside the frame; admins get the switcher, a tenant only its own name. */
  const tenantPage = async (request: FastifyRequest, reply: FastifyReply, tenant: string, section: Section, title: string, body: SafeHtml, scripts?: string[]) => {
    const principal = request.principal!;
    const switchTo = (await isBillingAdmin(principal)) ? await visibleTenants(deps.pool, principal) : undefined;
    return sendPage(reply, page({ title, tenant, section, csrf: csrfFor(request), scripts, ...(switchTo ? { switchTo: switchTo.includes(tenant) ? switchTo : [tenant, ...switchTo] } : {}) }, body));
  };

  app.get("/portal/t/:tenant", { ...tenantScoped, schema: { hide: true, params: tenantParams } }, async (request, reply) => reply.redirect(tenantPath(request.params.tenant), 308));

  app.get("/portal/t/:tenant/", { ...tenantScoped, schema: { hide: true, params: tenantParams } }, async (request, reply) => {
    const book = deps.priceBook();
    const overview = await loadOverview(deps.pool, book, request.params.tenant);
    return tenantPage(request, reply, request.params.tenant, "overview", "Overview", overviewPage(request.params.tenant, overview, book.currency, book.minorUnitDigits), [
      "/portal/assets/uPlot.iife.min.js",
      "/portal/assets/portal.js",
    ]);
  });

  const usageQuery = z.object({ from: z.string().optional(), to: z.string().optional(), groupBy: z.union([z.string(), z.array(z.string())]).optional() });

  app.get("/portal/t/:tenant/usage", { ...tenantScoped, schema: { hide: true, params: tenantParams, querystring: usageQuery } }, async (request, reply) => {
    const { form, range, problem } = parseUsageForm(request.query);
    // Priced like GET /v1/tenants/:tenant/usage (cost per row, rounded like the invoice).
    let report;
    let shown = problem;
    try {
      report = range ? await queryUsage(deps.pool, request.params.tenant, range.from, range.to, form.groupBy, deps.priceBook()) : undefined;
    } catch (e) {
      if (!(e instanceof UnpricedUsageError)) throw e;
      shown = `This range has usage the price book has no price for (${e.message}). Ask the platform team to add the price.`;
    }
    return tenantPage(request, reply, request.params.tenant, "usage", "Usage", usagePage(request.params.tenant, form, report, shown));
  });

  app.get("/portal/t/:tenant/usage.csv", { ...tenantScoped, schema: { hide: true, params: tenantParams, querystring: usageQuery } }, async (request, reply) => {
    const { form, range, problem } = parseUsageForm(request.query);
    if (!range) return reply.code(400).send({ error: "bad request", message: problem });
    // Priced like GET /v1/tenants/:tenant/usage?format=csv (the same columns, costMinor and currency included).
    let report;
    try {
      report = await queryUsage(deps.pool, request.params.tenant, range.from, range.to, form.groupBy, deps.priceBook());
    } catch (e) {
      if (e instanceof UnpricedUsageError) return reply.code(422).send({ error: "unpriced usage", message: e.message });
      throw e;
    }
    return reply
      .type("text/csv; charset=utf-8")
      .header("content-disposition", `attachment; filename="usage-${form.fromDay}-to-${form.toDay}.csv"`)
      .send(usageToCsv(report));
  });

  app.get("/portal/t/:tenant/quotas", { ...tenantScoped, schema: { hide: true, params: tenantParams } }, async (request, reply) => {
    const book = deps.priceBook();
    // The same figures as GET /v1/quota/remaining: ledger usage of the period + open reservations.
    const quotas = (await readQuotaStates(deps.pool, book, request.params.tenant)).quotas;
    return tenantPage(request, reply, request.params.tenant, "quotas", "Quotas", quotasPage(quotas, book.currency, book.minorUnitDigits));
  });

  app.get("/portal/t/:tenant/invoices", { ...tenantScoped, schema: { hide: true, params: tenantParams } }, async (request, reply) =>
    tenantPage(request, reply, request.params.tenant, "invoices", "Invoices", invoiceListPage(await listInvoices(deps.pool, request.params.tenant))),
  );

  const invoiceParams = tenantParams.extend({ invoice: z.string().regex(/^\d{1,18}$/, "an invoice id") });

  app.get("/portal/t/:tenant/invoices/:invoice", { ...tenantScoped, schema: { hide: true, params: invoiceParams } }, async (request, reply) => {
    try {
      const invoice = await getInvoice(deps.pool, request.params.tenant, request.params.invoice);
      return await tenantPage(request, reply, request.params.tenant, "invoices", invoice.number, invoicePage(invoice));
    } catch (e) {
      if (e instanceof InvoiceNotFoundError) return reply.code(404).send({ error: "not found" });
      throw e;
    }
  });

  app.get(
    "/portal/t/:tenant/invoices/:invoice/download/:format",
    { ...tenantScoped, schema: { hide: true, params: invoiceParams.extend({ format: z.enum(["json", "csv", "focus"]) }) } },
    async (request, reply) => {
      let invoice;
      try {
        invoice = await getInvoice(deps.pool, request.params.tenant, request.params.invoice);
      } catch (e) {
        if (e instanceof InvoiceNotFoundError) return reply.code(404).send({ error: "not found" });
        throw e;
      }
      const { format } = request.params;
      const file = `${invoice.number}${format === "focus" ? ".focus.csv" : `.${format}`}`.replace(/[^A-Za-z0-9._-]/g, "_");
      reply.header("content-disposition", `attachment; filename="${file}"`);
      if (format === "json") return reply.type("application/json; charset=utf-8").send(JSON.stringify(invoice, null, 2));
      return reply.type("text/csv; charset=utf-8").send(format === "csv" ? invoiceToCsv(invoice) : invoicesToFocus([invoice]));
    },
  );

  app.get("/portal/t/:tenant/prices", { ...tenantScoped, schema: { hide: true, params: tenantParams } }, async (request, reply) =>
    tenantPage(request, reply, request.params.tenant, "prices", "Prices", pricesPage(deps.priceBook(), new Date(), request.params.tenant)),
  );
};
