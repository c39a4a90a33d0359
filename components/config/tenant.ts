import { z } from "zod";

/*
 * TenantSpec: everything one tenant stack deploys, parsed once at program start.
 * Used as `maas-billing:tenant` (one tenant, with `maas-billing:platformStack`) and as each entry of
 * `maas-billing:tenants` (several tenants in one stack, e.g. dev). Every field that has a sensible value
 * gets it here, so components never apply defaults of their own.
 */

/** RFC 1123 label: what Kubernetes accepts as a namespace or object name part. */
const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, {
    message: 'expected a lowercase DNS label (a-z, 0-9, "-"). Example: "tenant-a"',
  })
  .max(40, { message: 'expected at most 40 characters, so derived object names stay under 63. Example: "tenant-a"' });

/** Kubernetes resource quantity such as "10Gi" or "500m". */
const quantity = z
  .string()
  .regex(/^([+]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/, {
    message: 'expected a Kubernetes quantity. Example: "10Gi" or "500m"',
  });

/** Prometheus duration as used by --storage.tsdb.retention.time, e.g. "15d". */
const promDuration = z
  .string()
  .regex(/^([0-9]+(ms|s|m|h|d|w|y))+$/, { message: 'expected a Prometheus duration. Example: "15d"' });

/** Kuadrant rate window: the CRD pattern ^([0-9]{1,5}(h|m|s|ms)){1,4}$. */
const rateWindow = z
  .string()
  .regex(/^([0-9]{1,5}(h|m|s|ms)){1,4}$/, { message: 'expected a Kuadrant window. Example: "1m" or "2h30m"' });

/**
 * Image reference pinned by digest or by an exact tag; `:latest` and untagged references are refused
 * because they make renders and rollbacks non-reproducible.
 */
const pinnedImage = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._\-/:]*(@sha256:[a-f0-9]{64}|:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})$/, {
    message: 'expected an image pinned by digest or exact tag. Example: "quay.io/prometheus/prometheus:v3.5.0"',
  })
  .refine((s) => !/:latest$/.test(s), { message: 'the tag "latest" is not pinned. Example: "quay.io/prometheus/prometheus:v3.5.0"' });

const resources = z
  .object({
    requests: z.object({ cpu: quantity, memory: quantity }).strict(),
    limits: z.object({ cpu: quantity, memory: quantity }).strict(),
  })
  .strict();

const rate = z
  .object({
    /** Maximum count (tokens or requests) per window. */
    limit: z.number().int().positive(),
    window: rateWindow,
  })
  .strict();

/** One tier (or subscription): the group an API key belongs to and the limits that apply to it. */
export const tierSchema = z
  .object({
    name: dnsLabel,
    /** Token limits (TokenRateLimitPolicy), counted per user. Empty: no token limit for this tier. */
    tokenRates: z.array(rate).default([]),
    /** Request limits (RateLimitPolicy), counted per user. Empty: no request limit for this tier. */
    requestRates: z.array(rate).default([]),
  })
  .strict();

/** One API key. The key value is generated; only its metadata lives in config. */
export const apiKeySchema = z
  .object({
    /** Stable name of the key; part of the Secret name. */
    name: dnsLabel,
    /** User id Authorino exposes as auth.identity.userid (annotation kuadrant.io/user-id). */
    userId: z.string().min(1).regex(/^[A-Za-z0-9@._-]+$/, {
      message: 'expected a user id of letters, digits, "@", ".", "_" or "-". Example: "alice"',
    }),
    /** Tier or subscription this key is billed and limited as; must be one of `tiers[].name`. */
    tier: dnsLabel,
    /** Extra groups beyond the tier (added to kuadrant.io/groups after the tier). */
    groups: z.array(dnsLabel).default([]),
    /** Bump to replace this key's value (and only this key's). */
    rotation: z.number().int().nonnegative().default(0),
  })
  .strict();

/** An HTTPRoute of the tenant that the Kuadrant policies target. */
export const routeRefSchema = z
  .object({
    name: dnsLabel,
    /** Namespace of the route; defaults to the tenant's models namespace. */
    namespace: dnsLabel.optional(),
  })
  .strict();

