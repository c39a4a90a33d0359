import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Flavor } from "../config";
import type { PlatformConfig, PlatformTenant } from "../config/platform";
import type { FederationEndpoint } from "../contract";
import { platformTenantNamespaces } from "../config/platform";
import { contentChecksum } from "../shared/checksum";
import { containerSecurityContext, podSecurityContext } from "../shared/podSecurity";
import { openshiftMonitoring } from "./monitoring";
import { appLabels } from "./security";
import { upstreamAuthConfigDir, upstreamAuthGatewayListen, upstreamAuthListen, upstreamAuthNginxConf, upstreamAuthScript, type UpstreamAuthServer } from "./upstreamAuth";

export interface FederationArgs {
  /** Cluster flavor: decides the default upstream auth and whether a UID is set. */
  readonly flavor: Flavor;
  /** The platform's tenant registry (`platform.tenants`). */
  readonly tenants: PlatformTenant[];
  /** Namespace the proxies run in (the platform monitoring namespace). */
  readonly namespace: pulumi.Input<string>;
  /** The validated `platform.federation` config. */
  readonly federation: PlatformConfig["federation"];
  /** Central `/federate` base URL, used when `federation.upstreamUrl` is not set. */
  readonly defaultUpstream: string;
  /**
   * `/federate` base URL holding Limitador's series, for the gateway role (gatewayMetricsPlacement):
   * on OpenShift with MaaS the platform Prometheus, not UWM. Defaults to the central upstream.
   */
  readonly gatewayUpstream?: string;
  /** The gateway upstream is OpenShift's platform Prometheus: bind its metrics-API Role to the proxies' ServiceAccount. */
  readonly gatewayUpstreamIsClusterMonitoring?: boolean;
  /**
   * Where the series a role reads are scraped: the billing service's namespace (billing role) and the
   * Limitador namespace (gateway role). Those proxies also enforce `namespace` to that value.
   */
  readonly sourceNamespaces: { billing: string; gateway: string };
}

/** The federation output of one tenant (components/contract.ts); this platform always exports `billingUrl`. */
export type FederationEndpoints = Required<FederationEndpoint>;

/**
 * The label-enforcing proxies of a tenant (docs/contract.md, "Tenant isolation design"): which
 * label each enforces, its allowed values, and the output key of its URL. Model-server and
 * Limitador series are attributed by namespace; billing-service series carry the tenant by name.
 */
export const federationProxyRoles = [
  { role: "models", label: "namespace", output: "url", values: (_tenant: string, namespaces: string[]) => namespaces },
  { role: "gateway", label: "route_namespace", output: "gatewayUrl", values: (_tenant: string, namespaces: string[]) => namespaces },
  { role: "billing", label: "tenant", output: "billingUrl", values: (tenant: string) => [tenant] },
] as const satisfies readonly { role: string; label: string; output: keyof FederationEndpoints; values: (tenant: string, namespaces: string[]) => string[] }[];

export const federationProxyPort = 8080;

/**
 * The gateway and billing proxies enforce a second label, `namespace` = where their series are scraped
 * (Limitador's namespace, the billing namespace): a series carrying `tenant="a"` or
 * `route_namespace="a-models"` that a pod of another namespace emits (tenant B planting series in
 * A's dashboards) is refused. prom-label-proxy enforces one label per instance, so this is a second
 * instance in the same pod on loopback, in front of the upstream (the chaining upstream recommends:
 * prometheus-community/prom-label-proxy#271). The central Prometheus sets `namespace` from the
 * scraping monitor's namespace (enforcedNamespaceLabel on kubernetes, user-workload monitoring on
 * OpenShift), so a pod cannot choose it.
 */
export const namespaceGuardPort = 8082;
export const namespaceGuardRoles: Record<string, keyof FederationArgs["sourceNamespaces"]> = { gateway: "gateway", billing: "billing" };

/** `maas-fed-<tenant>-<role>`: at most 63 characters because tenant names are at most 40. */
export const federationProxyName = (tenant: string, role: string) => `maas-fed-${tenant}-${role}`;

/** Shared by every proxy pod: ServiceAccount, its monitoring-view binding and the sidecar config. */
export const federationSharedName = "maas-federation";

/** OpenShift's service CA, mounted into every pod next to its service account token. */
export const serviceCaFile = "/var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt";

/**
 * prom-label-proxy (v0.14.0) arguments enforcing `label` to be one of `values` (the tenant's
 * namespaces, or its name). `--label-value` is static and repeated (the proxy enforces the union),
 * so the tenant cannot pick the value through a URL parameter or header.
 */
export function proxyArgs(upstream: string, label: string, values: string[], upstreamCaFile?: string): string[] {
  return [
    `--insecure-listen-address=0.0.0.0:${federationProxyPort}`,
    `--upstream=${upstream}`,
    ...(upstreamCaFile ? [`--upstream-ca-cert=${upstreamCaFile}`] : []),
    `--label=${label}`,
    ...values.map((v) => `--label-value=${v}`),
  ];
}

