import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { PLATFORM_PROMETHEUS_DS_UID, platformDashboards } from "../../dashboards";
import type { Flavor } from "../config";
import type { PlatformConfig } from "../config/platform";
import { createGrafana, type Grafana } from "../shared/grafana";
import { appLabels } from "./security";

/** Name of the platform Grafana objects (Deployment, Service, ServiceAccount, `-admin` Secret). */
export const platformGrafanaName = "maas-grafana";

/** Env vars the datasource file reads on openshift (Grafana expands `$VAR` in provisioning files). */
const TOKEN_ENV = "MAAS_PROMETHEUS_TOKEN";
const CA_ENV = "MAAS_PROMETHEUS_CA";

export interface PlatformGrafanaArgs {
  /** Cluster flavor: openshift reads Thanos with a service account token, kubernetes the platform Prometheus directly. */
  readonly flavor: Flavor;
  /** Namespace to run in (the platform monitoring namespace). */
  readonly namespace: pulumi.Input<string>;
  /** Plain name of that namespace (ClusterRoleBinding subject). */
  readonly namespaceName: string;
  /** The validated `platform.grafana` config. */
  readonly grafana: PlatformConfig["grafana"];
  /** Central query URL holding the billing service's series (what the collector reads too). */
  readonly prometheusUrl: string;
  /** Gateway the HTTPRoute attaches to (kubernetes, when exposed). */
  readonly gateway: { name: string; namespace: string };
}

/**
 * Datasource file of the platform Grafana: the central Prometheus under PLATFORM_PROMETHEUS_DS_UID
 * (the uid dashboards/billing.ts uses). With `auth`, a bearer token and CA from env vars, which the
 * pod fills from its service account token Secret (OpenShift's Thanos querier sits behind
 * kube-rbac-proxy with a service-CA certificate).
 */
export function renderPlatformDatasources(prometheusUrl: string, auth: boolean): string {
  return stringify({
    apiVersion: 1,
    datasources: [
      {
        name: "Prometheus (platform)",
        uid: PLATFORM_PROMETHEUS_DS_UID,
        type: "prometheus",
        access: "proxy",
        url: prometheusUrl,
        isDefault: true,
        editable: false,
        jsonData: { timeInterval: "30s", ...(auth ? { httpHeaderName1: "Authorization", tlsAuthWithCACert: true } : {}) },
        ...(auth ? { secureJsonData: { httpHeaderValue1: `Bearer $${TOKEN_ENV}`, tlsCACert: `$${CA_ENV}` } } : {}),
      },
    ],
  });
}

/**
 * Grafana for the platform team with the billing dashboard (all tenants), from the shared
 * components/shared/grafana.ts. On openshift it runs as ServiceAccount `maas-grafana`, bound to
 * `cluster-monitoring-view`, whose token Secret authenticates the datasource to Thanos.
 */
export function createPlatformGrafana(name: string, args: PlatformGrafanaArgs, parent: pulumi.Resource): Grafana {
  const labels = appLabels(platformGrafanaName, "grafana");
  const auth = args.flavor === "openshift";
  let serviceAccountName: pulumi.Output<string> | undefined;
  const extraEnv: k8s.types.input.core.v1.EnvVar[] = [];
  if (auth) {
    const serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-grafana-sa`,
      { metadata: { name: platformGrafanaName, namespace: args.namespace, labels } },
      { parent },
    );
    new k8s.rbac.v1.ClusterRoleBinding(
      `${name}-grafana-monitoring-view`,
      {
        metadata: { name: `${platformGrafanaName}-monitoring-view`, labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-monitoring-view" },
        subjects: [{ kind: "ServiceAccount", name: serviceAccount.metadata.name, namespace: args.namespaceName }],
      },
      { parent },
    );
    // Filled by the token controller (token, ca.crt, and on OpenShift service-ca.crt); never in the program.
    const tokenSecret = new k8s.core.v1.Secret(
      `${name}-grafana-token`,
      {
        metadata: {
          name: `${platformGrafanaName}-token`,
          namespace: args.namespace,
          labels,
          annotations: { "kubernetes.io/service-account.name": platformGrafanaName },
        },
        type: "kubernetes.io/service-account-token",
      },
      { parent, dependsOn: [serviceAccount] },
    );
    serviceAccountName = serviceAccount.metadata.name;
    extraEnv.push(
      { name: TOKEN_ENV, valueFrom: { secretKeyRef: { name: tokenSecret.metadata.name, key: "token" } } },
      { name: CA_ENV, valueFrom: { secretKeyRef: { name: tokenSecret.metadata.name, key: "service-ca.crt" } } },
    );
  }
  const dashboards = Object.fromEntries(
    Object.entries(platformDashboards({ datasourceUid: PLATFORM_PROMETHEUS_DS_UID })).map(([file, json]) => [file, JSON.stringify(json, null, 2)]),
  );
  return createGrafana(
    name,
    {
      flavor: args.flavor,
      namespace: args.namespace,
      objectName: platformGrafanaName,
      labels,
      settings: args.grafana,
      datasourcesYaml: renderPlatformDatasources(args.prometheusUrl, auth),
      dashboards,
      dashboardFolder: "MaaS platform",
      gateway: args.gateway,
      serviceAccountName,
      extraEnv,
    },
    parent,
  );
}
