import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { patternString, pinnedImage, type GrafanaSettings } from "./common";
import { defaultsWithoutDigest } from "./images";
import { platformSchema, type PlatformConfig } from "./platform";
import { tenantSpecSchema, type TenantSpec } from "./tenant";

/** Pulumi config namespace of every key this program reads (the project name). */
export const CONFIG_NAMESPACE = "maas-billing";

export const flavorSchema = z
  .enum(["openshift", "kubernetes"], {
    error: (iss) => `expected one of "openshift" | "kubernetes", got ${iss.input === undefined ? "nothing" : JSON.stringify(iss.input)}`,
  })
  .meta({ examples: ["openshift"] });
export type Flavor = z.infer<typeof flavorSchema>;

/**
 * Every image reference of a parsed config (defaults applied), by config path: the values of keys
 * named `image` or ending in `Image`, wherever they sit.
 */
export function imageReferences(value: unknown, path: PropertyKey[] = []): Array<{ path: PropertyKey[]; ref: string }> {
  if (Array.isArray(value)) return value.flatMap((v, i) => imageReferences(v, [...path, i]));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) =>
    typeof v === "string" && (k === "image" || k.endsWith("Image")) ? [{ path: [...path, k], ref: v }] : imageReferences(v, [...path, k]),
  );
}

/**
 * The whole stack config. What a stack deploys follows from which keys are present
 * (docs/contract.md): `platform` -> Platform; `tenants` -> one TenantStack each next to the
 * platform; `tenant` + `platformStack` -> one TenantStack reading the platform through a StackReference.
 */
