import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseStackConfig } from "../components/config";
import { billingPodsAtOnce, CONNECTIONS_PER_BILLING_POD, databaseConnectionsNeeded } from "../components/config/databaseConnections";
import { SERVE_POOL_MAX } from "../billing-service/src/contract";
import { databaseServerArgs } from "../components/platform/databaseSpecs";
import { startBillingCluster, type BillingCluster } from "../billing-service/testkit/postgres";
import { embeddedUrl } from "../billing-service/src/db/embedded";
import { testImage, withExampleImageOptIn } from "./support/stacks";
import { errorsOf } from "./support/configErrors";

/*
 * Review R4 against a real PostgreSQL: the server started with the settings the platform renders
 * (databaseServerArgs) takes exactly as many connections of a non-superuser role (what the billing
 * pods log in as) as the config check counts for the billing pods, and refuses the next one; one
 * max_connection fewer, which the check refuses, leaves a pod's pool short. So the check's figure
 * is PostgreSQL's limit, not an estimate beside it.
 */

const APP_PASSWORD = `app-${Math.random().toString(36).slice(2)}`;
let dir: string;
let cluster: BillingCluster;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "maas-r4-pg-"));
  cluster = await startBillingCluster(dir, { persistent: true });
  const admin = new pg.Client(cluster.url);
  await admin.connect();
  await admin.query(`create role billing_app login password '${APP_PASSWORD}'`);
  await admin.end();
}, 120_000);

afterAll(async () => {
  await cluster?.server.stop().catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Applies the rendered `-c name=value` pairs (ALTER SYSTEM) and restarts the server, as the pod's command line would set them. */
async function restartWith(args: string[]): Promise<void> {
  expect(args[0]).toBe("postgres");
  const admin = new pg.Client(cluster.url);
  await admin.connect();
  for (let i = 1; i < args.length; i += 2) {
    expect(args[i]).toBe("-c");
    const [name, value] = args[i + 1].split("=");
    await admin.query(`alter system set ${pg.escapeIdentifier(name)} = ${pg.escapeLiteral(value)}`);
  }
  await admin.end();
  await cluster.server.stop();
  await cluster.server.start();
}

/** Opens app-role connections until PostgreSQL refuses one (or `limit` are open); returns how many it took and the refusal. */
async function appConnectionsTaken(limit: number): Promise<{ open: number; refusal?: string }> {
  const url = new URL(cluster.url);
  const appUrl = embeddedUrl(APP_PASSWORD, Number(url.port), "billing", "billing_app");
  const clients: pg.Client[] = [];
  try {
    for (;;) {
      if (clients.length === limit) return { open: clients.length };
      const c = new pg.Client(appUrl);
      try {
        await c.connect();
      } catch (e) {
        return { open: clients.length, refusal: (e as Error).message };
      }
      clients.push(c);
    }
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

const platformWith = (maxConnections: number) =>
  withExampleImageOptIn({ flavor: "kubernetes", platform: { billing: { image: testImage, replicas: 1 }, database: { maxConnections } } });

describe("the database connection check's figure is PostgreSQL's own limit (real PostgreSQL, rendered settings)", () => {
  it("at the figure the check accepts, every billing pod's pool connects, and not one connection more", async () => {
    const billing = { replicas: 1 };
    const needed = databaseConnectionsNeeded(billing); // 1 replica + 1 rolling-update pod, x 16, + 3
    const db = parseStackConfig(platformWith(needed)).platform!.database;
    await restartWith(databaseServerArgs(db));
    // What the pods' pools hold, counted apart from the check's own sum.
    expect(CONNECTIONS_PER_BILLING_POD).toBeGreaterThanOrEqual(SERVE_POOL_MAX);
    const pools = billingPodsAtOnce(billing) * CONNECTIONS_PER_BILLING_POD;
    const taken = await appConnectionsTaken(pools + 1);
    expect(taken.open).toBe(pools);
    expect(taken.refusal).toMatch(/remaining connection slots are reserved/);
  }, 120_000);

  it("one fewer, which the check refuses, leaves the last pod's pool a connection short", async () => {
    const needed = databaseConnectionsNeeded({ replicas: 1 });
    expect(errorsOf(platformWith(needed - 1))[0]).toContain(`Set platform.database.maxConnections to at least ${needed}`);
    const accepted = parseStackConfig(platformWith(needed)).platform!.database;
    await restartWith(databaseServerArgs({ ...accepted, maxConnections: needed - 1 }));
    const taken = await appConnectionsTaken(needed);
    expect(taken.open).toBe(billingPodsAtOnce({ replicas: 1 }) * CONNECTIONS_PER_BILLING_POD - 1);
    expect(taken.refusal).toMatch(/remaining connection slots are reserved/);
  }, 120_000);
});
