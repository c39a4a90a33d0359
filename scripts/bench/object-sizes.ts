/**
 * Size of every platform object that grows with the tenant registry, for N tenants, from the same
 * pure spec builders the platform stack renders them with (docs/scaling.md "Platform objects that
 * list every tenant"). No Pulumi runtime: a 10,000-tenant platform render in the mock runtime needs
 * a heap beyond this machine (docs/scaling.md "Render"), and the sizes depend only on the specs.
 *
 * What is measured: the compact JSON of each object as the platform renders it (apiVersion, kind,
 * metadata with labels, spec or data; Secrets with the tokens file as `stringData`), in bytes. The
 * API server stores a little more (managedFields, status, uid, timestamps) and a Secret's `data` is
 * base64 on the wire (4/3 of the file), so each figure is a lower bound of the stored object;
 * `dataBytes` is the Secret's or ConfigMap's data alone, what the 1 MiB data limit counts.
 *
 *   npx tsx scripts/bench/object-sizes.ts [10 1000 10000]
 */
import { sha256Hex } from "../../billing-service/src/sha256";
import { parseStackConfig } from "../../components/config";
import { platformAllowedTiers, platformTenantNamespaces, type PlatformConfig } from "../../components/config/platform";
import { collectorConfigMapName, collectorFiles, collectorSettings, collectorTenantsConfigMapName } from "../../components/platform/billingServiceSpecs";
import { billingTokensSecretName, renderTokensFile, tenantTokensSecretName, type TokenFileEntry } from "../../components/platform/billingTokens";
import { gatewayAuthPolicyName, gatewayAuthPolicySpec, gatewayAuthRuleSets } from "../../components/platform/gatewayAuth";
import { platformIngressPolicies } from "../../components/platform/networkPolicies";
import { appLabels } from "../../components/platform/security";
import { byTenantShard } from "../../components/platform/tenantShards";
import { platformWithTenants } from "./render";

export interface ObjectSize {
  readonly kind: string;
  readonly name: string;
  /** Compact JSON of the object as rendered. */
  readonly bytes: number;
  /** Secrets and ConfigMaps: the bytes of their data values (the 1 MiB limit). */
  readonly dataBytes?: number;
}

/** etcd's default request limit (--max-request-bytes, https://etcd.io/docs/v3.5/dev-guide/limit/). */
export const ETCD_REQUEST_LIMIT = 1.5 * 1024 * 1024;
/** A Secret's or ConfigMap's data limit (https://kubernetes.io/docs/concepts/configuration/secret/). */
export const DATA_LIMIT = 1024 * 1024;

/**
 * The bench's platform (the dev stack's, with `count` generated tenants `bench-tNNN`, each with the
 * default two namespaces), every tenant pinned to two tiers when `pinned` (the allowed-tiers rule
 * lists each namespace's tiers; the dev price book's "*" tier pins nobody otherwise).
 */
export function benchPlatform(count: number, pinned: boolean): PlatformConfig {
  const raw = platformWithTenants(count);
  const platform = raw["maas-billing:platform"] as { tenants: Array<Record<string, unknown>> };
  if (pinned) platform.tenants = platform.tenants.map((t) => ({ ...t, allowedTiers: ["free", "premium"] }));
  const config = Object.fromEntries(Object.entries(raw).filter(([k]) => k.startsWith("maas-billing:")).map(([k, v]) => [k.slice("maas-billing:".length), v]));
  return parseStackConfig(config).platform!;
}

/**
 * The `accessLogs` section of a platform that bills the gateway's access logs (threat model B5G:
 * the platform's identity filter, with its namespace -> tenant map, is rendered even without pins).
 */
function accessLogsSection(): PlatformConfig["accessLogs"] {
  const raw = platformWithTenants(1);
  const platform = raw["maas-billing:platform"] as { billing: Record<string, unknown> } & Record<string, unknown>;
  platform.billing = { ...platform.billing, senders: [{ name: "access-logs", sources: ["//gateway/access-log"] }] };
  platform.accessLogs = { sender: "access-logs", collectorImage: `docker.io/otel/opentelemetry-collector-contrib@sha256:${"4c".repeat(32)}`, gatewayEnvoyFilter: true };
  const config = Object.fromEntries(Object.entries(raw).filter(([k]) => k.startsWith("maas-billing:")).map(([k, v]) => [k.slice("maas-billing:".length), v]));
  return parseStackConfig(config).platform!.accessLogs;
}

/**
 * The same registry with and without pins, and without pins billing access logs, parsed once
 * (parsing 10,000 tenants takes a fraction of a second since issue 20 session 6).
 */
export function benchPlatforms(count: number): { unpinned: PlatformConfig; pinned: PlatformConfig; accessLogs: PlatformConfig } {
  const pinned = benchPlatform(count, true);
  const unpinned = { ...pinned, tenants: pinned.tenants.map(({ allowedTiers: _pin, ...t }) => t) };
  return { pinned, unpinned, accessLogs: { ...unpinned, accessLogs: accessLogsSection() } };
}

const jsonBytes = (o: unknown): number => Buffer.byteLength(JSON.stringify(o));
const utf8 = (s: string): number => Buffer.byteLength(s);

