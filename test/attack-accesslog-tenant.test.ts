// Attack B5G: a tenant admin makes the gateway's access-log records name another tenant (or none).
// The records take their `tenant` attribute from Authorino's `identity` response filter
// (components/platform/gatewayAccessLog.ts), and the billing service bills a record to the tenant
// it names (billing-service/src/accesslog/records.ts). The tenant admin writes its own route's
// AuthPolicy, identity filter included. So whenever access logs are billed (platform.accessLogs or
// platform.lokiPull) the platform's Gateway AuthPolicy puts its own `identity` filter in place of
// the tenant's, with the tenant taken from the key Secret's namespace, pinned tiers or not.
// What is checked: the rendered policies merged as Kuadrant merges a Gateway override (by name,
// RFC 0009), the winning filter's CEL evaluated on the attacker's key, and the record that Envoy's
// access log would carry mapped by the service's own record reader.
import { evaluate } from "@marcbachmann/cel-js";
import { describe, expect, it } from "vitest";
import type { Attributes } from "../billing-service/src/accesslog/otlp";
import { toAccessLogRow } from "../billing-service/src/accesslog/records";
import { createTenantResolver } from "../billing-service/src/collector/tenant-map";
import { gatewayAuthPolicyName, KEY_IDENTITY_RULE } from "../components/platform/gatewayAuth";
import { TIER_ANNOTATION, USER_ANNOTATION } from "../components/shared/apiKeyIdentity";
import { ACCESS_LOG_ATTRIBUTES } from "../components/platform/gatewayAccessLog";
import { authPolicySpec } from "../components/tenant/policies";
import type { RenderResult } from "../scripts/render";
import { createConformanceValidator } from "./support/conformance";
import { findObject, ofKind, renderConfig, renderedCollectorSettings, testImage } from "./support/stacks";

const COLLECTOR_IMAGE = `docker.io/otel/opentelemetry-collector-contrib@sha256:${"4c".repeat(32)}`;
/** Two tenants, no price book and no allowedTiers: nobody is pinned to tiers. */
const platform = (billing: Record<string, unknown>) => ({
  billing: { image: testImage, senders: [{ name: "access-logs", sources: ["//gateway/access-log"] }] },
  tenants: [
    { name: "acme", namespaces: ["acme-models"] },
    { name: "globex", namespaces: ["globex-models"] },
  ],
  ...billing,
});
const withAccessLogs = () =>
  renderConfig("unit-accesslog-tenant", { flavor: "kubernetes", platform: platform({ accessLogs: { sender: "access-logs", collectorImage: COLLECTOR_IMAGE, gatewayEnvoyFilter: true } }) });

/** What Authorino puts in `auth.identity` for an API key: the key's Secret (acme's, in acme's namespace). */
const acmeKey = { auth: { identity: { metadata: { namespace: "acme-models", name: "k", annotations: { [USER_ANNOTATION]: "mallory", [TIER_ANNOTATION]: "premium" } } } } };

/** The tenant's own route policy, its identity filter written by the attacker: `tenant` says globex, or the filter is gone. */
const tampered = (how: "globex" | "removed") => {
  const own = authPolicySpec("acme", "granite", "acme-models");
  const filters = structuredClone(own.rules.response.success.filters) as Record<string, any>;
  if (how === "removed") delete filters.identity;
  else filters.identity.json.properties.tenant = { value: "globex" };
  return filters;
};

/** The filters Authorino runs for acme's route: the route policy's, with the Gateway override's winning by name (merge). */
const effectiveFilters = (r: RenderResult, own: Record<string, any>): Record<string, any> => {
  const gateway = ofKind(r, "AuthPolicy").find((o) => o.object.metadata.name === gatewayAuthPolicyName);
  return { ...own, ...((gateway?.object.spec as any)?.overrides.rules.response?.success?.filters ?? {}) };
};

/** An identity property as Authorino resolves it for acme's key; undefined when no filter publishes it. */
const resolved = (filters: Record<string, any>, property: string): string | undefined => {
  const p = filters.identity?.json.properties[property];
  if (p === undefined) return undefined;
  return p.expression !== undefined ? evaluate(p.expression, acmeKey) : p.value;
};

