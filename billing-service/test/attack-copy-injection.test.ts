/**
 * Attack B7 of docs/threat-model.md against a real `serve` and PostgreSQL: a tenant's token posts
 * an event whose id carries tabs and a newline laid out as COPY text-format lines, so that, if the
 * service wrote the value into its `COPY usage_events FROM STDIN` stream as is (src/db/copy-first.ts),
 * PostgreSQL would read a second, forged row: 5M tokens billed to another tenant, with a tier and
 * model never validated. Every value is escaped (copyText), so the id is stored as sent, in the
 * poster's own tenant, and nothing else is.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newToken } from "../src/auth/static";
import { postEvents } from "../testkit/service";
import { startServiceRig, type ServiceRig } from "../testkit/rig";
import { usageEvent } from "./support/billing-db";

const acme = newToken("tenant-acme", { tenant: "acme" });
let rig: ServiceRig;

beforeAll(async () => {
  rig = await startServiceRig({ name: "maas-attack-copy", tokens: [acme.entry] });
}, 180_000);

afterAll(() => rig?.stop(), 60_000);

describe("attack B7: rows forged into the COPY stream through an event's text", () => {
  it("stores the id as sent under the poster's tenant, and no forged row", async () => {
    // The real line is `source \t id \t tenant \t user \t tier \t model \t time \t in \t out \t requests`:
    // this id closes it early, adds a line for globex, and opens a third line that the real line's
    // remaining columns complete.
    const id = "a\tacme\t\\N\tpremium\tllama\t2026-05-01T00:00:00Z\t1\t1\t1\n//forged\tf-1\tglobex\tu\tpremium\tllama\t2026-05-01T00:00:00Z\t5000000\t0\t1\n//tail\tz";
    const sent = await postEvents(rig.service, [usageEvent({ id, tenant: "acme", inputTokens: 10 })], acme.token);
    expect(sent).toMatchObject({ status: 200, body: { accepted: 1, duplicates: 0 } });
    const rows = (await rig.db.pool.query("select tenant, source, event_id, input_tokens::int as input from usage_events order by tenant, source")).rows;
    expect(rows).toEqual([{ tenant: "acme", source: "//test", event_id: id, input: 10 }]);
    // Sent again it is a duplicate of itself (the stored key is the id as sent).
    expect(await postEvents(rig.service, [usageEvent({ id, tenant: "acme", inputTokens: 10 })], acme.token)).toMatchObject({ status: 200, body: { accepted: 0, duplicates: 1 } });
  }, 60_000);
});
