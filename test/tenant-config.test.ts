/*
 * The tenant part of the stack config (components/config/tenant.ts): defaults, and errors that name
 * the key, say what is wrong and show a right value, before any resource is declared.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, parseStackConfig } from "../components/config";
import { defaultImageRef, defaultImages } from "../components/config/images";
import { tenantNamespaces, tenantSpecSchema } from "../components/config/tenant";

const platformStack = "acme/maas-billing/platform-prod";
const tenantStack = (tenant: Record<string, unknown>) => ({ flavor: "openshift", platformStack, tenant: { name: "tenant-a", ...tenant } });

function errorsOf(raw: Record<string, unknown>): string[] {
  try {
    parseStackConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("tenant defaults", () => {
  it("fill every field a tenant leaves out", () => {
    const spec = tenantSpecSchema.parse({ name: "tenant-a" });
    expect(tenantNamespaces(spec)).toEqual({ models: "tenant-a-models", monitoring: "tenant-a-monitoring" });
    expect(spec.prometheus).toMatchObject({ mode: "federated", retention: "15d", storageSize: "10Gi", image: defaultImageRef(defaultImages.prometheus) });
    expect(spec.grafana.expose).toEqual({ enabled: false });
    expect(spec.tiers.map((t) => t.name)).toEqual(["free", "premium", "enterprise"]);
    expect(spec.apiKeys).toEqual([]);
  });

  it("a key's rotation defaults to 0", () => {
    const spec = tenantSpecSchema.parse({ name: "t", apiKeys: [{ name: "k", userId: "u", tier: "free" }] });
    expect(spec.apiKeys[0].rotation).toBe(0);
  });
});

describe("a wrong tenant config names the key", () => {
  it.each([
    ["an unknown tier", { apiKeys: [{ name: "alice", userId: "alice", tier: "gold" }] }, 'maas-billing:tenant.apiKeys[0].tier: unknown tier "gold"; expected one of "free", "premium", "enterprise"'],
    ["negative retention", { prometheus: { retention: "-1d" } }, 'maas-billing:tenant.prometheus.retention: expected a Prometheus duration, got "-1d". Example: "15d"'],
    [
      "an unpinned image",
      { grafana: { image: "grafana/grafana:latest" } },
      'maas-billing:tenant.grafana.image: expected an image pinned by digest or an exact tag other than latest, got "grafana/grafana:latest". Example: "docker.io/timescale/timescaledb@sha256:4e459e217f00cbb09920c34d245501e63427e6767a495de57ce76823ff280f12"',
    ],
    [
      "direct mode without its URL",
      { prometheus: { mode: "direct" } },
      'maas-billing:tenant.prometheus.directUrl: required key is missing in direct mode. Example: "https://prometheus-user-workload.openshift-user-workload-monitoring.svc:9092"',
    ],
    ["an unknown mode", { prometheus: { mode: "shared" } }, 'maas-billing:tenant.prometheus.mode: Invalid option: expected one of "federated"|"direct", got "shared". Example: "federated"'],
    ["a bad window", { tiers: [{ name: "free", tokenRates: [{ limit: 10, window: "1 minute" }] }] }, 'maas-billing:tenant.tiers[0].tokenRates[0].window: expected a Kuadrant window, got "1 minute". Example: "1m"'],
    ["a zero limit", { tiers: [{ name: "free", tokenRates: [{ limit: 0, window: "1m" }] }] }, "maas-billing:tenant.tiers[0].tokenRates[0].limit: expected a positive whole number, got 0. Example: 100"],
    ["a negative rotation", { apiKeys: [{ name: "a", userId: "a", tier: "free", rotation: -1 }] }, "maas-billing:tenant.apiKeys[0].rotation: expected a whole number >= 0, got -1. Example: 1"],
    ["a duplicate key", { apiKeys: [{ name: "a", userId: "a", tier: "free" }, { name: "a", userId: "b", tier: "free" }] }, 'maas-billing:tenant.apiKeys[1].name: duplicate apiKeys entry "a"'],
    ["a typo", { prometheus: { retension: "15d" } }, "maas-billing:tenant.prometheus.retension: unknown key (a typo?)."],
    [
      "a route name too long for its policy names",
      { routes: [{ name: "a-very-long-route-name-for-the-model-server-xyz" }] },
      'maas-billing:tenant.routes[0].name: too long: policy name "tenant-a-a-very-long-route-name-for-the-model-server-xyz-requests" exceeds 63 characters',
    ],
  ])("%s", (_name, tenant, message) => {
    const errors = errorsOf(tenantStack(tenant));
    expect(errors).toHaveLength(1);
    // The typo line goes on to list the known keys; the rest are exact.
    expect(errors[0].slice(0, message.length)).toEqual(message);
  });

  it("a missing tenant name", () => {
    expect(errorsOf({ flavor: "openshift", platformStack, tenant: {} })).toEqual(['maas-billing:tenant.name: required key is missing. Example: "tenant-a"']);
  });
});