/** The upstream auth in effect: the config's choice, else `serviceAccountToken` on openshift. */
export function upstreamAuthMode(flavor: Flavor, federation: PlatformConfig["federation"]): "serviceAccountToken" | "none" {
  return federation.upstreamAuth ?? (flavor === "openshift" ? "serviceAccountToken" : "none");
}

/**
 * Per tenant, three prom-label-proxy Deployments with a Service each, in front of the central
 * Prometheus: one enforcing `namespace` (model-server series), one `route_namespace` (Limitador
 * series), one `tenant=<name>` (billing-service series). A NetworkPolicy admits only pods of that tenant's namespaces. With `serviceAccountToken`
 * upstream auth each pod also runs the upstream-auth sidecar (upstreamAuth.ts) under the shared
 * `maas-federation` ServiceAccount, which may read the central monitoring (cluster-monitoring-view).
 * Returns, per tenant, its entry of the federation output of docs/contract.md ({ url, gatewayUrl,
 * billingUrl }): one Output per tenant, so a same-stack tenant depends on its own proxies only.
 */
export function createFederationProxies(
  name: string,
  args: FederationArgs,
  parent: pulumi.Resource,
): Record<string, pulumi.Output<FederationEndpoints>> {
  const f = args.federation;
  const upstream = f.upstreamUrl ?? args.defaultUpstream;
  const gatewayUpstream = args.gatewayUpstream ?? upstream;
  const withAuthSidecar = upstreamAuthMode(args.flavor, f) === "serviceAccountToken";
  const upstreamTls = upstream.startsWith("https://") || gatewayUpstream.startsWith("https://");
  // The sidecar listens once per distinct upstream: the gateway role gets its own port when
  // Limitador's series live in another monitoring stack.
  const sidecarServers: UpstreamAuthServer[] = [
    { port: upstreamAuthListen.port, upstreamUrl: upstream, ...(upstream.startsWith("https://") ? { caFile: serviceCaFile } : {}) },
    ...(gatewayUpstream !== upstream
      ? [{ port: upstreamAuthGatewayListen.port, upstreamUrl: gatewayUpstream, ...(gatewayUpstream.startsWith("https://") ? { caFile: serviceCaFile } : {}) }]
      : []),
  ];
  const sharedLabels = appLabels(federationSharedName, "federation-proxy");

  let sidecar: { container: k8s.types.input.core.v1.Container; configHash: string } | undefined;
  if (withAuthSidecar) {
    const serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-federation-sa`,
      { metadata: { name: federationSharedName, namespace: args.namespace, labels: sharedLabels } },
      { parent },
    );
    new k8s.rbac.v1.ClusterRoleBinding(
      `${name}-federation-monitoring-view`,
      {
        metadata: { name: `${federationSharedName}-monitoring-view`, labels: sharedLabels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-monitoring-view" },
        subjects: [{ kind: "ServiceAccount", name: serviceAccount.metadata.name, namespace: args.namespace }],
      },
      { parent },
    );
    if (args.gatewayUpstreamIsClusterMonitoring) {
      // The platform Prometheus' web port (kube-rbac-proxy) admits cluster-monitoring-view; newer
      // releases also check this Role in openshift-monitoring. A binding to a Role the release
      // lacks grants nothing and harms nothing.
      new k8s.rbac.v1.RoleBinding(
        `${name}-federation-cluster-metrics-api`,
        {
          metadata: { name: `${federationSharedName}-metrics-api`, namespace: openshiftMonitoring.clusterNamespace, labels: sharedLabels },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "cluster-monitoring-metrics-api" },
          subjects: [{ kind: "ServiceAccount", name: serviceAccount.metadata.name, namespace: args.namespace }],
        },
        { parent },
      );
    }
    const files = {
      "nginx.conf": upstreamAuthNginxConf({ servers: sidecarServers }),
      "upstream-token.js": upstreamAuthScript(),
    };
    new k8s.core.v1.ConfigMap(
      `${name}-federation-auth-config`,
      { metadata: { name: `${federationSharedName}-upstream-auth`, namespace: args.namespace, labels: sharedLabels }, data: files },
      { parent },
    );
    sidecar = {
      // Pods restart when the sidecar config changes.
      configHash: contentChecksum(JSON.stringify(files)),
      container: {
        name: "upstream-auth",
        image: f.authProxyImage,
        // Not the image entrypoint: its scripts rewrite files under /etc/nginx, which is read-only here.
        command: ["nginx", "-c", `${upstreamAuthConfigDir}/nginx.conf`, "-e", "/dev/stderr", "-g", "daemon off;"],
        resources: f.authProxyResources,
        securityContext: containerSecurityContext(),
        volumeMounts: [
          { name: "upstream-auth", mountPath: upstreamAuthConfigDir, readOnly: true },
          { name: "tmp", mountPath: "/tmp" },
        ],
      },
    };
  }

  const endpoints: Record<string, pulumi.Output<FederationEndpoints>> = {};
  for (const tenant of args.tenants) {
    const namespaces = platformTenantNamespaces(tenant);
    const urls: Partial<Record<keyof FederationEndpoints, pulumi.Output<string>>> = {};
    for (const { role, label, output, values } of federationProxyRoles) {
      const proxyName = federationProxyName(tenant.name, role);
      const labels = { ...appLabels(proxyName, "federation-proxy"), "maas.opendatahub.io/tenant": tenant.name };
      const selector = { "app.kubernetes.io/name": proxyName, "app.kubernetes.io/component": "federation-proxy" };
      const meta = { name: proxyName, namespace: args.namespace, labels };
      const childName = `${name}-fed-${tenant.name}-${role}`;
      const guardedBy = namespaceGuardRoles[role];
      const roleUpstream = guardedBy === "gateway" ? gatewayUpstream : upstream;
      const roleSidecarPort = guardedBy === "gateway" && gatewayUpstream !== upstream ? upstreamAuthGatewayListen.port : upstreamAuthListen.port;
      const centralArgs = (l: string, v: string[]) =>
        sidecar
          ? proxyArgs(`http://${upstreamAuthListen.host}:${roleSidecarPort}`, l, v)
          : proxyArgs(roleUpstream, l, v, roleUpstream.startsWith("https://") && args.flavor === "openshift" ? serviceCaFile : undefined);
      const guard = guardedBy
        ? {
            name: "namespace-guard",
            image: f.proxyImage,
            args: [`--insecure-listen-address=127.0.0.1:${namespaceGuardPort}`, ...centralArgs("namespace", [args.sourceNamespaces[guardedBy]]).filter((a) => !a.startsWith("--insecure-listen-address="))],
            resources: f.resources,
            securityContext: containerSecurityContext(),
          }
        : undefined;
      const plpArgs = guard ? proxyArgs(`http://127.0.0.1:${namespaceGuardPort}`, label, values(tenant.name, namespaces)) : centralArgs(label, values(tenant.name, namespaces));
      new k8s.apps.v1.Deployment(
        `${childName}-deployment`,
        {
          metadata: meta,
          spec: {
            replicas: 1,
            selector: { matchLabels: selector },
            template: {
              metadata: {
                labels: { ...labels, ...selector },
                ...(sidecar ? { annotations: { "maas.opendatahub.io/upstream-auth-config": sidecar.configHash } } : {}),
              },
              spec: {
                ...(sidecar ? { serviceAccountName: federationSharedName } : {}),
                // The token (and on OpenShift the service CA next to it) is mounted only where the sidecar or TLS needs it.
                automountServiceAccountToken: sidecar !== undefined || (upstreamTls && args.flavor === "openshift"),
                securityContext: podSecurityContext(args.flavor, 65534),
                containers: [
                  {
                    name: "prom-label-proxy",
                    image: f.proxyImage,
                    args: plpArgs,
                    ports: [{ name: "http", containerPort: federationProxyPort }],
                    readinessProbe: { tcpSocket: { port: "http" }, periodSeconds: 10 },
                    resources: f.resources,
                    securityContext: containerSecurityContext(),
                  },
                  ...(guard ? [guard] : []),
                  ...(sidecar ? [sidecar.container] : []),
                ],
                ...(sidecar
                  ? {
                      volumes: [
                        { name: "upstream-auth", configMap: { name: `${federationSharedName}-upstream-auth` } },
                        { name: "tmp", emptyDir: {} },
                      ],
                    }
                  : {}),
              },
            },
          },
        },
        { parent },
      );
      const service = new k8s.core.v1.Service(
        `${childName}-service`,
        { metadata: meta, spec: { selector, ports: [{ name: "http", port: federationProxyPort, targetPort: "http" }] } },
        { parent },
      );
      new k8s.networking.v1.NetworkPolicy(
        `${childName}-network-policy`,
        {
          metadata: meta,
          spec: {
            podSelector: { matchLabels: selector },
            policyTypes: ["Ingress"],
            ingress: [
              {
                from: [
                  {
                    namespaceSelector: {
                      matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: namespaces }],
                    },
                  },
                ],
                ports: [{ protocol: "TCP", port: federationProxyPort }],
              },
            ],
          },
        },
        { parent },
      );
      urls[output] = pulumi.interpolate`http://${service.metadata.name}.${args.namespace}.svc:${federationProxyPort}`;
    }
    endpoints[tenant.name] = pulumi.all([urls.url!, urls.gatewayUrl!, urls.billingUrl!]).apply(([url, gatewayUrl, billingUrl]) => ({ url, gatewayUrl, billingUrl }));
  }
  return endpoints;
}
