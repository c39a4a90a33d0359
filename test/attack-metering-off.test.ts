/**
 * Attack B2 of docs/threat-model.md, the metering side: a tenant admin deletes its
 * TokenRateLimitPolicy, or neuters it (a `when` that never matches, its own limit named like the
 * platform's), so Limitador would count no `authorized_hits` for its routes and the invoice would
 * bill 0 tokens. Render-level: with the platform's Gateway-targeted override
 * (components/platform/gatewayMetering.ts) the effective limits of every tenant route still hold
 * the platform's metering limit, unconditional, whatever the tenant's policy says; the tenant-admin
 * Role has no rights where that policy lives. Billing-level: the counters that policy produces
 * (labelled with the route's namespace, field notes §2.1) are billed to the tenant by the real
 * collector, reading a real Prometheus, with the collector settings the platform renders.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as YAML from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backfill, startPrometheus, type RunningPrometheus } from "../billing-service/testkit/prometheus";
import { collectOnce } from "../billing-service/src/collector/collect";
import { PrometheusClient } from "../billing-service/src/collector/prometheus-client";
import { startBillingDb, type BillingTestDb } from "../billing-service/test/support/billing-db";
import { toOpenMetrics } from "../billing-service/test/support/scenario";
import { METERING_LIMIT } from "../components/platform/gatewayMetering";
import type { K8sObject, RenderResult } from "../scripts/render";
import { createConformanceValidator } from "./support/conformance";
import { effectiveTokenLimits } from "./support/effectiveLimits";
import { findObject, ofKind, renderConfig, renderedCollectorSettings, renderExample } from "./support/stacks";

const GATEWAY = { namespace: "openshift-ingress", name: "maas-default-gateway" };

let dev: RenderResult;
let route: { namespace: string; name: string };

/** tenant-a's TokenRateLimitPolicy objects in a render. */
const tenantTrlps = (objects: readonly K8sObject[]) =>
  objects.filter((o) => o.kind === "TokenRateLimitPolicy" && (o.metadata.labels as Record<string, string> | undefined)?.["maas-billing.io/tenant"] === "tenant-a");

/** The tenant admin's edits, applied to the rendered objects. */
const deleted = (objects: readonly K8sObject[]) => objects.filter((o) => !tenantTrlps([o]).length);
const neutered = (objects: readonly K8sObject[]) =>
  objects.map((o) => {
    if (!tenantTrlps([o]).length) return o;
    const limits = (o.spec as { limits: Record<string, object> }).limits;
    const never = [{ predicate: "false" }];
    return {
      ...o,
      spec: {
        ...(o.spec as object),
        limits: {
          ...Object.fromEntries(Object.entries(limits).map(([k, v]) => [k, { ...v, when: never }])),
          [METERING_LIMIT]: { rates: [{ limit: 1, window: "1s" }], when: never },
        },
      },
    };
  });

/** The unconditional metering limit on tenant-a's route, and where it comes from; undefined if none. */
const metering = (objects: readonly K8sObject[]) => {
  const limit = effectiveTokenLimits(objects, GATEWAY, route).get(METERING_LIMIT);
  return limit && { from: limit.from, unconditional: (limit.limit.when ?? []).length === 0 };
};

beforeAll(async () => {
  dev = await renderExample("dev");
  const own = tenantTrlps(dev.objects.map((o) => o.object));
  expect(own.length).toBeGreaterThan(0);
  const ref = (own[0].spec as { targetRef: { name: string } }).targetRef;
  route = { namespace: own[0].metadata.namespace!, name: ref.name };
}, 120_000);

