import { z } from "zod";
import { defaultImageRef, defaultImages } from "./images";
import { alertmanagerSchema } from "./alerting";
import { dnsLabel, grafanaSchema, k8sQuantity, patternString, pinnedImage, promDuration, resources } from "./common";

/*
 * TenantSpec: everything one tenant stack deploys, parsed once at program start.
 * Used as `maas-billing:tenant` (one tenant, with `maas-billing:platformStack`) and as each entry of
 * `maas-billing:tenants` (several tenants in one stack, e.g. dev). Every field that has a sensible value
 * gets it here, so components never apply defaults of their own. Descriptions feed the generated
 * config reference (npm run docs:config).
 */

/** Tenant and key names stay short so derived object names (`<tenant>-apikey-<key>`) fit in 63 characters. */
const shortName = (example: string) =>
  patternString(/^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/, "a lowercase DNS label of at most 40 characters", example);

/** Kuadrant rate window: the CRD pattern ^([0-9]{1,5}(h|m|s|ms)){1,4}$. */
const rateWindow = patternString(/^([0-9]{1,5}(h|m|s|ms)){1,4}$/, "a Kuadrant window", "1m");

const rate = z.strictObject({
  limit: z
    .number({ error: "expected a positive whole number" })
    .int()
    .positive()
    .meta({ examples: [100] })
    .describe("Maximum count (tokens or requests) per window."),
  window: rateWindow.describe("Window the limit applies to."),
});

/** One tier (or subscription): the group an API key belongs to and the limits that apply to it. */
export const tierSchema = z.strictObject({
  name: shortName("premium").describe("Tier (or subscription) name; an API key's `tier` refers to it."),
  tokenRates: z.array(rate).default([]).describe("Token limits (TokenRateLimitPolicy), counted per user. Empty: no token limit for this tier."),
  requestRates: z.array(rate).default([]).describe("Request limits (RateLimitPolicy), counted per user. Empty: no request limit for this tier."),
});

/** One API key. The key value is generated; only its metadata lives in config. */
export const apiKeySchema = z.strictObject({
  name: shortName("alice").describe("Stable name of the key; part of its Secret name `<tenant>-apikey-<name>`."),
  userId: patternString(/^[A-Za-z0-9@._-]{1,253}$/, 'a user id of letters, digits, "@", ".", "_" or "-"', "alice").describe(
    "User the key belongs to: annotation `kuadrant.io/user-id`, exposed as `auth.identity.userid` (rate-limit counter and the `user` metric label).",
  ),
  tier: dnsLabel.meta({ examples: ["premium"] }).describe("Tier or subscription the key is limited and billed as; one of `tiers[].name`."),
  rotation: z
    .number({ error: "expected a whole number >= 0" })
    .int()
    .nonnegative()
    .meta({ examples: [1] })
    .default(0)
    .describe("Bump to replace this key's value, and only this key's."),
});

/** An HTTPRoute of the tenant that the Kuadrant policies target. */
export const routeRefSchema = z.strictObject({
  name: dnsLabel.meta({ examples: ["granite-3-8b"] }).describe("Name of the HTTPRoute."),
  namespace: dnsLabel.optional().describe("Namespace of the HTTPRoute; one of the tenant's namespaces. Defaults to the models namespace."),
});

const prometheusSchema = z
  .strictObject({
    mode: z
      .enum(["federated", "direct"])
      .default("federated")
      .describe(
        "`federated` (isolated): scrape only the platform-owned label-enforcing proxies. `direct`: scrape the central federation endpoint with a token that can read every tenant; single-tenant clusters only, NOT isolated (docs/tenants.md).",
      ),
    directUrl: patternString(/^https?:\/\/[^\s/]+(\/\S*)?$/, "an http(s) URL", "https://prometheus-user-workload.openshift-user-workload-monitoring.svc:9092")
      .optional()
      .describe("Central federation base URL; used, and required, only in `direct` mode."),
    image: pinnedImage.default(defaultImageRef(defaultImages.prometheus)).describe("Prometheus image (docs/images.md)."),
    retention: promDuration.default("15d").describe("How long the tenant Prometheus keeps samples."),
    storageSize: k8sQuantity.default("10Gi").describe("Size of the tenant Prometheus data volume."),
    storageClassName: dnsLabel.meta({ examples: ["gp3-csi"] }).optional().describe("StorageClass of the data volume; the cluster default when omitted."),
    scrapeInterval: promDuration.default("30s").describe("Federation scrape and rule evaluation interval."),
    resources: resources
      .default({ requests: { cpu: "100m", memory: "512Mi" }, limits: { cpu: "1", memory: "2Gi" } })
      .describe("Resources of the tenant Prometheus."),
  })
  .superRefine((p, ctx) => {
    if (p.mode === "direct" && p.directUrl === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["directUrl"],
        message: 'required key is missing in direct mode. Example: "https://prometheus-user-workload.openshift-user-workload-monitoring.svc:9092"',
      });
    }
  });

