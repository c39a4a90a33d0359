/*
 * The test kit's serve start survives a port taken between freePorts and serve's listen: full runs
 * on a shared machine lost whole test files to `listen EADDRINUSE` (sessions 6 and 7). Here the
 * first attempt is handed a port another socket already holds; the kit must start serve on fresh
 * ports and say nothing else failed. A serve that fails for any other reason is not retried.
 *
 * Review N1: the port may be taken by a server that answers GET /healthz with 200 (another test's
 * serve). The kit must not take that answer for its own serve being ready: readiness is the
 * child's own "listening" line naming the ports it bound, then the probe.
 */
import http from "node:http";
import net from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts } from "../src/net/free-port";
import { startMigratedPostgres, type RunningPostgres } from "../testkit/postgres";
import { startService } from "../testkit/service";

let db: RunningPostgres;
let work: string;
let holder: net.Server;
let heldPort: number;

beforeAll(async () => {
  db = await startMigratedPostgres();
  work = await mkdtemp(path.join(os.tmpdir(), "maas-kit-ports-"));
  // Holds the port like another process's listener would; connections to it are dropped at once.
  holder = net.createServer((socket) => socket.destroy());
  heldPort = await new Promise<number>((resolve, reject) => {
    holder.once("error", reject);
    holder.listen(0, "127.0.0.1", () => resolve((holder.address() as net.AddressInfo).port));
  });
}, 180_000);

afterAll(async () => {
  await new Promise<void>((r) => holder.close(() => r()));
  await db?.stop();
  await rm(work, { recursive: true, force: true });
}, 60_000);

describe("startService and a port taken before serve binds it", () => {
  it("starts serve on fresh ports when the first ones are taken", async () => {
    const attempts: number[][] = [];
    const service = await startService({
      databaseUrl: db.url,
      dataDir: work,
      choosePorts: async () => {
        const ports = attempts.length === 0 ? [heldPort, (await freePorts(1))[0]] : await freePorts(2);
        attempts.push(ports);
        return ports;
      },
    });
    try {
      expect(attempts).toHaveLength(2);
      expect(attempts[0][0]).toBe(heldPort);
      expect(service.url).not.toContain(`:${heldPort}`);
      expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    } finally {
      await service.kill("SIGTERM");
    }
  }, 180_000);

  it("does not take another server answering /healthz on its port for its own serve", async () => {
    // Another process's "serve" on the first port the kit is handed: healthy, and not ours.
    const impostor = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ status: "ok", impostor: true }));
    });
    const impostorPort = await new Promise<number>((resolve, reject) => {
      impostor.once("error", reject);
      impostor.listen(0, "127.0.0.1", () => resolve((impostor.address() as net.AddressInfo).port));
    });
    const attempts: number[][] = [];
    try {
      const service = await startService({
        databaseUrl: db.url,
        dataDir: work,
        // Callers quieten serve (benches, fuzzing): its "listening" line is written at warn too.
        env: { LOG_LEVEL: "warn" },
        choosePorts: async () => {
          const ports = attempts.length === 0 ? [impostorPort, (await freePorts(1))[0]] : await freePorts(2);
          attempts.push(ports);
          return ports;
        },
      });
      try {
        // The first serve died of EADDRINUSE; the kit started another on fresh ports.
        expect(attempts).toHaveLength(2);
        expect(service.url).toBe(`http://127.0.0.1:${attempts[1][0]}`);
        expect(service.log()).toContain('"msg":"listening"');
        const body = (await (await fetch(`${service.url}/healthz`)).json()) as Record<string, unknown>;
        expect(body.impostor).toBeUndefined();
        // What the kit reports is the child's: the metrics listener it names answers /metrics.
        expect((await fetch(`${service.metricsUrl}/metrics`)).status).toBe(200);
      } finally {
        await service.kill("SIGTERM");
      }
    } finally {
      await new Promise<void>((r) => impostor.close(() => r()));
    }
  }, 180_000);

  it("does not retry a serve that fails for another reason", async () => {
    let attempts = 0;
    const start = startService({
      databaseUrl: "postgres://nobody@127.0.0.1:1/none",
      dataDir: work,
      env: { MAAS_BILLING_TOKENS_FILE: path.join(work, "no-such-tokens.yaml") },
      choosePorts: () => {
        attempts++;
        return freePorts(2);
      },
    });
    await expect(start).rejects.toThrow(/serve exited/);
    expect(attempts).toBe(1);
  }, 180_000);
});
