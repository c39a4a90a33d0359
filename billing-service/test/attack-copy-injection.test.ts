/**
 * Attack B7 of docs/threat-model.md against a real `serve` and PostgreSQL: a tenant's token posts
 * an event whose id carries tabs and a newline laid out as COPY text-format lines, so that, if the
 * service wrote the value into its `COPY usage_events FROM STDIN` stream as is (src/db/copy-first.ts),
 * PostgreSQL would read a second, forged row: 5M tokens billed to another tenant, with a tier and
 * model never validated. Every value is escaped (copyText), so the id is stored as sent, in the
 * poster's own tenant, and nothing else is. The same through an access-log record's key name
 * (POST /v1/logs, whose batches are written by accessLogCopyText of src/accesslog/store.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newToken } from "../src/auth/static";
import { postLogs, serializeLogs } from "../testkit/access-logs";
import { postEvents } from "../testkit/service";
import { startServiceRig, type ServiceRig } from "../testkit/rig";
import { usageEvent } from "./support/billing-db";

const acme = newToken("tenant-acme", { tenant: "acme" });
const acmeGateway = newToken("sender-acme-gateway", { sources: ["//gateway/access-log-acme"], tenant: "acme" });
let rig: ServiceRig;

beforeAll(async () => {
  rig = await startServiceRig({ name: "maas-attack-copy", tokens: [acme.entry, acmeGateway.entry] });
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

describe("attack B7 through POST /v1/logs: rows forged into the access-log COPY through a record's key name", () => {
  it("stores the key name as sent under the sender's tenant, and no forged row", async () => {
    // The real line is `tenant \t source \t record_id \t time_unix_nano \t event_time \t user \t tier \t
    // model \t key_id \t key_name \t organization \t groups \t code \t type \t in \t out \t total \t billable`:
    // this key name closes it early, adds a line for globex (5M tokens), and opens a third line
    // that the real line's remaining eight columns complete.
    const keyName =
      "k\t\\N\t\\N\t200\thit\t1\t1\t2\ttrue\n" +
      "globex\t//x\tf1\t1777000000000000000\t2026-04-24 03:06:40+00\tu\tpremium\tllama\tk\tk\t\\N\t\\N\t200\thit\t5000000\t0\t5000000\ttrue\n" +
      "globex\t//x\tf2\t1777000000000000000\t2026-04-24 03:06:40+00\tu\tpremium\tllama\tk\tk";
    // Short enough to be a key name (at most 256 characters), so it reaches the COPY.
    expect(keyName.length).toBeLessThanOrEqual(256);
    const record = {
      timeUnixNano: "1777000000000000000",
      attributes: { user_id: "u", subscription: "premium", model: "llama", key_id: "k", key_name: keyName, response_code: "200", response_type: "hit", tokens_prompt: "10", tokens_completion: "5", tokens_total: "15" },
    };
    for (const attempt of [1, 2]) {
      const res = await postLogs(rig.service.url, acmeGateway.token, serializeLogs([record], "protobuf"), "protobuf");
      expect(res.status, `attempt ${attempt}: ${res.body.toString()}`).toBe(200);
      // Not rejected as a record (an ExportLogsServiceResponse without partial_success is empty).
      expect(res.body.length, `attempt ${attempt}: ${res.body.toString()}`).toBe(0);
    }
    const rows = (await rig.db.pool.query("select tenant, key_name, input_tokens::int as input, total_tokens::int as total from access_log_usage order by tenant")).rows;
    // Stored once (the second post is a duplicate of it), with the key name as sent.
    expect(rows).toEqual([{ tenant: "acme", key_name: keyName, input: 10, total: 15 }]);
  }, 60_000);
});
