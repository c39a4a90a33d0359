/**
 * SIGKILL of a real `maas-billing serve` process in the middle of batches, then a restart on the
 * same data directory: no acknowledged event is lost and no batch is half stored, whether the
 * batches were going straight to PostgreSQL or into the local spool (database down). Clients then
 * re-send what was not acknowledged and every event is stored exactly once.
 */
import { describe, expect, it } from "vitest";
import path from "node:path";
import { useFaultRig } from "./support/fault-rig";
import { eventBatch, postEvents, type ServiceProcess } from "../testkit/service";
import { spoolFiles, storedPerBatch, storedTotal, waitFor } from "./support/fault-checks";

const rig = useFaultRig("maas-faults-kill-");
const { newDataDir, serve } = rig;

/**
 * Posts batches 0..count-1 with `inFlight` requests at a time and SIGKILLs the service once
 * `killAfter` batches were acknowledged (other batches are then on the wire or being written).
 * Returns the acknowledged batch numbers.
 */
const streamAndKill = async (service: ServiceProcess, source: string, count: number, size: number, inFlight: number, killAfter: number, okStatus: number) => {
  const acked = new Set<number>();
  let next = 0;
  let killing: Promise<void> | undefined;
  const worker = async () => {
    while (next < count && !killing) {
      const b = next++;
      const r = await postEvents(service, eventBatch(b, size, source)).catch(() => undefined);
      if (r?.status === okStatus) acked.add(b);
      else if (r !== undefined) throw new Error(`batch ${b}: unexpected ${r.status} ${JSON.stringify(r.body)}`);
      if (acked.size >= killAfter && !killing) killing = service.kill("SIGKILL");
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  await killing;
  return acked;
};

const expectWholeBatches = (perBatch: Map<number, number>, size: number, acked: Set<number>) => {
  for (const [b, n] of perBatch) expect({ batch: b, stored: n }).toEqual({ batch: b, stored: size });
  for (const b of acked) expect({ batch: b, stored: perBatch.get(b) ?? 0 }).toEqual({ batch: b, stored: size });
};

describe("SIGKILL of serve in the middle of batches", () => {
  it("loses no acknowledged event and stores no half batch (database up, batches of 1000)", async () => {
    const source = "//faults/kill-db";
    const SIZE = 1000;
    const COUNT = 24;
    const dataDir = await newDataDir();
    const first = await serve(dataDir);
    const acked = await streamAndKill(first, source, COUNT, SIZE, 3, 6, 200);
    expect(first.alive()).toBe(false);
    expect(acked.size).toBeGreaterThanOrEqual(6);
    expect(acked.size).toBeLessThan(COUNT);
    // Before anyone re-sends: acknowledged batches are whole, nothing else is half there.
    expectWholeBatches(await storedPerBatch(rig.pg.pool, source), SIZE, acked);

    const second = await serve(dataDir);
    for (let b = 0; b < COUNT; b++) if (!acked.has(b)) expect((await postEvents(second, eventBatch(b, SIZE, source))).status).toBe(200);
    expect(await storedTotal(rig.pg.pool, source)).toBe(COUNT * SIZE);
  });

  it("loses no spooled batch: killed while spooling with the database down, replayed after restart", async () => {
    const source = "//faults/kill-spool";
    const SIZE = 200;
    const COUNT = 30;
    const dataDir = await newDataDir();
    const first = await serve(dataDir);
    await rig.pg.stop();
    let acked: Set<number>;
    try {
      acked = await streamAndKill(first, source, COUNT, SIZE, 3, 10, 202);
      expect(first.alive()).toBe(false);
      expect((await spoolFiles(path.join(dataDir, "spool"))).length).toBeGreaterThanOrEqual(acked.size);
    } finally {
      await rig.pg.start();
    }
    // The restarted service replays what the killed one acknowledged from its spool.
    const second = await serve(dataDir);
    await waitFor("the spool to drain", async () => (await spoolFiles(path.join(dataDir, "spool"))).length === 0, second);
    expectWholeBatches(await storedPerBatch(rig.pg.pool, source), SIZE, acked);
    await second.waitForLog(/spool: replaying batches left by a previous run/);

    for (let b = 0; b < COUNT; b++) if (!acked.has(b)) expect([200, 202]).toContain((await postEvents(second, eventBatch(b, SIZE, source))).status);
    await waitFor("every event", async () => (await storedTotal(rig.pg.pool, source)) === COUNT * SIZE, second);
  });
});
