/**
 * Threat model Q7, performed: a tenant admin points webhook endpoints at in-cluster addresses
 * (loopback, a host name resolving to loopback, an IPv4-mapped IPv6 literal, the cloud metadata
 * address) through the real API of a real `maas-billing serve`, and makes the service send (an
 * invoice.created event). The "internal service" on loopback must never receive a request, the
 * delivery log says why, and a receiver the operator allow-listed (MAAS_BILLING_WEBHOOK_ALLOW) still
 * gets its webhook. Then DNS rebinding against the real dispatcher on a real PostgreSQL: the host
 * name first resolves to the allowed receiver and then to the internal one; the connection goes to
 * the address that was checked.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newToken } from "../src/auth/static";
import { freePort } from "../src/net/free-port";
import { nonPublicReason, parseEgressAllowList, pinDestination, type PinnedAddress, unmapIPv4 } from "../src/net/egress";
import { createWebhookDispatcher } from "../src/webhooks/dispatcher";
import type { ServiceRig } from "../testkit/rig";
import type { ServiceProcess } from "../testkit/service";
import { draftInvoiceNow, startWebhookRig, webhookServiceEnv } from "./support/webhook-service";
import { startBillingDb, type BillingTestDb } from "./support/billing-db";


interface Seen {
  readonly host: string;
  readonly url: string;
}

/** A plain HTTP server on `host` (a loopback address) recording what reaches it. */
const recorder = async (host: string, port = 0) => {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      seen.push({ host, url: req.url ?? "" });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return { seen, server, port: (server.address() as AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (what: string, check: () => Promise<boolean>, log: () => string = () => ""): Promise<void> => {
  const deadline = Date.now() + 120_000;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${log().slice(-3000)}`);
    await sleep(200);
  }
};

describe("SSRF through webhook URLs, against the real service (threat model Q7)", () => {
  let rig: ServiceRig;
  let service: ServiceProcess;
  let internal: Awaited<ReturnType<typeof recorder>>;
  let allowed: Awaited<ReturnType<typeof recorder>>;
  const acme = newToken("acme-admin", { tenant: "acme" });

  const call = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(`${service.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${acme.token}`, ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  beforeAll(async () => {
    // The "internal service" a tenant must not reach, and an in-cluster receiver the operator allows.
    internal = await recorder("127.0.0.1");
    allowed = await recorder("127.0.0.2");
    rig = await startWebhookRig({ name: "maas-ssrf", allow: "127.0.0.2/32", tokens: [acme.entry] });
    service = rig.service;
  }, 180_000);

  afterAll(async () => {
    await rig?.stop();
    await internal?.close();
    await allowed?.close();
  }, 120_000);

  const attacks: [string, () => string, RegExp][] = [
    ["loopback literal", () => `http://127.0.0.1:${internal.port}/steal`, /127\.0\.0\.1 is a loopback address/],
    ["a host name resolving to loopback", () => `http://localhost:${internal.port}/steal`, /localhost resolves to (127\.0\.0\.1|::1), which is a loopback address/],
    ["an IPv4-mapped IPv6 literal of loopback", () => `http://[::ffff:127.0.0.1]:${internal.port}/steal`, /is a loopback address/],
    ["the cloud metadata service", () => "http://169.254.169.254/latest/meta-data/iam/security-credentials/", /169\.254\.169\.254 is a link-local address/],
    ["a private address", () => "http://10.0.0.7:5432/", /10\.0\.0\.7 is a private address/],
  ];

  it("refuses every internal destination at delivery time; the internal service sees nothing; the allow-listed receiver gets its webhook", async () => {
    for (const [i, [, url]] of attacks.entries()) {
      const r = await call("PUT", `/v1/tenants/acme/webhooks/attack-${i}`, { url: url() });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
    expect((await call("PUT", "/v1/tenants/acme/webhooks/in-cluster", { url: `http://127.0.0.2:${allowed.port}/hook` })).status).toBe(200);
    // Make the service send: usage, then a draft invoice (invoice.created goes to every endpoint).
    await draftInvoiceNow(service, "acme");

    const attempts = async () => (await call("GET", "/v1/tenants/acme/webhooks/deliveries?limit=1000")).body.attempts as { endpoint: string; error: string | null; delivered: boolean }[];
    await until("an attempt on every endpoint", async () => new Set((await attempts()).map((a) => a.endpoint)).size === attacks.length + 1, () => service.log());
    const log = await attempts();
    for (const [i, [name, , reason]] of attacks.entries()) {
      const mine = log.filter((a) => a.endpoint === `attack-${i}`);
      expect(mine.length, name).toBeGreaterThan(0);
      for (const a of mine) {
        expect(a.delivered, name).toBe(false);
        expect(a.error, name).toMatch(reason);
      }
    }
    expect(log.filter((a) => a.endpoint === "in-cluster").some((a) => a.delivered)).toBe(true);
    expect(allowed.seen.map((s) => s.url)).toContain("/hook");
    // The attack's target never received a single request.
    expect(internal.seen).toEqual([]);
  }, 180_000);

  it("a bad allow-list stops the service at start with the variable and an example", async () => {
    const bad = await rig.startService({ env: webhookServiceEnv("10.0.0.0/99") }).then(
      () => "started",
      (e: Error) => e.message,
    );
    expect(bad).toMatch(/MAAS_BILLING_WEBHOOK_ALLOW/);
    expect(bad).toMatch(/Example: 10\.96\.0\.0\/12/);
  }, 120_000);
});

describe("DNS rebinding against the real dispatcher and PostgreSQL", () => {
  let db: BillingTestDb;
  let good: Awaited<ReturnType<typeof recorder>>;
  let evil: Awaited<ReturnType<typeof recorder>>;

  beforeAll(async () => {
    db = await startBillingDb();
    // The allowed receiver and the internal target on the same port, 127.0.0.2 and 127.0.0.3.
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      try {
        good = await recorder("127.0.0.2", port);
        evil = await recorder("127.0.0.3", port);
        break;
      } catch (e) {
        await good?.close().catch(() => undefined);
        if (attempt >= 5) throw e;
      }
    }
  }, 120_000);

  afterAll(async () => {
    await good?.close();
    await evil?.close();
    await db?.stop();
  });

  const enqueue = async (tenant: string, endpoint: string, url: string, eventId: string) => {
    await db.pool.query("insert into webhook_endpoints (tenant, name, url, secret, event_types, enabled) values ($4, $1, $2, $3, '{}', true)", [
      endpoint,
      url,
      `whsec_${Buffer.alloc(24, 7).toString("base64")}`,
      tenant,
    ]);
    await db.pool.query("select maas_webhook_emit($2, 'invoice.created', $1, '{\"invoiceId\": \"x\"}'::jsonb)", [eventId, tenant]);
  };

  it("connects to the address it checked, not to what the name resolves to a moment later", async () => {
    // A rebinding resolver: the allowed address for the check, the internal one on any later lookup.
    let calls = 0;
    const resolve = async (): Promise<PinnedAddress[]> => (calls++ === 0 ? [{ address: "127.0.0.2", family: 4 }] : [{ address: "127.0.0.3", family: 4 }]);
    await enqueue("acme", "rebind", `http://rebind.attacker.example:${good.port}/hook`, "evt-rebind");
    const dispatcher = createWebhookDispatcher(db.pool, { egress: parseEgressAllowList("127.0.0.2/32"), resolve });
    const report = await dispatcher.runOnce();
    expect(report.delivered).toBe(1);
    expect(calls).toBe(1);
    expect(good.seen.map((s) => s.url)).toEqual(["/hook"]);
    expect(evil.seen).toEqual([]);
  });

  it("refuses a name with one internal answer among allowed ones (the client could pick it)", async () => {
    const resolve = async (): Promise<PinnedAddress[]> => [
      { address: "127.0.0.2", family: 4 },
      { address: "127.0.0.3", family: 4 },
    ];
    await enqueue("globex", "mixed", `http://mixed.attacker.example:${good.port}/mixed`, "evt-mixed");
    const dispatcher = createWebhookDispatcher(db.pool, { egress: parseEgressAllowList("127.0.0.2/32"), resolve });
    const report = await dispatcher.runOnce();
    expect(report.failed).toBe(1);
    const attempt = (await db.pool.query("select error from webhook_attempts where endpoint = 'mixed'")).rows[0];
    expect(attempt.error).toMatch(/mixed\.attacker\.example resolves to 127\.0\.0\.3, which is a loopback address/);
    expect(evil.seen).toEqual([]);
    expect(good.seen.map((s) => s.url)).not.toContain("/mixed");
  });
});

describe("address classification (the ranges of egress.ts)", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["10.1.2.3", "private"],
    ["172.31.255.255", "private"],
    ["192.168.0.1", "private"],
    ["169.254.169.254", "link-local"],
    ["100.64.0.1", "shared"],
    ["0.0.0.0", "'this network'"],
    ["::1", "loopback"],
    ["fe80::1", "link-local"],
    ["fd00:ec2::254", "unique local"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:a00:1", "private"],
    ["64:ff9b::a00:1", "NAT64"],
  ])("%s is refused (%s)", (address, why) => {
    expect(nonPublicReason(address)).toContain(why);
  });
  it.each(["93.184.216.34", "8.8.8.8", "172.32.0.1", "2606:4700::1111"])("%s is public", (address) => {
    expect(nonPublicReason(address)).toBeUndefined();
  });
  it("unmaps IPv4-mapped IPv6 in both spellings", () => {
    expect(unmapIPv4("::ffff:127.0.0.1")).toBe("127.0.0.1");
    expect(unmapIPv4("::ffff:7f00:1")).toBe("127.0.0.1");
    expect(unmapIPv4("2001:db8::1")).toBe("2001:db8::1");
  });
  it("an allow-listed host name may resolve to private addresses; other names may not", async () => {
    const policy = parseEgressAllowList(".svc.cluster.local, 10.96.0.0/12");
    const resolve = async (): Promise<PinnedAddress[]> => [{ address: "10.200.0.5", family: 4 }];
    await expect(pinDestination(new URL("http://hooks.tenant-a.svc.cluster.local/x"), policy, resolve)).resolves.toEqual({ address: "10.200.0.5", family: 4 });
    await expect(pinDestination(new URL("http://hooks.example.com/x"), policy, resolve)).rejects.toThrow(/10\.200\.0\.5, which is a private address/);
    await expect(pinDestination(new URL("http://10.96.0.10/x"), policy, resolve)).resolves.toEqual({ address: "10.96.0.10", family: 4 });
  });
});