/** The tenant the billing service bills for one inference record of acme's key, as the rendered service would. */
const billedTenant = (r: RenderResult, filters: Record<string, any>): string | undefined => {
  // Envoy's access log writes "-" for filter state it does not have.
  const values = new Map<string, string>(
    Object.entries(ACCESS_LOG_ATTRIBUTES).flatMap(([attribute, expression]) => {
      const property = /^%FILTER_STATE\(wasm\.kuadrant\.auth\.identity\.([A-Za-z]+):PLAIN\)%$/.exec(expression)?.[1];
      return property === undefined ? [] : [[attribute, resolved(filters, property) ?? "-"]];
    }),
  );
  for (const [k, v] of Object.entries({ response_code: "200", response_type: "hit", model: "granite", tokens_prompt: "100", tokens_completion: "20", tokens_total: "120" })) values.set(k, v);
  const attributes: Attributes = { get: (key) => values.get(key) };
  const settings = renderedCollectorSettings(r);
  const resolver = createTenantResolver({ tenants: settings.tenants, strict: settings.strictTenants });
  const outcome = toAccessLogRow(
    { timeUnixNano: "1765000000000000000", observedTimeUnixNano: "0", attributes, traceId: "", spanId: "" },
    {
      source: "//gateway/access-log",
      tenantOfNamespace: (ns) => {
        const a = resolver.byNamespace(ns);
        return a.kind === "tenant" ? a.tenant : undefined;
      },
      billable: true,
    },
  );
  return outcome.ok ? outcome.row.tenant : undefined;
};

describe("attack B5G: a tenant's own identity filter names another tenant in the gateway's access-log records", () => {
  it("with access logs billed and no tenant pinned, the platform's identity filter replaces the tenant's and is accepted by the CRD schema", async () => {
    const r = await withAccessLogs();
    const policy = findObject(r, "AuthPolicy", gatewayAuthPolicyName).object;
    const filters = (policy.spec as any).overrides.rules.response.success.filters;
    expect(Object.keys(filters)).toEqual(["identity"]);
    // No tier rule: nobody is pinned; the quota check (on by default), the key-identity rule (B3D) and the filter share the policy.
    expect(Object.keys((policy.spec as any).overrides.rules.authorization).sort()).toEqual([KEY_IDENTITY_RULE, "quota"].sort());
    expect(await createConformanceValidator().validate(policy)).toEqual([]);
    // Pulling the same records from Loki bills them alike: the filter is there too.
    const loki = await renderConfig("unit-accesslog-tenant-loki", {
      flavor: "kubernetes",
      platform: platform({ lokiPull: { url: "https://usage-tenancy-proxy.opendatahub.svc:8443", bearerTokenFile: "/var/run/secrets/loki/token" } }),
    });
    expect(Object.keys((findObject(loki, "AuthPolicy", gatewayAuthPolicyName).object.spec as any).overrides.rules.response.success.filters)).toEqual(["identity"]);
  });

  it("acme's records stay acme's: its filter saying globex loses, and so does removing it (CEL evaluated, record read by the service)", async () => {
    const r = await withAccessLogs();
    for (const how of ["globex", "removed"] as const) {
      const effective = effectiveFilters(r, tampered(how));
      expect(resolved(effective, "tenant"), how).toBe("acme");
      expect(billedTenant(r, effective), how).toBe("acme");
    }
    // The other identity properties come from the key, not from the tenant's filter either.
    expect(resolved(effectiveFilters(r, tampered("globex")), "tier")).toBe("premium");
  });

  it("the check can fail: without the platform's filter (no access logs billed, nobody pinned) the tampered filter bills globex, and a removed one leaves the record unbilled (refused: no tenant)", async () => {
    const r = await renderConfig("unit-accesslog-tenant-off", { flavor: "kubernetes", platform: platform({}) });
    expect((findObject(r, "AuthPolicy", gatewayAuthPolicyName).object.spec as any).overrides.rules.response?.success).toBeUndefined();
    // The attack's effect, had the platform billed these records without its filter: the service bills whom the record names.
    const same = await withAccessLogs();
    expect(billedTenant(same, effectiveFilters(r, tampered("globex")))).toBe("globex");
    // A removed filter: Envoy writes "-", which names no tenant; the service refuses the record (acme goes unbilled).
    expect(billedTenant(same, effectiveFilters(r, tampered("removed")))).toBeUndefined();
  });
});
