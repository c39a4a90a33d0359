/**
 * Fault: PostgreSQL freezes (every process of the cluster SIGSTOPped: a hung disk or a paused VM)
 * while `serve` is inserting a batch. The insert times out, the batch is acknowledged from the
 * spool; when the database thaws, the timed-out insert commits after all AND the spooled copy is
 * replayed: the (source, id) key makes that exactly-once in effect.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { restartablePostgres, type RestartablePostgres } from "./support/fault-postgres";
import { eventBatch, postEvents, startService, type ServiceProcess } from "../testkit/service";
import { spoolFiles, storedPerBatch, waitFor } from "./support/fault-checks";

let pg: RestartablePostgres;
let service: ServiceProcess | undefined;
let dataDir: string;
let frozen: number[] = [];

/** The postmaster (first line of postmaster.pid) and its children: the whole cluster. */
const clusterPids = async (): Promise<number[]> => {
  const postmaster = Number((await readFile(path.join(pg.dataDir, "postmaster.pid"), "utf8")).split("\n")[0]);
  const children: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    // Fields after the ")" that closes the command name: state, ppid, ...
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid === postmaster) children.push(Number(entry));
  }
  return [postmaster, ...children];
};

const thaw = () => {
  for (const pid of frozen) {
    try {
      process.kill(pid, "SIGCONT");
    } catch {
      // already gone
    }
  }
  frozen = [];
};

beforeAll(async () => {
  pg = await restartablePostgres();
  dataDir = await mkdtemp(path.join(os.tmpdir(), "maas-faults-freeze-"));
});

afterAll(async () => {
  thaw();
  await service?.kill("SIGKILL");
  await pg?.destroy();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("POST /v1/events while PostgreSQL is frozen", () => {
  it("acknowledges from the spool after the insert timeout and stores every event exactly once after the thaw", async () => {
    const source = "//faults/freeze";
    const SIZE = 100;
    service = await startService({ databaseUrl: pg.url, dataDir });
    expect((await postEvents(service, eventBatch(0, SIZE, source))).status).toBe(200);

    frozen = await clusterPids();
    for (const pid of frozen) process.kill(pid, "SIGSTOP");
    let answers: number[];
    try {
      // Batch 1 hangs in the frozen database until the 5 s insert timeout, then goes to the spool;
      // batch 2 queues behind it in the spool.
      const first = postEvents(service, eventBatch(1, SIZE, source));
      await new Promise((r) => setTimeout(r, 200));
      const second = postEvents(service, eventBatch(2, SIZE, source));
      answers = [(await first).status, (await second).status];
    } finally {
      thaw();
    }
    expect(answers).toEqual([202, 202]);
    await waitFor("the spool to drain", async () => (await spoolFiles(path.join(dataDir, "spool"))).length === 0, service);
    expect(await storedPerBatch(pg.pool, source)).toEqual(new Map([[0, SIZE], [1, SIZE], [2, SIZE]]));
    await service.waitForLog(/database insert took longer than 5000 ms/);
    expect((await postEvents(service, eventBatch(3, SIZE, source))).status).toBe(200);
  });
});
