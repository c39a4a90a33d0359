/**
 * POST /v1/logs against `maas-billing serve` (a real child process over HTTP) on a real
 * PostgreSQL, with OTLP requests built by the OpenTelemetry JS SDK and its exporters' serializers,
 * both encodings, plain and gzip: every (tenant, API key, user, model) gets exactly the
 * generator's input/output tokens and request counts, with streaming copies ("0", then real),
 * 429s, errors and an unknown model ("-"), and retried batches counted once. Then the attacks: a
 * tenant token or the admin token posting access logs, and a tenant-bound sender writing another
 * tenant's usage.
 */
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeLogsResponse } from "../src/accesslog/otlp";
import { newToken } from "../src/auth/static";
import { generateScenario, postLogs, serializeLogs, storedPerGroup, truthPerGroup, type AccessLogRecord, type WireEncoding } from "../testkit/access-logs";
import { startServiceRig, type ServiceRig } from "../testkit/rig";
import type { ServiceProcess } from "../testkit/service";

const SOURCE = "//gateway/access-log";
const sender = newToken("sender-otel", { sources: [SOURCE] });
const acmeSender = newToken("sender-otel-acme", { sources: ["//gateway/access-log-acme"], tenant: "acme" });
const acme = newToken("tenant-acme", { tenant: "acme" });

let rig: ServiceRig;
let db: ServiceRig["db"];
let service: ServiceProcess;

beforeAll(async () => {
  rig = await startServiceRig({ name: "maas-otlp", tokens: [sender.entry, acmeSender.entry, acme.entry] });
  ({ db, service } = rig);
}, 180_000);

afterAll(() => rig?.stop(), 60_000);

const send = async (records: readonly AccessLogRecord[], encoding: WireEncoding, token: string, gzip = false) => {
  const body = serializeLogs(records, encoding);
  return postLogs(service.url, token, gzip ? gzipSync(body) : body, encoding, gzip ? { "content-encoding": "gzip" } : {});
};

describe("POST /v1/logs: OTLP access logs into exact per-request rows", () => {
  it("stores every key's, user's and model's tokens and requests exactly, in both encodings, retried batches once", async () => {
    const scenario = generateScenario({ seed: 18, requests: 400 });
    expect(scenario.records.length).toBeGreaterThan(scenario.requests); // streamed requests appear twice
    const batches: AccessLogRecord[][] = [];
    for (let i = 0; i < scenario.records.length; i += 37) batches.push(scenario.records.slice(i, i + 37));
    for (const [i, batch] of batches.entries()) {
      const encoding: WireEncoding = i % 2 === 0 ? "protobuf" : "json";
      const res = await send(batch, encoding, sender.token, i % 3 === 0);
      expect(res.status, res.body.toString()).toBe(200);
      expect(res.contentType).toContain(encoding === "protobuf" ? "application/x-protobuf" : "application/json");
      if (encoding === "protobuf") expect(decodeLogsResponse(res.body).partialSuccess ?? null).toBeNull();
      else expect(JSON.parse(res.body.toString())).toEqual({});
    }
    // A collector retry re-sends batches (and a second replica the same records, re-grouped).
    for (const i of [0, 1, 4]) expect((await send(batches[i], i % 2 === 0 ? "json" : "protobuf", sender.token)).status).toBe(200);
    expect((await send([...batches[2]].reverse(), "protobuf", sender.token, true)).status).toBe(200);

    // Exact per (tenant, key, user, model): tokens, served, rate-limited and failed requests.
    expect(Object.fromEntries(await storedPerGroup(db.pool, SOURCE))).toEqual(Object.fromEntries(truthPerGroup(scenario)));
    const tokens = [...scenario.truth.values()].reduce((a, t) => a + t.inputTokens + t.outputTokens, 0);
    const hits = [...scenario.truth.values()].reduce((a, t) => a + t.hits, 0);
    // The scenario has each kind of record.
    const all = [...scenario.truth.values()];
    expect(all.some((t) => t.model === "" && t.errors > 0)).toBe(true);
    expect(all.reduce((a, t) => a + t.rateLimited, 0)).toBeGreaterThan(0);
    // The ledger bills the hits' tokens and requests only (no collector configured: access logs are billable).
    const ledger = (await db.pool.query("select coalesce(sum(input_tokens + output_tokens), 0)::int as t, coalesce(sum(requests), 0)::int as r from usage_ledger where origin = 'access-log'")).rows[0];
    expect(ledger).toEqual({ t: tokens, r: hits });
    const keyDims = (await db.pool.query("select dimensions from usage_ledger where origin = 'access-log' limit 1")).rows[0].dimensions;
    expect(Object.keys(keyDims).sort()).toEqual(["key_id", "key_name", "organization_id"]);
  }, 180_000);

  it("answers partial success naming the problem for records that cannot be rows, and stores the rest", async () => {
    const time = "1793000000123456789";
    const good = { timeUnixNano: time, attributes: { tenant: "acme", user_id: "u", subscription: "free", model: "granite-8b", key_id: "k", key_name: "kn", response_code: "200", response_type: "hit", tokens_prompt: "5", tokens_completion: "6", tokens_total: "11" } };
    const noTenant = { timeUnixNano: "1793000000123456790", attributes: { ...good.attributes, tenant: "" } };
    const badTokens = { timeUnixNano: "1793000000123456791", attributes: { ...good.attributes, tokens_prompt: "lots" } };
    // PostgreSQL text cannot hold NUL: the record is refused naming the field, never a failed batch (threat model B8).
    const nulUser = { timeUnixNano: "1793000000123456792", attributes: { ...good.attributes, user_id: "ev\u0000il" } };
    // Envoy writes "-" for filter state it lacks (no identity filter ran): no tenant, never a tenant named "-".
    const dashTenant = { timeUnixNano: "1793000000123456793", attributes: { ...good.attributes, tenant: "-", route_namespace: "-" } };
    const res = await send([good, noTenant, badTokens, nulUser, dashTenant], "protobuf", sender.token);
    expect(res.status).toBe(200);
    const answer = decodeLogsResponse(res.body).partialSuccess;
    expect(String(answer?.rejectedLogRecords)).toBe("4");
    expect(answer?.errorMessage).toContain("no tenant");
    expect(answer?.errorMessage).toContain("tokens_prompt: expected a whole number");
    expect(answer?.errorMessage).toContain("user: at most 256 characters without NUL");
    const json = await send([noTenant], "json", sender.token);
    expect(JSON.parse(json.body.toString())).toEqual({ partialSuccess: { rejectedLogRecords: "1", errorMessage: expect.stringContaining("no tenant") } });
    const r = await db.pool.query("select input_tokens::int, output_tokens::int, time_unix_nano::text from access_log_usage where time_unix_nano = $1", [time]);
    expect(r.rows).toEqual([{ input_tokens: 5, output_tokens: 6, time_unix_nano: time }]);
    expect((await db.pool.query("select count(*)::int as n from access_log_usage where tenant = '-'")).rows[0].n).toBe(0);
  }, 60_000);

  it("refuses what is not OTLP with 400 and an unknown media type with 415", async () => {
    const garbage = await postLogs(service.url, sender.token, Buffer.from([0xff, 0xff, 0xff, 0x01]), "protobuf");
    expect(garbage.status).toBe(400);
    expect(JSON.parse(garbage.body.toString()).message).toContain("protobuf");
    const notJson = await postLogs(service.url, sender.token, Buffer.from("{resourceLogs"), "json");
    expect(notJson.status).toBe(400);
    const text = await fetch(`${service.url}/v1/logs`, { method: "POST", headers: { authorization: `Bearer ${sender.token}`, "content-type": "text/plain" }, body: "x" });
    expect(text.status).toBe(415);
  }, 60_000);
});