export const tenantSpecSchema = z
  .object({
    /** Tenant name, as registered in the platform's `platform.tenants[].name`. */
    name: dnsLabel,
    /**
     * Existing namespaces created by the platform stack. `models` holds the model servers and HTTPRoutes;
     * `monitoring` holds this tenant's Prometheus and Grafana. Defaults: `<name>-models`, `<name>-monitoring`.
     */
    namespaces: z
      .object({ models: dnsLabel.optional(), monitoring: dnsLabel.optional() })
      .strict()
      .prefault({}),
    prometheus: z
      .object({
        /**
         * `federated` (default, isolated): scrape only the platform-owned label-enforcing proxies.
         * `direct`: scrape the central federation endpoint itself with a token that sees every
         * tenant; only for single-tenant clusters, NOT isolated.
         */
        mode: z.enum(["federated", "direct"]).default("federated"),
        /** Central federation URL, used only in `direct` mode. */
        directUrl: z.string().url().optional(),
        image: pinnedImage.default("quay.io/prometheus/prometheus:v3.5.0"),
        retention: promDuration.default("15d"),
        storageSize: quantity.default("10Gi"),
        /** StorageClass for the data volume; cluster default when omitted. */
        storageClass: z.string().min(1).optional(),
        scrapeInterval: promDuration.default("30s"),
        resources: resources.default({
          requests: { cpu: "100m", memory: "512Mi" },
          limits: { cpu: "1", memory: "2Gi" },
        }),
      })
      .strict()
      .prefault({})
      .refine((p) => p.mode !== "direct" || p.directUrl !== undefined, {
        message: 'direct mode needs directUrl. Example: "https://prometheus-user-workload.openshift-user-workload-monitoring.svc:9092"',
        path: ["directUrl"],
      }),
    grafana: z
      .object({
        image: pinnedImage.default("docker.io/grafana/grafana:12.1.1"),
        /** Expose Grafana outside the cluster (Route on openshift, HTTPRoute on kubernetes). */
        expose: z
          .object({
            enabled: z.boolean().default(false),
            /** Host name; required when exposed on kubernetes, optional on openshift (router assigns one). */
            host: z.string().min(1).optional(),
          })
          .strict()
          .prefault({}),
        resources: resources.default({
          requests: { cpu: "50m", memory: "128Mi" },
          limits: { cpu: "500m", memory: "512Mi" },
        }),
      })
      .strict()
      .prefault({}),
    /** HTTPRoutes the AuthPolicy, TokenRateLimitPolicy and RateLimitPolicy target. */
    routes: z.array(routeRefSchema).default([]),
    tiers: z.array(tierSchema).default([
      { name: "free", tokenRates: [{ limit: 100, window: "1m" }], requestRates: [{ limit: 5, window: "2m" }] },
      { name: "premium", tokenRates: [{ limit: 50000, window: "1m" }], requestRates: [{ limit: 20, window: "2m" }] },
      { name: "enterprise", tokenRates: [{ limit: 100000, window: "1m" }], requestRates: [{ limit: 50, window: "2m" }] },
    ]),
    apiKeys: z.array(apiKeySchema).default([]),
  })
  .strict()
  .superRefine((t, ctx) => {
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
    const dup = <T>(items: T[], key: (x: T) => string, path: string) => {
      const seen = new Set<string>();
      items.forEach((x, i) => {
        const k = key(x);
        if (seen.has(k)) ctx.addIssue({ code: "custom", path: [path, i], message: `duplicate ${path} entry "${k}"` });
        seen.add(k);
      });
    };
    dup(t.apiKeys, (k) => k.name, "apiKeys");
    dup(t.tiers, (x) => x.name, "tiers");
    dup(t.routes, (r) => r.name, "routes");
  });

export type TenantSpec = z.infer<typeof tenantSpecSchema>;
export type TenantTier = z.infer<typeof tierSchema>;
export type TenantApiKey = z.infer<typeof apiKeySchema>;

/** Namespaces with defaults applied in one place. */
export function tenantNamespaces(spec: TenantSpec): { models: string; monitoring: string } {
  return {
    models: spec.namespaces.models ?? `${spec.name}-models`,
    monitoring: spec.namespaces.monitoring ?? `${spec.name}-monitoring`,
  };
}
