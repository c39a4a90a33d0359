/**
 * The scrape-only listener: GET /metrics and nothing else, on its own port (MAAS_BILLING_METRICS_PORT).
 * The metrics hold every tenant's usage, cost and quota, so they are never served on the client
 * port; the platform exposes this port to the monitoring scraper only (NetworkPolicy), never through
 * a Route, HTTPRoute or client Service port.
 */
import Fastify, { type FastifyInstance } from "fastify";
import type { ServiceMetrics } from "./metrics";

export const buildMetricsApp = async (metrics: ServiceMetrics): Promise<FastifyInstance> => {
  const app = Fastify({ logger: false });
  app.get("/metrics", async (_request, reply) => {
    reply.header("content-type", metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  await app.ready();
  return app;
};
