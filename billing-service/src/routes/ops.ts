/** Operational endpoints (no auth): /healthz, /readyz, /metrics, /openapi.json, /docs. */
import type { FastifyInstance } from "fastify";
import type { Pool } from "pg";
import { z } from "zod";
import { migrationsCurrent } from "../db/migrate";
import type { ServiceMetrics } from "../ops/metrics";

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

export const registerOpsRoutes = (app: FastifyInstance, pool: Pool, metrics: ServiceMetrics): void => {
  // Not in /openapi.json (no auth, not the API), but typed like every other route.
  const status = z.object({ status: z.string(), reason: z.string().optional() });
  const text = { schema: { hide: true, response: { 200: z.string() } } };
  app.get("/healthz", { schema: { hide: true, response: { 200: status } } }, async () => ({ status: "ok" }));
  app.get("/readyz", { schema: { hide: true, response: { 200: status, 503: status } } }, async (_request, reply) => {
    try {
      await pool.query("select 1");
      if (!(await migrationsCurrent(pool))) return reply.code(503).send({ status: "not ready", reason: "migrations pending" });
      return { status: "ready" };
    } catch (e) {
      return reply.code(503).send({ status: "not ready", reason: `database: ${(e as Error).message}` });
    }
  });
  app.get("/metrics", text, async (_request, reply) => {
    reply.header("content-type", metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  app.get("/openapi.json", { schema: { hide: true, response: { 200: z.looseObject({ openapi: z.string() }) } } }, async () => app.swagger());
  app.get("/docs", text, async (_request, reply) => reply.type("text/html").send(docsPage(app.swagger() as Record<string, any>)));
};
