import type * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { GATEWAY_COUNTER_SUFFIXES, VLLM_FAMILIES, type GatewayCounterSuffix, type VllmFamily } from "../billing-service/src/contract";

/*
 * The contract between a platform stack and the tenant stacks that run on it (docs/contract.md,
 * "Platform outputs"), typed once. The Platform component produces these outputs, index.ts exports
 * them, and a tenant stack reads them either straight from the Platform (same stack) or through a
 * `pulumi.StackReference` (readPlatformOutputs below), where every value is checked against the
 * schema so that a platform too old or a hand-edited output fails with the output's name.
 */

/**
 * vLLM metric-name families: `vllm:*` (plain vLLM) or `kserve_vllm:*` (renamed by KServe's PodMonitor).
 * The billing service's collector reads the same family, so the list is the service contract's.
 */
export { VLLM_FAMILIES, type VllmFamily };

/** How Limitador's counters are named in the central Prometheus (`authorized_hits` or `authorized_hits_total`): the service contract's. */
export { GATEWAY_COUNTER_SUFFIXES, type GatewayCounterSuffix };

/** Label carrying the tier on Limitador series: `tier` (older MaaS) or `subscription` (current MaaS). */
export const TIER_LABELS = ["tier", "subscription"] as const;
export type TierLabel = (typeof TIER_LABELS)[number];
/** The TelemetryPolicy's default, assumed for platforms that export no `tierLabel`. */
export const DEFAULT_TIER_LABEL: TierLabel = "tier";

const nonEmpty = z.string().min(1);
/** A base URL the tenant Prometheus scrapes or Grafana calls (prometheusConfig.ts's scrapeTarget takes http and https). */
const httpUrl = z.string().regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, "expected an http(s) URL");

/** One tenant's label-enforcing federation endpoints (base URLs, no path). */
export const federationEndpointSchema = z.object({
  /** Proxy enforcing `namespace=~<tenant namespaces>` (model-server series). */
  url: httpUrl,
  /** Proxy enforcing `route_namespace=~<tenant namespaces>` (Limitador/gateway series). */
  gatewayUrl: httpUrl,
  /** Proxy enforcing `tenant=<name>` (billing-service series); platforms before it existed lack it. */
  billingUrl: httpUrl.optional(),
});
export type FederationEndpoint = z.infer<typeof federationEndpointSchema>;

/** The Gateway the platform's TelemetryPolicy targets and tenant HTTPRoutes attach to. */
export const gatewayRefSchema = z.object({ name: nonEmpty, namespace: nonEmpty });
export type GatewayRef = z.infer<typeof gatewayRefSchema>;

/** Every output of a platform stack a tenant stack reads, with what an older platform may lack. */
export const platformOutputsSchema = z.object({
  /** Namespace of the billing service and database. */
  billingNamespace: nonEmpty,
  /** In-cluster URL of the billing API. */
  billingApiUrl: httpUrl,
  /**
   * External URL of the tenant billing portal (`https://<host>/portal/`); tenant dashboards link to
   * it. Optional: absent when the platform knows no billing host, and on older platforms.
   */
  billingPortalUrl: z.url().optional(),
  /** Per-tenant label-enforcing federation endpoints, keyed by tenant name. */
  federation: z.record(z.string(), federationEndpointSchema),
  gateway: gatewayRefSchema,
  /** vLLM metric-name family used by dashboards and federation. */
  vllmMetricFamily: z.enum(VLLM_FAMILIES),
  /** Namespaces the platform created for each tenant, keyed by tenant name. */
  tenantNamespaces: z.record(z.string(), z.array(nonEmpty)),
  /** Label the platform TelemetryPolicy puts the tier in; optional for readers (older platforms). */
  tierLabel: z.enum(TIER_LABELS).optional(),
  /** Tiers each tenant's API keys may use, keyed by tenant name (absent: unrestricted); optional for readers (older platforms). */
  tenantAllowedTiers: z.record(z.string(), z.array(nonEmpty)).optional(),
  /** Suffix of Limitador's counter names (`""` or `"_total"`, `platform.telemetry.counterSuffix`); optional for readers (older platforms: `""`). */
  gatewayCounterSuffix: z.enum(GATEWAY_COUNTER_SUFFIXES).optional(),
});