/** Tiers of the field notes (§3, MaaS Oct 2025 limits), used when a tenant names none. */
const defaultTiers = [
  { name: "free", tokenRates: [{ limit: 100, window: "1m" }], requestRates: [{ limit: 5, window: "2m" }] },
  { name: "premium", tokenRates: [{ limit: 50000, window: "1m" }], requestRates: [{ limit: 20, window: "2m" }] },
  { name: "enterprise", tokenRates: [{ limit: 100000, window: "1m" }], requestRates: [{ limit: 50, window: "2m" }] },
];

/** One webhook endpoint of the tenant in the billing service (Standard Webhooks, docs/billing-service.md "Webhooks"). */
export const tenantWebhookSchema = z.strictObject({
  name: patternString(/^[a-z0-9]([-a-z0-9]{0,28}[a-z0-9])?$/, "a lowercase DNS label of at most 30 characters", "finance").describe(
    "Endpoint name in the billing service; its signing key is Secret `maas-webhook-<name>` (key `secret`, `whsec_...`) in the monitoring namespace, for the receiver.",
  ),
  url: z
    .url({ error: 'expected an http(s) URL. Example: "https://hooks.example.com/maas"' })
    .max(2048)
    .refine((u) => /^https?:\/\//.test(u) && !/["'\\\s`$]/.test(u), "an http(s) URL without quotes, backslashes, spaces, backticks or $")
    .refine((u) => !URL.canParse(u) || (new URL(u).username === "" && new URL(u).password === ""), "must not carry credentials: the payload is signed with the endpoint's key instead")
    .describe("Where the billing service posts the events. Internal addresses are refused at delivery unless the platform allows them (`platform.billing.webhookAllow`)."),
  eventTypes: z
    .array(z.enum(["quota.threshold", "invoice.created", "invoice.finalized", "metering.flagged"]))
    .default([])
    .describe("Event types sent to this endpoint; empty = all."),
  enabled: z.boolean().default(true).describe("Turn delivery off without deleting the endpoint."),
  keyRotation: z.number().int().min(0).default(0).describe("Bump to generate a new signing key (the receiver must read the Secret again)."),
});

export const tenantSpecSchema = z
  .strictObject({
    name: shortName("tenant-a").describe("Tenant name; the same as the tenant's entry in the platform's `platform.tenants`."),
    namespaces: z
      .strictObject({
        models: dnsLabel.meta({ examples: ["tenant-a-models"] }).optional().describe("Models namespace (model servers, HTTPRoutes, policies, API keys). Defaults to `<name>-models`."),
        monitoring: dnsLabel.meta({ examples: ["tenant-a-monitoring"] }).optional().describe("Monitoring namespace (Prometheus, Grafana). Defaults to `<name>-monitoring`."),
      })
      .prefault({})
      .describe("Existing namespaces, created by the platform stack; a tenant stack creates none."),
    prometheus: prometheusSchema.prefault({}).describe("The tenant Prometheus."),
    grafana: grafanaSchema.prefault({}).describe("The tenant Grafana."),
    routes: z.array(routeRefSchema).default([]).describe("HTTPRoutes the AuthPolicy, TokenRateLimitPolicy and RateLimitPolicy target."),
    tiers: z.array(tierSchema).default(defaultTiers).describe("Tiers (or subscriptions) with their token and request limits."),
    apiKeys: z.array(apiKeySchema).default([]).describe("API keys; values are generated and exported only as secret outputs."),
    webhooks: z.array(tenantWebhookSchema).default([]).describe("The tenant's webhook endpoints in the billing service, each with a generated signing key kept in a Secret (never in config or state outputs in clear)."),
    webhookClientImage: pinnedImage
      .default(defaultImageRef(defaultImages.curl))
      .describe("curl image of the Job that registers the webhook endpoints with the billing API (with the tenant's billing token)."),
    alerting: alertmanagerSchema
      .optional()
      .describe("The tenant's Alertmanager and receivers: the tenant Prometheus sends its alerts there (its `alerting:` block); only `tenant=<name>` alerts are delivered. Omitted: no Alertmanager, alerts show only in the tenant Prometheus."),
  })
  .superRefine((t, ctx) => {
    t.webhooks.forEach((w, i) => {
      if (t.webhooks.findIndex((o) => o.name === w.name) !== i) ctx.addIssue({ code: "custom", path: ["webhooks", i, "name"], message: `duplicate webhook "${w.name}"` });
    });
    const tierNames = new Set(t.tiers.map((x) => x.name));
    t.apiKeys.forEach((k, i) => {
      if (!tierNames.has(k.tier)) {
        ctx.addIssue({
          code: "custom",
          path: ["apiKeys", i, "tier"],
          message: `unknown tier "${k.tier}"; expected one of ${[...tierNames].map((n) => `"${n}"`).join(", ")}`,
        });
      }
    });
    // Derived Kubernetes names must stay within 63 characters.
    t.routes.forEach((r, i) => {
      const longest = `${t.name}-${r.name}-requests`;
      if (longest.length > 63) {
        ctx.addIssue({ code: "custom", path: ["routes", i, "name"], message: `too long: policy name "${longest}" exceeds 63 characters` });
      }
    });
    t.apiKeys.forEach((k, i) => {
      const secretName = `${t.name}-apikey-${k.name}`;
      if (secretName.length > 63) {
        ctx.addIssue({ code: "custom", path: ["apiKeys", i, "name"], message: `too long: Secret name "${secretName}" exceeds 63 characters` });
      }
    });
    const unique = <T>(items: T[], key: (x: T) => string, path: string) => {
      const seen = new Set<string>();
      items.forEach((x, i) => {
        const k = key(x);
        if (seen.has(k)) ctx.addIssue({ code: "custom", path: [path, i, "name"], message: `duplicate ${path} entry "${k}"` });
        seen.add(k);
      });
    };
    // A tenant stack places policies only in its own namespaces (the tenant-admin Role covers no other).
    const own = tenantNamespaces(t);
    t.routes.forEach((r, i) => {
      if (r.namespace !== undefined && r.namespace !== own.models && r.namespace !== own.monitoring) {
        ctx.addIssue({
          code: "custom",
          path: ["routes", i, "namespace"],
          message: `"${r.namespace}" is not one of the tenant's namespaces (${own.models}, ${own.monitoring}); a tenant stack only places policies in its own namespaces. Example: "${own.models}"`,
        });
      }
    });
    unique(t.apiKeys, (k) => k.name, "apiKeys");
    unique(t.tiers, (x) => x.name, "tiers");
    unique(t.routes, (r) => r.name, "routes");
  });

export type TenantSpec = z.infer<typeof tenantSpecSchema>;
export type TenantTier = z.infer<typeof tierSchema>;
export type TenantApiKey = z.infer<typeof apiKeySchema>;

/** Namespaces with defaults applied in one place. */
/**
 * The platform's pin on this tenant's tiers (platform output `tenantAllowedTiers`): every API key
 * must use one of them. Checked when the platform outputs resolve, i.e. at preview; each problem
 * names the key (docs/threat-model.md B3).
 */
export const allowedKeyTiersSchema = (tenant: string, allowed: readonly string[]) =>
  z.array(z.looseObject({ name: z.string(), tier: z.string() })).superRefine((keys, ctx) =>
    keys.forEach((k, i) => {
      if (!allowed.includes(k.tier)) {
        ctx.addIssue({
          code: "custom",
          path: [i, "tier"],
          message: `key "${k.name}" uses tier "${k.tier}", which the platform does not allow tenant ${tenant} (platform.tenants[].allowedTiers: ${allowed.join(", ")}). Use one of those tiers, or ask the platform admin`,
        });
      }
    }),
  );

/** Throws one error listing every key whose tier the platform does not allow (nothing when `allowed` is undefined). */
export function checkAllowedKeyTiers(spec: TenantSpec, allowed: readonly string[] | undefined): void {
  if (allowed === undefined) return;
  const result = allowedKeyTiersSchema(spec.name, allowed).safeParse(spec.apiKeys);
  if (!result.success) {
    throw new Error(`tenant ${spec.name}:\n  ${result.error.issues.map((i) => `apiKeys[${String(i.path[0])}].tier: ${i.message}`).join("\n  ")}`);
  }
}

export function tenantNamespaces(spec: Pick<TenantSpec, "name" | "namespaces">): { models: string; monitoring: string } {
  return {
    models: spec.namespaces.models ?? `${spec.name}-models`,
    monitoring: spec.namespaces.monitoring ?? `${spec.name}-monitoring`,
  };
}
