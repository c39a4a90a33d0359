import type * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { TENANT_PROMETHEUS_DS_UID } from "../../dashboards";
import type { Flavor } from "../config";
import type { TenantSpec } from "../config/tenant";
import type { GatewayRef } from "../contract";
import { createGrafana, type Grafana } from "../shared/grafana";

/** Fixed datasource uid the tenant dashboards refer to. */
export const TENANT_PROMETHEUS_DATASOURCE_UID = TENANT_PROMETHEUS_DS_UID;

export interface TenantGrafanaArgs {
  /** Validated tenant config. */
  readonly spec: TenantSpec;
  /** Cluster flavor: Route on openshift, HTTPRoute on kubernetes. */
  readonly flavor: Flavor;
  /** Namespace Grafana runs in (the tenant's monitoring namespace). */
  readonly namespace: string;
  /** In-cluster URL of the tenant Prometheus. */
  readonly prometheusUrl: string;
  /** Dashboards to provision: file name -> dashboard JSON text. */
  readonly dashboards: pulumi.Input<Record<string, string>>;
  /** Gateway the HTTPRoute attaches to (kubernetes flavor, when exposed). */
  readonly gateway: pulumi.Input<GatewayRef>;
  /** Labels put on the Grafana pods (the Prometheus NetworkPolicy admits exactly these). */
  readonly podLabels: Record<string, string>;
}

export type TenantGrafana = Grafana;

/** Grafana datasource provisioning file: the tenant Prometheus under its fixed uid. */
export function renderDatasources(tenant: string, prometheusUrl: string, scrapeInterval: string): string {
  return stringify({
    apiVersion: 1,
    datasources: [
      {
        name: `Prometheus (${tenant})`,
        uid: TENANT_PROMETHEUS_DATASOURCE_UID,
        type: "prometheus",
        access: "proxy",
        url: prometheusUrl,
        isDefault: true,
        editable: false,
        jsonData: { timeInterval: scrapeInterval },
      },
    ],
  });
}

/**
 * Creates Grafana for one tenant (components/shared/grafana.ts) in its monitoring namespace: the tenant
 * Prometheus as the only datasource, the tenant dashboards, no service account token.
 */
export function createTenantGrafana(name: string, args: TenantGrafanaArgs, parent: pulumi.Resource): TenantGrafana {
  const { spec } = args;
  return createGrafana(
    name,
    {
      flavor: args.flavor,
      namespace: args.namespace,
      objectName: `${spec.name}-grafana`,
      labels: {
        "app.kubernetes.io/name": "grafana",
        "app.kubernetes.io/instance": spec.name,
        "app.kubernetes.io/part-of": "maas-billing",
        "maas-billing.io/tenant": spec.name,
      },
      podLabels: args.podLabels,
      settings: spec.grafana,
      datasourcesYaml: renderDatasources(spec.name, args.prometheusUrl, spec.prometheus.scrapeInterval),
      dashboards: args.dashboards,
      dashboardFolder: "MaaS",
      gateway: args.gateway,
    },
    parent,
  );
}
