import * as pulumi from "@pulumi/pulumi";
import { TenantSpec, tenantNamespaces } from "../config/tenant";

/** One per-tenant federation endpoint exported by the platform stack (docs/contract.md). */
export interface TenantFederationEndpoint {
  /** Base URL of the proxy enforcing `namespace=~<tenant namespaces>` (model-server series). */
  url: string;
  /** Base URL of the proxy enforcing `route_namespace=~<tenant namespaces>` (Limitador/gateway series). */
  gatewayUrl: string;
}

/**
 * The platform stack outputs a tenant stack reads (docs/contract.md, "Platform outputs"). In a
 * tenant-only stack they come from a `pulumi.StackReference`; in an all-in-one stack (dev) straight
 * from the Platform component.
 */
export interface TenantPlatformOutputs {
  /** Namespace of the billing service and database. */
  readonly billingNamespace: pulumi.Input<string>;
  /** In-cluster URL of the billing API. */
  readonly billingApiUrl: pulumi.Input<string>;
  /** Per-tenant label-enforcing federation endpoints, keyed by tenant name. */
  readonly federation: pulumi.Input<Record<string, TenantFederationEndpoint>>;
  /** The Gateway the platform's TelemetryPolicy targets (and tenant HTTPRoutes attach to). */
  readonly gateway: pulumi.Input<{ name: string; namespace: string }>;
  /** vLLM metric-name family used by dashboards and federation. */
  readonly vllmMetricFamily: pulumi.Input<"vllm" | "kserve_vllm">;
  /** Namespaces the platform created for each tenant, keyed by tenant name. */
  readonly tenantNamespaces: pulumi.Input<Record<string, string[]>>;
}

export interface TenantStackArgs {
  /** The validated tenant config (components/config/tenant.ts); plain, since it decides which resources exist. */
  readonly spec: TenantSpec;
  /** Cluster flavor: `openshift` exposes Grafana with a Route, `kubernetes` with a Gateway API HTTPRoute. */
  readonly flavor: "openshift" | "kubernetes";
  /** Outputs of the platform stack this tenant runs on. */
  readonly platform: TenantPlatformOutputs;
}

/**
 * Everything one tenant runs in its own namespaces: a Prometheus fed only through the platform's
 * label-enforcing proxies, Grafana with the tenant dashboards, API keys and the Kuadrant policies per
 * tier. Declares no cluster-scoped object, so a tenant admin with the Role in docs/tenants.md can run it.
 */
export class TenantStack extends pulumi.ComponentResource {
  /** Namespace of the tenant's models and HTTPRoutes. */
  public readonly modelsNamespace: string;
  /** Namespace of the tenant's Prometheus and Grafana. */
  public readonly monitoringNamespace: string;

  constructor(name: string, args: TenantStackArgs, opts?: pulumi.ComponentResourceOptions) {
    // Args stay out of super(): Outputs in them crash the SDK (pulumi/pulumi#23953).
    super("maas:tenant:TenantStack", name, {}, opts);
    const ns = tenantNamespaces(args.spec);
    this.modelsNamespace = ns.models;
    this.monitoringNamespace = ns.monitoring;
    this.registerOutputs({ modelsNamespace: this.modelsNamespace, monitoringNamespace: this.monitoringNamespace });
  }
}
