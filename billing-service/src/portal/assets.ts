/**
 * The portal's static files: its stylesheet and script from assets/, and uPlot straight from its
 * npm package (no CDN). A fixed list: nothing else on disk can be asked for.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import type { FastifyInstance } from "fastify";

const FILES: Record<string, { file: () => string; type: string }> = {
  "portal.css": { file: () => path.join(__dirname, "assets", "portal.css"), type: "text/css; charset=utf-8" },
  "portal.js": { file: () => path.join(__dirname, "assets", "portal.js"), type: "text/javascript; charset=utf-8" },
  "uPlot.iife.min.js": { file: () => require.resolve("uplot/dist/uPlot.iife.min.js"), type: "text/javascript; charset=utf-8" },
  "uPlot.min.css": { file: () => require.resolve("uplot/dist/uPlot.min.css"), type: "text/css; charset=utf-8" },
};

export const registerPortalAssets = (app: FastifyInstance): void => {
  const cache = new Map<string, Buffer>();
  app.get<{ Params: { file: string } }>("/portal/assets/:file", { schema: { hide: true } }, async (request, reply) => {
    const entry = Object.hasOwn(FILES, request.params.file) ? FILES[request.params.file] : undefined;
    if (!entry) return reply.code(404).send({ error: "not found" });
    let body = cache.get(request.params.file);
    if (!body) cache.set(request.params.file, (body = readFileSync(entry.file())));
    return reply.type(entry.type).send(body);
  });
};