export const stackConfigSchema = z
  .strictObject({
    flavor: flavorSchema.describe("Which cluster APIs are used: OpenShift (UWM, Routes) or plain Kubernetes (prometheus-operator, Gateway API)."),
    platform: platformSchema.optional().describe("Platform layer (cluster admin, once per environment)."),
    tenants: z.array(tenantSpecSchema).optional().describe("Tenants deployed in the same stack as the platform (development, small installs)."),
    tenant: tenantSpecSchema.optional().describe("The single tenant of a tenant-only stack; needs `platformStack`."),
    platformStack: patternString(/^[^/\s]+\/[^/\s]+\/[^/\s]+$/, "a fully qualified stack name org/project/stack", "acme/maas-billing/platform-prod").optional().describe("Fully qualified name of the platform stack a tenant stack reads its outputs from."),
    imagePinning: z
      .enum(["digest", "tag"])
      .default("digest")
      .describe(
        'How every image of the stack must be pinned. `digest` (the default): each image reference, defaults included, must end in `@sha256:<64 hex>` (a tag can be moved to other content by whoever controls the registry; a digest cannot); preview names every key that is not, unless the key is listed in `allowImageTags`. The shipped defaults are digests where a public source for the digest could be cited (docs/images.md); the others (prom-label-proxy, nginx) are tags and must be given a digest or allowed. `tag`: an exact tag other than `latest` is enough for every third-party image (the billing image always needs a digest).',
      ),
    allowImageTags: z
      .array(z.string().min(1).meta({ examples: ["platform.federation.proxyImage"] }))
      .default([])
      .describe(
        "Image keys, as config paths without the `maas-billing:` prefix (`platform.federation.proxyImage`, `tenants[0].prometheus.image`), that may stay pinned by tag although `imagePinning` is `digest`: the explicit per-image opt-in. Each entry must name an image key of this config.",
      ),
  })
  .superRefine((c, ctx) => {
    // An exposed Grafana on kubernetes is an HTTPRoute, which needs a host name (flavor and Grafana settings together).
    const requireGrafanaHost = (grafana: GrafanaSettings, path: PropertyKey[], example: string) => {
      if (c.flavor === "kubernetes" && grafana.expose.enabled && !grafana.expose.host) {
        ctx.addIssue({
          code: "custom",
          path: [...path, "grafana", "expose", "host"],
          message: `required when grafana.expose.enabled is true on flavor kubernetes (an HTTPRoute needs a host name). Example: "${example}"`,
        });
      }
    };
    if (c.platform?.grafana.enabled) requireGrafanaHost(c.platform.grafana, ["platform"], "grafana.platform.example.com");
    c.tenants?.forEach((t, i) => requireGrafanaHost(t.grafana, ["tenants", i], `grafana.${t.name}.example.com`));
    if (c.tenant !== undefined) requireGrafanaHost(c.tenant.grafana, ["tenant"], `grafana.${c.tenant.name}.example.com`);

    const images = imageReferences({ platform: c.platform, tenants: c.tenants, tenant: c.tenant });
    const imageKeys = new Set(images.map(({ path }) => configPath(path)));
    c.allowImageTags.forEach((key, i) => {
      if (!imageKeys.has(key)) {
        ctx.addIssue({ code: "custom", path: ["allowImageTags", i], message: `"${key}" is not an image key of this config. Image keys: ${[...imageKeys].join(", ")}` });
      }
    });
    if (c.imagePinning === "digest") {
      for (const { path, ref } of images) {
        // A reference the key's own pattern refused (`:latest`, untagged) is reported once, there.
        if (/@sha256:[a-f0-9]{64}$/.test(ref) || !pinnedImage.safeParse(ref).success || c.allowImageTags.includes(configPath(path))) continue;
        const repo = ref.replace(/:[^:/@]+$/, "");
        const why = defaultsWithoutDigest.has(ref) ? " (a default with no digest this project could cite, docs/images.md)" : "";
        ctx.addIssue({
          code: "custom",
          path,
          message: `"${ref}" is pinned by tag${why} and imagePinning is "digest": set this key to the image by digest (skopeo inspect docker://${ref} --format "{{.Digest}}" gives it; e.g. "${repo}@sha256:<digest>"), or allow this tag with allowImageTags: ["${configPath(path)}"], or set imagePinning: tag`,
        });
      }
    }
    if (c.platform === undefined && c.tenants === undefined && c.tenant === undefined) {
      ctx.addIssue({ code: "custom", path: ["platform"], message: "a stack needs at least one of platform, tenants or tenant. Example: platform: { billing: { image: ... } }" });
    }
    if (c.tenant !== undefined && c.platformStack === undefined) {
      ctx.addIssue({ code: "custom", path: ["platformStack"], message: 'required key is missing: a tenant stack reads the platform outputs from this stack. Example: "acme/maas-billing/platform-prod"' });
    }
    if (c.platformStack !== undefined && c.tenant === undefined) {
      ctx.addIssue({ code: "custom", path: ["platformStack"], message: "platformStack is only used together with tenant" });
    }
    if (c.platform !== undefined && c.flavor === "kubernetes" && c.platform.gatewayMetrics.source !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["platform", "gatewayMetrics", "source"],
        message: `only for flavor "openshift" (which monitoring stack scrapes Limitador); on kubernetes the platform Prometheus scrapes it. Remove the key, or set platform.gatewayMetrics.federateUrl for a Prometheus of your own`,
      });
    }
    if (c.platform !== undefined && c.flavor === "kubernetes" && c.platform.billing.host !== undefined && c.platform.billing.gateway.gatewayClassName === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["platform", "billing", "gateway", "gatewayClassName"],
        message: `required on flavor kubernetes when platform.billing.host is set: the billing API gets a Gateway of its own and needs its GatewayClass, usually that of platform.gateway (kubectl get gateway ${c.platform.gateway.name} -n ${c.platform.gateway.namespace} -o jsonpath='{.spec.gatewayClassName}'). Example: "istio"`,
      });
    }
    if (c.platform !== undefined && c.flavor === "openshift" && c.platform.billing.gateway.gatewayClassName !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["platform", "billing", "gateway", "gatewayClassName"],
        message: `only for flavor "kubernetes": on openshift the billing API is exposed by Routes, not a Gateway. Remove the key`,
      });
    }
    if (c.platform !== undefined) platformGrafanaGatewayIssues(c.flavor, c.platform, ctx);
    if (c.tenants !== undefined) {
      if (c.platform === undefined) {
        ctx.addIssue({ code: "custom", path: ["tenants"], message: "tenants in the same stack need platform in that stack (or use tenant + platformStack)" });
      } else {
        const registered = new Set(c.platform.tenants.map((t) => t.name));
        c.tenants.forEach((t, i) => {
          if (!registered.has(t.name)) {
            ctx.addIssue({
              code: "custom",
              path: ["tenants", i, "name"],
              message: `tenant "${t.name}" is not registered in platform.tenants, so it has no namespaces or federation proxies. Example: platform.tenants: [{ name: "${t.name}" }]`,
            });
          }
        });
      }
    }
  });

