/**
 * POST /v1/logs while the database goes away, with a real `maas-billing serve` process and a real
 * PostgreSQL: the OTLP receiver acknowledges (200) only what is committed or fsynced to its spool
 * (`<data dir>/spool/access-logs`), replays the spool in order when the database returns, and every
 * acknowledged record is stored exactly once: per key, user and model the generator's truth.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { newToken } from "../src/auth/static";
import { generateScenario, postLogs, serializeLogs, storedPerGroup, truthPerGroup } from "../testkit/access-logs";
import { spoolFiles, waitFor } from "./support/fault-checks";
import { useFaultRig } from "./support/fault-rig";

const rig = useFaultRig("maas-faults-otlp-");
const sender = newToken("sender-otel", { sources: ["//gateway/access-log"] });

describe("POST /v1/logs while the database goes away", () => {
  it("acknowledges every batch, spooled while the database is down, and stores each record exactly once", async () => {
    const dataDir = await rig.newDataDir();
    const service = await rig.serve(dataDir, {}, [sender.entry]);
    const scenario = generateScenario({ seed: 7, requests: 240 });
    const batches = [];
    for (let i = 0; i < scenario.records.length; i += 10) batches.push(scenario.records.slice(i, i + 10));
    let stopping: Promise<void> | undefined;
    let starting: Promise<void> | undefined;
    const third = Math.floor(batches.length / 3);
    for (const [b, batch] of batches.entries()) {
      if (b === third) stopping = rig.pg.stop();
      if (b === third + 5) await stopping;
      if (b === 2 * third) starting = rig.pg.start();
      const res = await postLogs(service.url, sender.token, serializeLogs(batch, b % 2 ? "json" : "protobuf"), b % 2 ? "json" : "protobuf");
      expect(res.status, res.body.toString()).toBe(200);
    }
    await starting;
    await waitFor("the access-log spool to drain", async () => (await spoolFiles(path.join(dataDir, "spool", "access-logs"))).length === 0, service, 60_000);
    await service.waitForLog(/spool: database unavailable/);
    await service.waitForLog(/spool: batch replayed/);
    expect(Object.fromEntries(await storedPerGroup(rig.pg.pool, "//gateway/access-log"))).toEqual(Object.fromEntries(truthPerGroup(scenario)));
    expect(service.alive()).toBe(true);
  }, 240_000);
});
