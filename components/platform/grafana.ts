import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { PLATFORM_PROMETHEUS_DS_UID, platformDashboards } from "../../dashboards";
import type { Flavor } from "../config";
import type { PlatformConfig } from "../config/platform";
import { contentChecksum } from "../shared/checksum";
import { createGrafana, type Grafana, type GrafanaArgs } from "../shared/grafana";
import { containerSecurityContext } from "../shared/podSecurity";
import { upstreamAuthConfigDir, upstreamAuthListen, upstreamAuthNginxConf, upstreamAuthScript } from "./upstreamAuth";
import { appGatewaySpec, appListener } from "./billingGateway";
import { appLabels } from "./security";

/** Name of the Grafana Gateway's one listener (the Grafana HTTPRoute's `sectionName`). */
export const GRAFANA_LISTENER_NAME = "maas-grafana";
/** Labels of the Grafana Gateway (not Grafana's: Gateway controllers copy a Gateway's labels to the pods they run for it). */
export const grafanaGatewayLabels = appLabels("maas-grafana-gateway", "gateway");

/** The Grafana Gateway (pure): hostname = the Grafana host, HTTPRoutes from the monitoring namespace only. */
export function grafanaGatewaySpec(gatewayNamespace: string, host: string, monitoringNamespace: string, s: PlatformConfig["grafana"]["gateway"], gatewayClassName: string) {
  return appGatewaySpec(gatewayNamespace, appListener(GRAFANA_LISTENER_NAME, host, monitoringNamespace, s), { name: s.name, gatewayClassName }, grafanaGatewayLabels);
}

function createGrafanaGateway(
  name: string,
  gatewayNamespace: string,
  host: string,
  monitoringNamespace: string,
  s: PlatformConfig["grafana"]["gateway"],
  gatewayClassName: string | undefined,
  parent: pulumi.Resource,
): { name: string; namespace: string } {
  // The config schema requires a class on kubernetes when Grafana is exposed (components/config/index.ts).
  if (gatewayClassName === undefined) throw new Error("platform.grafana.gateway.gatewayClassName (or platform.billing.gateway.gatewayClassName) is required on kubernetes when platform.grafana.expose.enabled is true");
  new k8s.apiextensions.CustomResource(`${name}-grafana-gateway`, grafanaGatewaySpec(gatewayNamespace, host, monitoringNamespace, s, gatewayClassName), { parent });
  return { name: s.name, namespace: gatewayNamespace };
}

/** Name of the platform Grafana objects (Deployment, Service, ServiceAccount, `-admin` Secret). */
export const platformGrafanaName = "maas-grafana";

/** Where the sidecar's projected token (and the service CA next to it) are mounted; Grafana mounts neither. */
export const grafanaUpstreamTokenDir = "/var/run/secrets/maas-upstream";
/**
 * Lifetime asked of the kubelet for the sidecar's token: it refreshes the file at 80% of it. An
 * explicit projected token is never extended (unlike the default service account volume's 3607 s,
 * which the API server may extend to a year for legacy clients).
 */
export const grafanaTokenExpirationSeconds = 3600;

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
  /**
   * The shared Gateway (`platform.gateway`): the Grafana Gateway is created in its namespace
   * (kubernetes, when exposed). Grafana's HTTPRoute never attaches to it: the platform's Gateway
   * AuthPolicy there refuses every request without an API key (review R12).
   */
  readonly gateway: { name: string; namespace: string };
  /** GatewayClass of the Grafana Gateway: `platform.grafana.gateway.gatewayClassName`, else the billing Gateway's (the config schema requires one on kubernetes when exposed). */
  readonly gatewayClassName?: string;
  /** Image and resources of the upstream-auth sidecar (`platform.federation.authProxyImage`/`authProxyResources`). */
  readonly sidecar: { image: string; resources: PlatformConfig["federation"]["authProxyResources"] };
}

/**
 * Datasource file of the platform Grafana: the central Prometheus under PLATFORM_PROMETHEUS_DS_UID
 * (the uid dashboards/billing.ts uses), at `url`: the Prometheus itself on kubernetes, the upstream-auth
 * sidecar on loopback on openshift (which adds the token). No credential is in the file.
 */
export function renderPlatformDatasources(url: string): string {
  return stringify({
    apiVersion: 1,
    datasources: [
      {
        name: "Prometheus (platform)",
        uid: PLATFORM_PROMETHEUS_DS_UID,
        type: "prometheus",
        access: "proxy",
        url,
        isDefault: true,
        editable: false,
        jsonData: { timeInterval: "30s" },
      },
    ],
  });
}