/** Every object of the platform stack whose content depends on the tenant registry's size. */
export function platformObjectSizes(p: PlatformConfig): ObjectSize[] {
  const sizes: ObjectSize[] = [];
  // The Gateway AuthPolicy (gatewayAuth.ts), with the quota check on (the default).
  const rules = gatewayAuthRuleSets({ enforcement: p.quotaEnforcement, tenants: p.tenants, allowedTiers: platformAllowedTiers(p), accessLogs: p.accessLogs !== undefined || p.lokiPull !== undefined }, p.quotaEnforcement.enabled, `http://maas-billing-api.${p.namespace}.svc:8080`);
  if (rules.length > 0) {
    const policy = {
      apiVersion: "kuadrant.io/v1",
      kind: "AuthPolicy",
      metadata: { name: gatewayAuthPolicyName, namespace: p.gateway.namespace, labels: appLabels(gatewayAuthPolicyName, "gateway-auth") },
      spec: gatewayAuthPolicySpec(p.gateway, ...rules),
    };
    sizes.push({ kind: "AuthPolicy", name: gatewayAuthPolicyName, bytes: jsonBytes(policy) });
  }
  // The billing namespace's NetworkPolicies (networkPolicies.ts), the tenant shards among them.
  for (const np of platformIngressPolicies({
    flavor: "kubernetes",
    monitoringNamespace: p.monitoring.namespace,
    billingNamespace: p.namespace,
    gatewayNamespace: p.gateway.namespace,
    tenants: p.tenants.map((t) => ({ name: t.name, namespaces: platformTenantNamespaces(t) })),
    grafana: { enabled: p.grafana.enabled, exposed: p.grafana.enabled && p.grafana.expose.enabled },
  })) {
    const object = { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: np.name, namespace: np.namespace, labels: appLabels(np.name, "network-policy") }, spec: np.spec };
    sizes.push({ kind: "NetworkPolicy", name: np.name, bytes: jsonBytes(object) });
  }
  // The tokens Secrets (billingTokens.ts): hashes of 48-character tokens, as rendered.
  const secret = (name: string, file: string): ObjectSize => ({
    kind: "Secret",
    name,
    bytes: jsonBytes({ apiVersion: "v1", kind: "Secret", metadata: { name, namespace: p.namespace, labels: appLabels(name, "billing-api") }, type: "Opaque", stringData: { "tokens.yaml": file } }),
    dataBytes: utf8(file),
  });
  const platformEntries: TokenFileEntry[] = [
    { name: "platform-admin", admin: true, sha256: sha256Hex("admin") },
    ...(p.quotaEnforcement.enabled ? [{ name: "platform-gateway", quotaGateway: true as const, sha256: sha256Hex("gateway") }] : []),
  ];
  sizes.push(secret(billingTokensSecretName, renderTokensFile(platformEntries)));
  const tenantEntries = p.tenants.map((t): TokenFileEntry => ({ name: `tenant-${t.name}`, tenant: t.name, sha256: sha256Hex(`token-of-${t.name}`) }));
  byTenantShard(tenantEntries, (e) => e.tenant!).forEach((shard, i) => sizes.push(secret(tenantTokensSecretName(i), renderTokensFile(shard))));
  // The collector settings ConfigMap and its tenant registry shards (billingServiceSpecs.ts).
  const configMap = (name: string, key: string, text: string): ObjectSize => ({
    kind: "ConfigMap",
    name,
    bytes: jsonBytes({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: p.namespace, labels: appLabels("maas-billing-api", "billing-api") }, data: { [key]: text } }),
    dataBytes: utf8(text),
  });
  const collector = collectorFiles(collectorSettings(p));
  sizes.push(configMap(collectorConfigMapName, "collector.yaml", collector.collectorYaml));
  collector.collectorTenantShards.forEach((text, i) => sizes.push(configMap(collectorTenantsConfigMapName(i), "tenants.yaml", text)));
  return sizes;
}

/** The largest object of each kind (shards grouped). */
export function largestByKind(sizes: readonly ObjectSize[]): Record<string, ObjectSize & { objects: number }> {
  const out: Record<string, ObjectSize & { objects: number }> = {};
  for (const s of sizes) {
    const prev = out[s.kind];
    const objects = (prev?.objects ?? 0) + 1;
    out[s.kind] = prev === undefined || s.bytes > prev.bytes ? { ...s, objects } : { ...prev, objects };
  }
  return out;
}

if (require.main === module) {
  const counts = process.argv.slice(2).map(Number);
  const platforms = (counts.length > 0 ? counts : [10, 1000, 10000]).map((n) => [n, benchPlatforms(n)] as const);
  for (const variant of ["unpinned", "pinned", "accessLogs"] as const) {
    for (const [n, all] of platforms) {
      const largest = largestByKind(platformObjectSizes(all[variant]));
      for (const s of Object.values(largest)) {
        const limit = s.dataBytes !== undefined ? `${((100 * s.dataBytes) / DATA_LIMIT).toFixed(1)}% of 1 MiB data` : `${((100 * s.bytes) / ETCD_REQUEST_LIMIT).toFixed(1)}% of 1.5 MiB`;
        console.log(`${variant.padEnd(10)} ${String(n).padStart(6)} tenants  ${s.kind.padEnd(13)} largest ${s.name.padEnd(40)} ${String(s.bytes).padStart(9)} B${s.dataBytes !== undefined ? ` (data ${s.dataBytes} B)` : ""}  ${limit}  [${s.objects} object(s)]`);
      }
    }
  }
}
