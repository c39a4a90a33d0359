/**
 * Operational endpoints without auth on the client port: /healthz, /readyz, /openapi.json, /docs.
 * /metrics (every tenant's usage, cost and quota) is not here: it has a listener of its own
 * (metrics-app.ts) on a port only the monitoring scraper reaches.
 */
import type { FastifyInstance } from "fastify";
import type { Pool } from "pg";
import { z } from "zod";
import { migrationsCurrent } from "../db/migrate";

const docsPage = (spec: Record<string, any>): string => {
  const rows = Object.entries(spec.paths ?? {}).flatMap(([path, ops]) =>
    Object.entries(ops as Record<string, any>).map(
      ([method, op]) => `<tr><td><code>${method.toUpperCase()}</code></td><td><code>${path}</code></td><td>${(op.summary ?? op.description ?? "").replace(/</g, "&lt;")}</td></tr>`,
    ),
  );
  return `<!doctype html><html><head><meta charset="utf-8"><title>maas-billing API</title>
<style>body{font-family:sans-serif;margin:2rem}td{padding:.3rem .8rem;border-bottom:1px solid #ddd}</style></head>
<body><h1>maas-billing API</h1><p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3). Every <code>/v1</code> call needs <code>Authorization: Bearer &lt;token&gt;</code>.</p>
<table>${rows.join("\n")}</table></body></html>`;
};

export const registerOpsRoutes = (app: FastifyInstance, pool: Pool): void => {
  // Not in /openapi.json (no auth, not the API), but typed like every other route.
  const status = z.object({ status: z.string(), reason: z.string().optional() });
  const text = { schema: { hide: true, response: { 200: z.string() } } };
  // Probes (kubelet, every few seconds per replica) write no per-request log lines; a failure still logs a warning.
  app.get("/healthz", { logLevel: "warn", schema: { hide: true, response: { 200: status } } }, async () => ({ status: "ok" }));
  app.get("/readyz", { logLevel: "warn", schema: { hide: true, response: { 200: status, 503: status } } }, async (request, reply) => {
    try {
      await pool.query("select 1");
      if (!(await migrationsCurrent(pool))) return reply.code(503).send({ status: "not ready", reason: "migrations pending" });
      return { status: "ready" };
    } catch (e) {
      // The database's own message (host names, users, SQL states) goes to the log, never to the caller.
      request.log.warn({ err: e }, "readiness: database unavailable");
      return reply.code(503).send({ status: "not ready", reason: "database unavailable" });
    }
  });
  app.get("/openapi.json", { schema: { hide: true, response: { 200: z.looseObject({ openapi: z.string() }) } } }, async () => app.swagger());
  app.get("/docs", text, async (_request, reply) => reply.type("text/html").send(docsPage(app.swagger() as Record<string, any>)));
};