/** The sidecar's nginx config and njs script for the platform Grafana: the read API of `upstreamUrl`, with the projected token. */
export function grafanaUpstreamAuthFiles(upstreamUrl: string): Record<string, string> {
  return {
    "nginx.conf": upstreamAuthNginxConf({
      servers: [{ port: upstreamAuthListen.port, upstreamUrl, caFile: `${grafanaUpstreamTokenDir}/service-ca.crt`, paths: "query" }],
    }),
    "upstream-token.js": upstreamAuthScript(`${grafanaUpstreamTokenDir}/token`),
  };
}

/**
 * Grafana for the platform team with the billing dashboard (all tenants), from the shared
 * components/shared/grafana.ts. On openshift it runs as ServiceAccount `maas-grafana`, bound to
 * `cluster-monitoring-view`, and reads Thanos through the upstream-auth sidecar (upstreamAuth.ts,
 * `query` mode): Grafana reads a datasource credential only when it provisions (Grafana docs,
 * "Provision Grafana": values are substituted from the environment into the provisioning files), so a
 * rotating token cannot be handed to it; the sidecar reads the pod's projected, expiring token
 * (expirationSeconds 3600, refreshed by the kubelet) on every request. No token Secret exists, and the
 * Grafana container mounts no token at all.
 */
export function createPlatformGrafana(name: string, args: PlatformGrafanaArgs, parent: pulumi.Resource): Grafana {
  const labels = appLabels(platformGrafanaName, "grafana");
  const auth = args.flavor === "openshift";
  let serviceAccountName: pulumi.Output<string> | undefined;
  let sidecar: Pick<GrafanaArgs, "sidecars" | "sidecarVolumes" | "podAnnotations"> = {};
  if (auth) {
    const serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-grafana-sa`,
      { metadata: { name: platformGrafanaName, namespace: args.namespace, labels }, automountServiceAccountToken: false },
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
    serviceAccountName = serviceAccount.metadata.name;
    const files = grafanaUpstreamAuthFiles(args.prometheusUrl);
    const configMap = new k8s.core.v1.ConfigMap(
      `${name}-grafana-upstream-auth`,
      { metadata: { name: `${platformGrafanaName}-upstream-auth`, namespace: args.namespace, labels }, data: files },
      { parent },
    );
    sidecar = {
      podAnnotations: { "maas.opendatahub.io/upstream-auth-config": contentChecksum(JSON.stringify(files)) },
      sidecars: [
        {
          name: "upstream-auth",
          image: args.sidecar.image,
          // Not the image entrypoint: its scripts rewrite files under /etc/nginx, which is read-only here.
          command: ["nginx", "-c", `${upstreamAuthConfigDir}/nginx.conf`, "-e", "/dev/stderr", "-g", "daemon off;"],
          resources: args.sidecar.resources,
          securityContext: containerSecurityContext(),
          volumeMounts: [
            { name: "upstream-auth", mountPath: upstreamAuthConfigDir, readOnly: true },
            { name: "upstream-token", mountPath: grafanaUpstreamTokenDir, readOnly: true },
            { name: "upstream-auth-tmp", mountPath: "/tmp" },
          ],
        },
      ],
      sidecarVolumes: [
        { name: "upstream-auth", configMap: { name: configMap.metadata.name } },
        {
          name: "upstream-token",
          projected: {
            sources: [
              // No audience: Thanos' kube-rbac-proxy reviews tokens for the API server's own audience.
              { serviceAccountToken: { path: "token", expirationSeconds: grafanaTokenExpirationSeconds } },
              // OpenShift publishes the service CA in this ConfigMap in every namespace.
              { configMap: { name: "openshift-service-ca.crt", items: [{ key: "service-ca.crt", path: "service-ca.crt" }] } },
            ],
          },
        },
        { name: "upstream-auth-tmp", emptyDir: {} },
      ],
    };
  }
  const dashboards = Object.fromEntries(
    Object.entries(platformDashboards({ datasourceUid: PLATFORM_PROMETHEUS_DS_UID })).map(([file, json]) => [file, JSON.stringify(json, null, 2)]),
  );
  // kubernetes, exposed: Grafana's own Gateway (billingGateway.ts), its one listener for the Grafana host.
  const g = args.grafana;
  const ownGateway =
    args.flavor === "kubernetes" && g.expose.enabled && g.expose.host !== undefined
      ? createGrafanaGateway(name, args.gateway.namespace, g.expose.host, args.namespaceName, g.gateway, args.gatewayClassName, parent)
      : undefined;
  return createGrafana(
    name,
    {
      flavor: args.flavor,
      namespace: args.namespace,
      objectName: platformGrafanaName,
      labels,
      settings: args.grafana,
      datasourcesYaml: renderPlatformDatasources(auth ? `http://${upstreamAuthListen.host}:${upstreamAuthListen.port}` : args.prometheusUrl),
      dashboards,
      dashboardFolder: "MaaS platform",
      gateway: ownGateway ?? args.gateway,
      ...(ownGateway ? { sectionName: GRAFANA_LISTENER_NAME } : {}),
      serviceAccountName,
      ...sidecar,
    },
    parent,
  );
}