describe("attack: access logs written by someone who is not the gateway's sender", () => {
  const record = (tenant: string, input: number, ns: string): AccessLogRecord => ({
    timeUnixNano: ns,
    attributes: { tenant, user_id: "mallory", subscription: "free", model: "granite-8b", key_id: "km", key_name: "mallory", response_code: "200", response_type: "hit", tokens_prompt: String(input), tokens_completion: "0", tokens_total: String(input) },
  });

  it("refuses a tenant's token, the admin token and no token: nothing is stored", async () => {
    const batch = [record("globex", 1_000_000, "1793100000000000001")];
    expect((await send(batch, "protobuf", acme.token)).status).toBe(403);
    expect((await send(batch, "json", service.token)).status).toBe(403);
    expect((await send(batch, "protobuf", "not-a-token")).status).toBe(401);
    const r = await db.pool.query("select count(*)::int as n from access_log_usage where user_id = 'mallory'");
    expect(r.rows[0].n).toBe(0);
  }, 60_000);

  it("a sender bound to tenant acme cannot bill globex: its records are acme's whatever they say", async () => {
    const res = await postLogs(service.url, acmeSender.token, serializeLogs([record("globex", 777, "1793100000000000002")], "protobuf"), "protobuf");
    expect(res.status).toBe(200);
    const r = await db.pool.query("select tenant, source, input_tokens::int from access_log_usage where user_id = 'mallory'");
    expect(r.rows).toEqual([{ tenant: "acme", source: "//gateway/access-log-acme", input_tokens: 777 }]);
  }, 60_000);

  it("a sender may not write a source that is not its own", async () => {
    const res = await postLogs(`${service.url}`, acmeSender.token, serializeLogs([record("acme", 1, "1793100000000000003")], "protobuf"), "protobuf", {});
    expect(res.status).toBe(200);
    const other = await fetch(`${service.url}/v1/logs?source=${encodeURIComponent(SOURCE)}`, {
      method: "POST",
      headers: { authorization: `Bearer ${acmeSender.token}`, "content-type": "application/x-protobuf" },
      body: serializeLogs([record("acme", 5, "1793100000000000004")], "protobuf"),
    });
    expect(other.status).toBe(403);
  }, 60_000);
});