describe("attack B2: the tenant deletes or neuters its TokenRateLimitPolicy", () => {
  it("the platform renders a Gateway-targeted TokenRateLimitPolicy override (merge) that the CRD schema accepts", async () => {
    const policy = findObject(dev, "TokenRateLimitPolicy", METERING_LIMIT).object;
    expect(policy.metadata.namespace).toBe(GATEWAY.namespace);
    expect(policy.spec).toEqual({
      targetRef: { group: "gateway.networking.k8s.io", kind: "Gateway", name: GATEWAY.name },
      overrides: { strategy: "merge", limits: { [METERING_LIMIT]: { rates: [{ limit: 1_000_000_000_000_000, window: "1h" }] } } },
    });
    expect(await createConformanceValidator().validate(policy)).toEqual([]);
  });

  it("as rendered, the route carries the platform's metering limit next to the tenant's own per-tier limits", () => {
    const objects = dev.objects.map((o) => o.object);
    expect(metering(objects)).toEqual({ from: `${GATEWAY.namespace}/${METERING_LIMIT}`, unconditional: true });
    // The tenant still shapes its own limits (merge keeps them).
    expect([...effectiveTokenLimits(objects, GATEWAY, route).keys()].sort()).toEqual([METERING_LIMIT, "enterprise", "free", "premium"].sort());
  });

  it("deleted: the route is still metered, by the platform's policy", () => {
    const objects = deleted(dev.objects.map((o) => o.object));
    expect(tenantTrlps(objects)).toEqual([]);
    expect(metering(objects)).toEqual({ from: `${GATEWAY.namespace}/${METERING_LIMIT}`, unconditional: true });
  });

  it("neutered (never-matching when, a look-alike limit of the same name): still metered, unconditionally, by the platform's", () => {
    const objects = neutered(dev.objects.map((o) => o.object));
    expect(metering(objects)).toEqual({ from: `${GATEWAY.namespace}/${METERING_LIMIT}`, unconditional: true });
  });

  it("the check can fail: without the platform's policy, a deleted or neutered tenant policy leaves the route unmetered", async () => {
    const { config } = await import("../scripts/render").then((m) => m.readStackConfigFile(path.join(__dirname, "..", "Pulumi.dev.yaml")));
    const platform = config["maas-billing:platform"] as Record<string, any>;
    const without = await renderConfig("dev-without-metering", {
      flavor: config["maas-billing:flavor"],
      allowImageTags: config["maas-billing:allowImageTags"],
      platform: { ...platform, telemetry: { ...(platform.telemetry ?? {}), meteringPolicy: false } },
      tenants: config["maas-billing:tenants"],
    });
    const objects = without.objects.map((o) => o.object);
    expect(ofKind(without, "TokenRateLimitPolicy").filter((o) => o.object.metadata.name === METERING_LIMIT)).toEqual([]);
    expect(metering(deleted(objects))).toBeUndefined();
    expect(metering(neutered(objects))).toEqual({ from: `${route.namespace}/${tenantTrlps(objects)[0].metadata.name}`, unconditional: false });
  });

  it("the tenant-admin Role grants nothing where the platform's policy lives", () => {
    const bindings = ofKind(dev, "RoleBinding").filter((o) => (o.object as any).roleRef?.name === "maas-tenant-admin");
    expect(bindings.length).toBeGreaterThan(0);
    expect(bindings.map((b) => b.object.metadata.namespace)).not.toContain(GATEWAY.namespace);
  });

  it("the platform refuses a tenant namespace that is the Gateway's (its admin Role would cover the metering policy)", async () => {
    await expect(
      renderConfig("unit-gateway-ns", {
        flavor: "kubernetes",
        platform: { billing: { image: `quay.io/x/y@sha256:${"ab".repeat(32)}` }, gateway: { name: "gw", namespace: "shared" }, tenants: [{ name: "t", namespaces: ["shared", "t-monitoring"] }] },
      }),
    ).rejects.toThrow('maas-billing:platform.tenants[0].namespaces: "shared" is the Gateway\'s namespace');
  });
});

describe("the collector bills what the platform's policy counts", () => {
  let dir: string;
  let prom: RunningPrometheus;
  let db: BillingTestDb;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "maas-attack-metering-"));
    const WINDOW = 15 * 60_000;
    const fromMs = Math.floor(Date.now() / WINDOW) * WINDOW - 6 * WINDOW;
    // Limitador's counter under the platform's limit: labelled with the ROUTE's namespace and name
    // even though the policy targets the Gateway (field notes §2.1); 60 scrapes of +50 tokens.
    const samples = Array.from({ length: 61 }, (_, i) => ({ t: fromMs + i * 15_000, v: 50 * i }));
    const labels = { limitador_namespace: `${route.namespace}/${route.name}`, model: "granite-3-8b", tier: "premium", user: "alice" };
    await backfill(toOpenMetrics([{ metric: "authorized_hits", labels, samples }]), path.join(dir, "data"), dir);
    [prom, db] = await Promise.all([startPrometheus({ dir }), startBillingDb()]);
    // collector.yaml and its tenant registry shards, as the pod mounts them.
    const settings = renderedCollectorSettings(dev, "\nwindow: 15m\n");
    const client = new PrometheusClient({ url: prom.url });
    try {
      await collectOnce({ pool: db.pool, prometheus: client, settings }, { fromMs, toMs: fromMs + 2 * WINDOW });
    } finally {
      client.close();
    }
  }, 240_000);

  afterAll(async () => {
    await prom?.stop();
    await db?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it("books the route's tokens to tenant-a, billable", async () => {
    const rows = (await db.pool.query("select tenant, sum(total_tokens)::int as tokens from collector_usage where billable group by tenant")).rows;
    expect(rows).toEqual([{ tenant: "tenant-a", tokens: 3000 }]);
    expect(YAML.parse((findObject(dev, "ConfigMap", "maas-billing-api-collector").object.data as Record<string, string>)["collector.yaml"]).strictTenants).toBe(true);
  });
});