/** The platform outputs as plain values, after reading (a missing `tierLabel` is DEFAULT_TIER_LABEL). */
export type PlatformOutputValues = Omit<z.infer<typeof platformOutputsSchema>, "tierLabel" | "tenantAllowedTiers" | "gatewayCounterSuffix"> & {
  tierLabel: TierLabel;
  tenantAllowedTiers: Record<string, string[]>;
  gatewayCounterSuffix: GatewayCounterSuffix;
};
export type PlatformOutputName = keyof PlatformOutputValues;

/** The platform outputs as a tenant stack takes them: each one a Pulumi input. */
export type PlatformOutputs = { readonly [K in PlatformOutputName]: pulumi.Input<PlatformOutputValues[K]> };

/** Output names in the order of docs/contract.md. */
export const PLATFORM_OUTPUT_NAMES = Object.keys(platformOutputsSchema.shape) as PlatformOutputName[];

/**
 * Checks one output value read from a platform stack. Throws an error naming the stack, the output
 * (and the field inside it) and what to do; returns the value with defaults applied.
 */
export function parsePlatformOutput<K extends PlatformOutputName>(stack: string, name: K, value: unknown): PlatformOutputValues[K] {
  const schema = platformOutputsSchema.shape[name] as z.ZodType;
  if (value === undefined && name === "tierLabel") return DEFAULT_TIER_LABEL as PlatformOutputValues[K];
  if (value === undefined && name === "tenantAllowedTiers") return {} as PlatformOutputValues[K];
  if (value === undefined && name === "gatewayCounterSuffix") return "" as PlatformOutputValues[K];
  // Optional outputs (billingPortalUrl) may be absent.
  if (value === undefined && schema.safeParse(undefined).success) return undefined as PlatformOutputValues[K];
  if (value === undefined) {
    throw new Error(
      `platform stack ${stack}: required output "${name}" does not exist; run \`pulumi up\` on the platform stack with this version of maas-billing (docs/contract.md, "Platform outputs")`,
    );
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${[name, ...i.path.map(String)].join(".")}: ${i.message}`);
    throw new Error(`platform stack ${stack}: output "${name}" is not what tenant stacks expect (docs/contract.md, "Platform outputs"): ${problems.join("; ")}`);
  }
  return result.data as PlatformOutputValues[K];
}

/** What readPlatformOutputs needs of a StackReference (a `pulumi.StackReference` has it). */
export interface PlatformStackReference {
  getOutput(name: pulumi.Input<string>): pulumi.Output<unknown>;
}

/**
 * The one reader of a platform stack: every output of the contract, each checked by
 * parsePlatformOutput when it resolves. Secret outputs stay secret (getOutput keeps that per name).
 */
export function readPlatformOutputs(ref: PlatformStackReference, stack: string): PlatformOutputs {
  const read = <K extends PlatformOutputName>(name: K) => ref.getOutput(name).apply((value) => parsePlatformOutput(stack, name, value));
  return Object.fromEntries(PLATFORM_OUTPUT_NAMES.map((name) => [name, read(name)])) as unknown as PlatformOutputs;
}

/**
 * This tenant's federation endpoints from the platform's registry. In federated mode a tenant the
 * platform does not know is a setup error on the platform side, reported with the fix.
 */
export function tenantFederation(
  all: Record<string, FederationEndpoint> | undefined,
  tenant: string,
  mode: "federated" | "direct",
): FederationEndpoint {
  const mine = all?.[tenant];
  if (mode === "federated" && (!mine?.url || !mine?.gatewayUrl)) {
    throw new Error(
      `tenant ${tenant}: the platform exports no federation endpoints for this tenant; add { name: "${tenant}" } to platform.tenants in the platform stack`,
    );
  }
  return mine ?? { url: "", gatewayUrl: "" };
}
