/**
 * Faults under POST /v1/events with a real `maas-billing serve` process and a real PostgreSQL:
 * - the database stops in the middle of a stream of batches and comes back: every acknowledged
 *   event is stored exactly once (spooled batches replayed in order, idempotent);
 * - the spool cannot be written while the database is down: a clear 503 with Retry-After, the
 *   process stays up, nothing half-stored;
 * - the spool passes its size limit: 503 with Retry-After instead of unbounded buffering;
 * - a spool left damaged by an earlier run: bad files are set aside, never a crash loop.
 * Loopback only; every wait is bounded.
 */
import { describe, expect, it } from "vitest";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { useFaultRig } from "./support/fault-rig";
import { eventBatch, postEvents, type PostResult } from "../testkit/service";
import { spoolFiles, storedPerBatch, storedTotal, waitFor } from "./support/fault-checks";

const rig = useFaultRig("maas-faults-svc-");
const { newDataDir, serve } = rig;

describe("POST /v1/events while the database goes away", () => {
  it("stores every acknowledged event exactly once when the database stops mid-stream and returns", async () => {
    const source = "//faults/db-restart";
    const dataDir = await newDataDir();
    const service = await serve(dataDir);
    const BATCHES = 30;
    const SIZE = 50;
    const statuses: number[] = [];
    let stopping: Promise<void> | undefined;
    let starting: Promise<void> | undefined;
    for (let b = 0; b < BATCHES; b++) {
      // Not awaited: the database shuts down (and later starts) while batches are in flight;
      // batches 16-23 are sent while it is certainly down.
      if (b === 8) stopping = rig.pg.stop();
      if (b === 16) await stopping;
      if (b === 24) starting = rig.pg.start();
      // No retries: while the database stops and starts, every batch is acknowledged (committed or spooled).
      const r = await postEvents(service, eventBatch(b, SIZE, source));
      statuses.push(r.status);
      expect([200, 202]).toContain(r.status);
    }
    await starting;
    // Both paths were taken: committed directly, and spooled while the database was down.
    expect(statuses).toContain(200);
    expect(statuses).toContain(202);
    await waitFor("the spool to drain", async () => (await spoolFiles(path.join(dataDir, "spool"))).length === 0, service);
    expect(await storedTotal(rig.pg.pool, source)).toBe(BATCHES * SIZE);
    const perBatch = await storedPerBatch(rig.pg.pool, source);
    expect([...perBatch.values()].every((n) => n === SIZE)).toBe(true);
    expect(perBatch.size).toBe(BATCHES);
    expect(service.alive()).toBe(true);
    await service.waitForLog(/spool: database unavailable/);
    await service.waitForLog(/spool: batch replayed/);
    // Re-sending an acknowledged batch is a no-op (idempotent on source + id).
    const again = await postEvents(service, eventBatch(3, SIZE, source));
    expect(again).toMatchObject({ status: 200, body: { accepted: 0, duplicates: SIZE } });
  });

  it("answers 503 with Retry-After and a clear message when the spool cannot be written, and stays up", async () => {
    const source = "//faults/unwritable";
    const dataDir = await newDataDir();
    // A spool directory below a regular file can never be created (works as root, unlike chmod).
    await writeFile(path.join(dataDir, "not-a-dir"), "x");
    const service = await serve(dataDir, { MAAS_BILLING_SPOOL_DIR: path.join(dataDir, "not-a-dir", "spool") });
    expect((await postEvents(service, eventBatch(0, 10, source))).status).toBe(200);
    await rig.pg.stop();
    try {
      for (let i = 1; i <= 3; i++) {
        const r = await postEvents(service, eventBatch(i, 10, source));
        expect(r.status).toBe(503);
        expect(r.retryAfter).toMatch(/^\d+$/);
        expect(String(r.body.message)).toMatch(/database unavailable and local spool .*not-a-dir.* cannot be written: ENOTDIR/);
      }
      expect(service.alive()).toBe(true);
      expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    } finally {
      await rig.pg.start();
    }
    expect((await postEvents(service, eventBatch(4, 10, source))).status).toBe(200);
    expect(await storedPerBatch(rig.pg.pool, source)).toEqual(new Map([[0, 10], [4, 10]]));
  });

  it("refuses with 503 and Retry-After once the spool passes its size limit, and stores what it acknowledged", async () => {
    const source = "//faults/full";
    const dataDir = await newDataDir();
    const service = await serve(dataDir, { MAAS_BILLING_SPOOL_MAX_BYTES: "30000" });
    await rig.pg.stop();
    const results: PostResult[] = [];
    try {
      for (let b = 0; b < 12; b++) results.push(await postEvents(service, eventBatch(b, 40, source)));
    } finally {
      await rig.pg.start();
    }
    const acked = results.flatMap((r, b) => (r.status === 202 ? [b] : []));
    const refused = results.filter((r) => r.status === 503);
    expect(acked.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    expect(acked.length + refused.length).toBe(results.length);
    for (const r of refused) {
      expect(r.retryAfter).toMatch(/^\d+$/);
      expect(String(r.body.message)).toMatch(/local spool is full \(\d+ of 30000 bytes/);
    }
    await waitFor("the spool to drain", async () => (await spoolFiles(path.join(dataDir, "spool"))).length === 0, service);
    expect(await storedPerBatch(rig.pg.pool, source)).toEqual(new Map(acked.map((b) => [b, 40])));
    expect(service.alive()).toBe(true);
  });

  it("sets aside a damaged file and a batch the database refuses, left in the spool by an earlier run, and keeps going", async () => {
    const source = "//faults/damaged";
    const dataDir = await newDataDir();
    const spool = path.join(dataDir, "spool");
    await mkdir(spool, { recursive: true });
    const name = (n: number) => path.join(spool, `${String(n).padStart(16, "0")}.batch`);
    // The spool holds events as validated (defaults applied), like the service writes them.
    const spooled = (b: number) => eventBatch(b, 20, source).map((e) => ({ ...e, requests: 1 }));
    await writeFile(name(1), JSON.stringify(spooled(1)));
    await writeFile(name(2), "{ half a batch, cut by a full disk");
    // Valid JSON that the table's CHECK constraint refuses (a spool written by an older version).
    await writeFile(name(3), JSON.stringify(spooled(3).map((e) => ({ ...e, inputTokens: -5 }))));
    await writeFile(name(4), JSON.stringify(spooled(4)));
    const service = await serve(dataDir);
    await waitFor("the spool to drain", async () => (await spoolFiles(spool)).length === 0, service);
    expect(await storedPerBatch(rig.pg.pool, source)).toEqual(new Map([[1, 20], [4, 20]]));
    expect((await readdir(path.join(spool, "rejected"))).sort()).toEqual([path.basename(name(2)), path.basename(name(3))]);
    // The files move before the service's log lines reach its stdout pipe: wait for the lines, do not race them.
    await service.waitForLog(/spool: damaged batch file moved aside/);
    await service.waitForLog(/spool: batch refused by the database; moved aside/);
    expect(service.alive()).toBe(true);
    expect((await postEvents(service, eventBatch(5, 20, source))).status).toBe(200);
  });
});