/**
 * The exposed platform Grafana's own Gateway (review R12; components/platform/grafana.ts): on
 * kubernetes it needs a GatewayClass (its own or the billing Gateway's), and its name may be neither
 * the shared Gateway's (it would replace it) nor the billing Gateway's.
 */
function platformGrafanaGatewayIssues(flavor: Flavor, p: PlatformConfig, ctx: z.RefinementCtx): void {
  const g = p.grafana.gateway;
  const path = ["platform", "grafana", "gateway"];
  if (flavor === "openshift") {
    if (g.gatewayClassName !== undefined) {
      ctx.addIssue({ code: "custom", path: [...path, "gatewayClassName"], message: `only for flavor "kubernetes": on openshift Grafana is exposed by a Route, not a Gateway. Remove the key` });
    }
    return;
  }
  // Without a host the host check above reports the exposed Grafana; no Gateway is rendered then.
  if (!p.grafana.enabled || !p.grafana.expose.enabled || p.grafana.expose.host === undefined) return;
  if (g.gatewayClassName === undefined && p.billing.gateway.gatewayClassName === undefined) {
    ctx.addIssue({
      code: "custom",
      path: [...path, "gatewayClassName"],
      message: `required on flavor kubernetes when platform.grafana.expose.enabled is true (or set platform.billing.gateway.gatewayClassName, its default): the exposed Grafana gets a Gateway of its own, since the platform's AuthPolicy on platform.gateway refuses requests without an API key. Usually the class of platform.gateway (kubectl get gateway ${p.gateway.name} -n ${p.gateway.namespace} -o jsonpath='{.spec.gatewayClassName}'). Example: "istio"`,
    });
  }
  const taken: Array<[string, string]> = [
    [p.gateway.name, "platform.gateway.name"],
    ...(p.billing.host !== undefined ? [[p.billing.gateway.name, "platform.billing.gateway.name"] as [string, string]] : []),
  ];
  for (const [name, key] of taken) {
    if (g.name === name) {
      ctx.addIssue({
        code: "custom",
        path: [...path, "name"],
        message: `"${name}" is ${key}: the platform Grafana's own Gateway is created next to it in "${p.gateway.namespace}" and would replace it. Give it a name of its own (default "maas-grafana")`,
      });
    }
  }
}

export interface StackConfig {
  flavor: Flavor;
  imagePinning: "digest" | "tag";
  allowImageTags: string[];
  platform?: PlatformConfig;
  tenants?: TenantSpec[];
  tenant?: TenantSpec;
  platformStack?: string;
}

