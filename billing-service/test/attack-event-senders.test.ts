/**
 * Attack B1 of docs/threat-model.md, performed against `maas-billing serve` (a real child process
 * over HTTP) on a real PostgreSQL: a tenant admin pre-claims the gateway's event ids with its own
 * billing token, so the gateway's real events would be dropped as duplicates (for its own usage
 * and other tenants'), and reads the duplicate count to learn whether another tenant's event id
 * exists. Defences: sources bound to sender tokens (auth/hooks.ts, auth/static.ts) and the
 * (tenant, source, id) idempotency key (migration 010).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newToken } from "../src/auth/static";
import { migrate } from "../src/db/migrate";
import { MIGRATIONS } from "../src/db/migrations";
import { usageEvent } from "./support/billing-db";
import { startServiceRig, type ServiceRig } from "../testkit/rig";
import { postEvents, type ServiceProcess } from "../testkit/service";

const GATEWAY = "//gateway/maas";
const gateway = newToken("sender-gateway", { sources: [GATEWAY] });
const acme = newToken("tenant-acme", { tenant: "acme" });
const globex = newToken("tenant-globex", { tenant: "globex" });

let rig: ServiceRig;
let db: ServiceRig["db"];
let service: ServiceProcess;

const tokensOf = async (tenant: string, source: string): Promise<number> =>
  Number((await db.pool.query("select coalesce(sum(input_tokens), 0) as n from usage_events where tenant = $1 and source = $2", [tenant, source])).rows[0].n);

beforeAll(async () => {
  rig = await startServiceRig({ name: "maas-attack-senders", tokens: [gateway.entry, acme.entry, globex.entry] });
  ({ db, service } = rig);
}, 180_000);

afterAll(() => rig?.stop(), 60_000);

describe("attack B1: a tenant pre-claims the gateway's event ids", () => {
  it("is refused: a tenant token cannot write a source bound to the gateway sender, and the gateway's real events are all billed", async () => {
    const claim = [usageEvent({ source: GATEWAY, id: "gw-1001", tenant: "acme", inputTokens: 0 }), usageEvent({ source: GATEWAY, id: "gw-1002", tenant: "acme", inputTokens: 0 })];
    const attack = await postEvents(service, claim, acme.token);
    expect(attack.status).toBe(403);
    expect(String(attack.body.message)).toContain(`source "${GATEWAY}" is bound to a sender credential`);
    // The admin token is no sender either: a bound source has exactly its senders as writers.
    expect((await postEvents(service, claim, service.token)).status).toBe(403);

    const real = [
      usageEvent({ source: GATEWAY, id: "gw-1001", tenant: "acme", inputTokens: 1000 }),
      usageEvent({ source: GATEWAY, id: "gw-1002", tenant: "globex", inputTokens: 700 }),
    ];
    const sent = await postEvents(service, real, gateway.token);
    expect(sent).toMatchObject({ status: 200, body: { accepted: 2, duplicates: 0 } });
    expect(await tokensOf("acme", GATEWAY)).toBe(1000);
    expect(await tokensOf("globex", GATEWAY)).toBe(700);
    // Re-sending is still idempotent for the sender itself.
    expect(await postEvents(service, real, gateway.token)).toMatchObject({ status: 200, body: { accepted: 0, duplicates: 2 } });
  }, 60_000);

  it("a sender token writes only its own sources and reads nothing", async () => {
    const other = await postEvents(service, [usageEvent({ source: "//apps/acme", id: "s-1", tenant: "acme", inputTokens: 5 })], gateway.token);
    expect(other.status).toBe(403);
    expect(String(other.body.message)).toContain("a sender token may write only its own sources");
    const read = await fetch(`${service.url}/v1/tenants/acme/usage?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z`, { headers: { authorization: `Bearer ${gateway.token}` } });
    expect(read.status).toBe(403);
  }, 60_000);

  it("on an unbound source one tenant's event never suppresses another's, and the duplicate count reveals nothing of another tenant", async () => {
    const SHARED = "//apps/shared";
    // globex's own event (posted with its own token) under a source nobody is bound to.
    expect(await postEvents(service, [usageEvent({ source: SHARED, id: "order-42", tenant: "globex", inputTokens: 300 })], globex.token)).toMatchObject({
      status: 200,
      body: { accepted: 1, duplicates: 0 },
    });
    // acme probes and pre-claims the same (source, id) for itself: stored as acme's own, no duplicate.
    const probe = await postEvents(service, [usageEvent({ source: SHARED, id: "order-42", tenant: "acme", inputTokens: 0 })], acme.token);
    expect(probe).toMatchObject({ status: 200, body: { accepted: 1, duplicates: 0 } });
    // globex's sender re-posting its event is a duplicate of globex's own row only; a new globex
    // event whose id acme claimed first is stored and billed.
    expect(await postEvents(service, [usageEvent({ source: SHARED, id: "order-42", tenant: "globex", inputTokens: 300 })], globex.token)).toMatchObject({
      body: { accepted: 0, duplicates: 1 },
    });
    await postEvents(service, [usageEvent({ source: SHARED, id: "order-43", tenant: "acme", inputTokens: 0 })], acme.token);
    expect(await postEvents(service, [usageEvent({ source: SHARED, id: "order-43", tenant: "globex", inputTokens: 50 })], globex.token)).toMatchObject({
      body: { accepted: 1, duplicates: 0 },
    });
    expect(await tokensOf("globex", SHARED)).toBe(350);
    expect(await tokensOf("acme", SHARED)).toBe(0);
  }, 60_000);
});

describe("migration 010 on a database with events stored under the old (source, event_id) key", () => {
  it("keeps every row and its ledger key, and scopes the key per tenant from then on", async () => {
    await db.pool.query("create database legacy");
    const url = new URL(db.url);
    url.pathname = "/legacy";
    const legacy = new pg.Pool({ connectionString: url.toString(), max: 2 });
    legacy.on("error", () => {});
    try {
      // Everything but this migrations (010, 011): the schema as a release before them left it.
      await migrate(legacy, MIGRATIONS.filter((m) => m.id !== 10 && m.id !== 11));
      await legacy.query(
        `insert into usage_events (source, event_id, tenant, tier, model, event_time, input_tokens, output_tokens, requests)
         values ('//gateway/maas', 'gw-1', 'acme', 'premium', 'llama', '2026-05-01T00:00:00Z', 10, 1, 1),
                ('//gateway/maas', 'gw-2', 'globex', 'premium', 'llama', '2026-05-01T00:00:00Z', 20, 2, 1)`,
      );
      const keysBefore = (await legacy.query("select ledger_key from usage_ledger order by 1")).rows;
      const result = await migrate(legacy);
      expect(result.applied).toContain(10);
      expect((await legacy.query("select ledger_key from usage_ledger order by 1")).rows).toEqual(keysBefore);
      const pk = await legacy.query(
        `select array_agg(a.attname::text order by k.n) as cols from pg_index i cross join unnest(i.indkey) with ordinality k(attnum, n)
           join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
          where i.indrelid = 'usage_events'::regclass and i.indisprimary`,
      );
      expect(pk.rows[0].cols).toEqual(["tenant", "source", "event_id"]);
      // The same (source, id) for another tenant is now a row of its own.
      await legacy.query(
        `insert into usage_events (source, event_id, tenant, tier, model, event_time, input_tokens, output_tokens, requests)
         values ('//gateway/maas', 'gw-1', 'globex', 'premium', 'llama', '2026-05-01T00:00:00Z', 5, 0, 1)`,
      );
      expect(Number((await legacy.query("select count(*) as n from usage_events")).rows[0].n)).toBe(3);
    } finally {
      await legacy.end();
    }
  }, 120_000);
});