/** A config that failed validation; `issues` holds one readable line per problem. */
export class ConfigError extends Error {
  constructor(public readonly issues: string[]) {
    super(`invalid stack config:\n${issues.map((l) => `  ${l}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** `maas-billing:platform.tenants[0].name` from a zod path. */
export function configKey(path: readonly PropertyKey[]): string {
  return CONFIG_NAMESPACE + ":" + configPath(path);
}

/** `platform.tenants[0].name` from a zod path (configKey without the namespace; `allowImageTags` entries). */
export function configPath(path: readonly PropertyKey[]): string {
  let key = "";
  path.forEach((p, i) => {
    if (typeof p === "number") key += `[${p}]`;
    else key += (i === 0 ? "" : ".") + String(p);
  });
  return key;
}

type AnySchema = z.core.$ZodType;
type LooseDef = Record<string, unknown> & { type: string };
/** The definition of a schema, read loosely: the walk below only needs a few wrapper fields. */
const defOf = (schema: AnySchema): LooseDef => (schema._zod.def as unknown) as LooseDef;

/** The sub-schema at a config path, looking through optional/default/pipe wrappers. */
function schemaAt(schema: AnySchema, path: readonly PropertyKey[]): AnySchema | undefined {
  let current: AnySchema | undefined = schema;
  for (const segment of [...path, null]) {
    // Unwrap wrappers first, so both the walk and the final lookup see the real schema.
    for (let guard = 0; current !== undefined && guard < 10; guard++) {
      const def: LooseDef = defOf(current);
      if (["optional", "default", "prefault", "nullable", "readonly", "catch"].includes(def.type)) current = def.innerType as AnySchema;
      else if (def.type === "pipe") current = def.in as AnySchema;
      else break;
    }
    if (segment === null || current === undefined) break;
    const def: LooseDef = defOf(current);
    if (def.type === "object") current = (def.shape as Record<string, AnySchema>)[String(segment)];
    else if (def.type === "array") current = def.element as AnySchema;
    else if (def.type === "record") current = def.valueType as AnySchema;
    else return undefined;
  }
  return current;
}

/** An example value for a key, from the schema's `examples` metadata or its enum options. */
function exampleFor(path: readonly PropertyKey[]): string | undefined {
  const sub = schemaAt(stackConfigSchema, path);
  if (sub === undefined) return undefined;
  const meta = z.globalRegistry.get(sub as z.ZodType) as { examples?: unknown[] } | undefined;
  if (meta?.examples?.length) return JSON.stringify(meta.examples[0]);
  const def = (sub as { _zod: { def: { type: string; entries?: Record<string, unknown> } } })._zod.def;
  if (def.type === "enum" && def.entries) return JSON.stringify(Object.values(def.entries)[0]);
  return undefined;
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  const input = (issue as { input?: unknown }).input;
  if (issue.code === "unrecognized_keys") {
    const parent = schemaAt(stackConfigSchema, issue.path);
    const shape = parent && (parent as { _zod: { def: { shape?: Record<string, unknown> } } })._zod.def.shape;
    const known = shape ? ` Known keys here: ${Object.keys(shape).join(", ")}` : "";
    return issue.keys.map((k) => `${configKey([...issue.path, k])}: unknown key (a typo?).${known}`);
  }
  const key = configKey(issue.path);
  const example = exampleFor(issue.path);
  if (input === undefined && (issue.code === "invalid_type" || issue.code === "invalid_value")) {
    return [`${key}: required key is missing.${example ? ` Example: ${example}` : ""}`];
  }
  let message = issue.message;
  if (!/, got /.test(message) && input !== undefined && issue.code !== "custom") {
    message += `, got ${JSON.stringify(input)}`;
  }
  if (!/Example:/.test(message) && example && issue.code !== "custom") message += `. Example: ${example}`;
  return [`${key}: ${message}`];
}

/**
 * Parses the raw stack config (keys without the `maas-billing:` prefix, values YAML-decoded).
 * Throws ConfigError naming every wrong key before any resource is declared.
 */
export function parseStackConfig(raw: Record<string, unknown>): StackConfig {
  const result = stackConfigSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new ConfigError(result.error.issues.flatMap(describeIssue));
  return result.data as StackConfig;
}

/** Every `maas-billing:` key of the running stack, values decoded from JSON where they are structured. */
export function readRawConfig(): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [fullKey, value] of Object.entries(pulumi.runtime.allConfig())) {
    if (!fullKey.startsWith(`${CONFIG_NAMESPACE}:`)) continue;
    const key = fullKey.slice(CONFIG_NAMESPACE.length + 1);
    // Pulumi hands structured values over as JSON text; plain strings stay strings.
    try {
      raw[key] = JSON.parse(value);
    } catch {
      raw[key] = value;
    }
  }
  return raw;
}

/** Reads and validates the running stack's config. */
export function loadStackConfig(): StackConfig {
  return parseStackConfig(readRawConfig());
}
