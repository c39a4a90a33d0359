import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as YAML from "yaml";
import type { PlatformConfig, PlatformTenant } from "../config/platform";
import { hashToken } from "../../billing-service/src/auth/static";
import { platformTenantMonitoringNamespace } from "../config/platform";
import { contentChecksum } from "../shared/checksum";
import { appLabels } from "./security";
import { byTenantShard, shardSuffix } from "./tenantShards";

/** Secret in the billing namespace with the platform's tokens file (hashes only: admin, gateway, senders), mounted into the billing pods. */
export const billingTokensSecretName = "maas-billing-api-tokens";
/**
 * Secrets with the tenants' token hashes, one per shard (tenantShards.ts): no one Secret lists every
 * tenant (a Secret's data may not exceed 1 MiB: docs/scaling.md).
 */
export const tenantTokensSecretName = (shard: number): string => `maas-billing-api-tokens-tenants-${shardSuffix(shard)}`;
/** File of a tenant tokens shard in the mounted directory (the service reads every *.yaml there). */
export const tenantTokensFileName = (shard: number): string => `tenants-${shardSuffix(shard)}.yaml`;
/** Secret in the billing namespace with the platform admin's billing API token. */
export const billingAdminTokenSecretName = "maas-billing-admin-token";
/** Secret with a sender's billing API token (key `token`): `maas-billing-sender-<name>`. */
export const senderTokenSecretName = (sender: string): string => `maas-billing-sender-${sender}`;
/** Secret in each tenant's monitoring namespace with that tenant's billing API token (key `token`). */
export const tenantBillingTokenSecretName = "maas-billing-token";
/**
 * Directory the tokens files are mounted at (its own projected volume: not nested in another mount);
 * MAAS_BILLING_TOKENS_FILE names the directory, and the service reads every *.yaml file in it.
 */
export const billingTokensDir = "/etc/maas-billing-tokens";
/** The platform tokens' file in it (admin, gateway, senders); the tenants' are tenantTokensFileName(shard). */
export const billingTokensFileName = "tokens.yaml";

/** One entry of the billing service's static tokens file (billing-service/src/auth/static.ts). */
export interface TokenFileEntry {
  name: string;
  sha256: string;
  admin?: true;
  tenant?: string;
  /** The gateway's credential: POST /v1/quota/authorize for any tenant, nothing else. */
  quotaGateway?: true;
  /** A sender: the event sources only this token may write. */
  sources?: string[];
}

/** The tokens file: `tokens: [{ name, sha256, admin | tenant | quotaGateway | sources }]`, sorted by name so it is stable. */
export function renderTokensFile(entries: TokenFileEntry[]): string {
  return YAML.stringify({ tokens: [...entries].sort((a, b) => a.name.localeCompare(b.name)) });
}

export interface BillingTokensArgs {
  /** Billing namespace (tokens file and admin token Secrets). */
  readonly namespace: pulumi.Input<string>;
  /** The platform's tenant registry. */
  readonly tenants: PlatformTenant[];
  /** Per tenant, its namespaces from tenantAccess.ts: a tenant's token Secret waits for that tenant's namespaces. */
  readonly tenantNamespaces: Record<string, pulumi.Output<string[]>>;
  /** The validated `platform.billing` config (admin token rotation, senders). */
  readonly billing: PlatformConfig["billing"];
  /** `platform.quotaEnforcement`: when enabled, a gateway token is issued (gatewayAuth.ts stores it). */
  readonly quotaEnforcement: PlatformConfig["quotaEnforcement"];
}

export interface BillingTokens {
  /** Name of the Secret holding the platform tokens' `tokens.yaml`. */
  readonly secretName: string;
  /** Names of the tenant tokens Secrets, index = shard (each holds `tokens.yaml`). */
  readonly tenantSecretNames: readonly string[];
  /**
   * Changes whenever a token is added, removed or rotated (names and rotation counters; never a
   * secret): a pod annotation, so the billing pods restart and read the new file.
   */
  readonly revision: string;
  /** The gateway's quota-check token (secret output), when quota enforcement is enabled. */
  readonly gatewayToken?: pulumi.Output<string>;
  /**
   * The tokens-file Secrets the billing pods mount (platform and tenant shards). The Deployment
   * depends on them: its names and revision are plain strings, so without this Pulumi would roll
   * the pods while the Secrets are still being updated, and a pod that starts on the old content
   * keeps it for its life (a new tenant token refused; on the upgrade to shards, one hash in the
   * old and the new Secret at once, which the service refuses to start on).
   */
  readonly secrets: readonly pulumi.Resource[];
}

/**
 * Billing API credentials: one generated token per registered tenant (scoped to that tenant) and
 * one admin token. Each token is a RandomPassword whose `keepers` hold its rotation counter, so
 * bumping the counter issues a new token. The tenant's token goes to Secret `maas-billing-token` in
 * its monitoring namespace (for its Grafana's billing datasource); the admin token to a Secret in
 * the billing namespace; each sender's (`platform.billing.senders`, bound to its event sources) to
 * Secret `maas-billing-sender-<name>` where it runs. The billing pods get only the SHA-256 of each
 * token, in tokens files (MAAS_BILLING_TOKENS_FILE names their directory): the platform's tokens in
 * one Secret, the tenants' split over TENANT_SHARDS Secrets by tenant name; computed in an apply of
 * the secret and kept secret.
 */
export function createBillingTokens(name: string, args: BillingTokensArgs, parent: pulumi.Resource): BillingTokens {
  const token = (role: string, rotation: number) =>
    new random.RandomPassword(`${name}-billing-token-${role}`, { length: 48, special: false, keepers: { rotation: String(rotation) } }, { parent });

  const admin = token("admin", args.billing.adminTokenRotation);
  new k8s.core.v1.Secret(
    `${name}-billing-admin-token`,
    {
      metadata: { name: billingAdminTokenSecretName, namespace: args.namespace, labels: appLabels(billingAdminTokenSecretName, "billing-api") },
      type: "Opaque",
      stringData: { token: admin.result },
    },
    { parent },
  );
  const entries: pulumi.Output<TokenFileEntry>[] = [admin.result.apply((t) => ({ name: "platform-admin", admin: true as const, sha256: hashToken(t) }))];
  const tenantEntries: { tenant: string; entry: pulumi.Output<TokenFileEntry> }[] = [];

  for (const tenant of args.tenants) {
    const password = token(`tenant-${tenant.name}`, tenant.billingTokenRotation);
    // Derived from this tenant's namespaces (not every tenant's: that made the dependencies of n
    // Secrets grow with n, quadratic in all), so the Secret is created after its namespace.
    const namespace = args.tenantNamespaces[tenant.name].apply(() => platformTenantMonitoringNamespace(tenant));
    new k8s.core.v1.Secret(
      `${name}-billing-token-${tenant.name}-secret`,
      {
        metadata: {
          name: tenantBillingTokenSecretName,
          namespace,
          labels: { ...appLabels(tenantBillingTokenSecretName, "billing-api"), "maas.opendatahub.io/tenant": tenant.name },
        },
        type: "Opaque",
        stringData: { token: password.result },
      },
      { parent },
    );
    tenantEntries.push({ tenant: tenant.name, entry: password.result.apply((t) => ({ name: `tenant-${tenant.name}`, tenant: tenant.name, sha256: hashToken(t) })) });
  }

  let gatewayToken: pulumi.Output<string> | undefined;
  if (args.quotaEnforcement.enabled) {
    const gateway = token("gateway", args.quotaEnforcement.gatewayTokenRotation);
    gatewayToken = pulumi.secret(gateway.result);
    entries.push(gateway.result.apply((t) => ({ name: "platform-gateway", quotaGateway: true as const, sha256: hashToken(t) })));
  }

  for (const sender of args.billing.senders) {
    const password = token(`sender-${sender.name}`, sender.tokenRotation);
    new k8s.core.v1.Secret(
      `${name}-billing-token-sender-${sender.name}`,
      {
        metadata: { name: senderTokenSecretName(sender.name), namespace: sender.namespace ?? args.namespace, labels: appLabels(senderTokenSecretName(sender.name), "billing-api") },
        type: "Opaque",
        stringData: { token: password.result },
      },
      { parent },
    );
    entries.push(password.result.apply((t) => ({ name: `sender-${sender.name}`, sources: [...sender.sources], sha256: hashToken(t) })));
  }

  // A hash is no credential, but the files stay secret outputs: nothing about them needs to be visible.
  const tokensSecret = (resourceName: string, secretName: string, fileEntries: pulumi.Output<TokenFileEntry>[]) =>
    new k8s.core.v1.Secret(
      resourceName,
      {
        metadata: { name: secretName, namespace: args.namespace, labels: appLabels(secretName, "billing-api") },
        type: "Opaque",
        stringData: { [billingTokensFileName]: pulumi.secret(pulumi.all(fileEntries).apply(renderTokensFile)) },
      },
      { parent },
    );
  const secrets: pulumi.Resource[] = [tokensSecret(`${name}-billing-tokens`, billingTokensSecretName, entries)];
  // Every shard exists, empty or not: the pods mount all of them (a missing one keeps a pod waiting
  // rather than starting without some tenants' tokens).
  const shards = byTenantShard(tenantEntries, (e) => e.tenant);
  const tenantSecretNames = shards.map((_, i) => tenantTokensSecretName(i));
  shards.forEach((shard, i) => secrets.push(tokensSecret(`${name}-billing-tokens-tenants-${shardSuffix(i)}`, tenantSecretNames[i], shard.map((e) => e.entry))));

  const revision = contentChecksum(
    JSON.stringify([
      ["platform-admin", args.billing.adminTokenRotation],
      ...args.tenants.map((t) => [`tenant-${t.name}`, t.billingTokenRotation]),
      ...(args.quotaEnforcement.enabled ? [["platform-gateway", args.quotaEnforcement.gatewayTokenRotation]] : []),
      // Sources are part of a sender's scope: changing them must roll the pods too.
      ...args.billing.senders.map((s) => [`sender-${s.name}`, s.tokenRotation, s.sources]),
    ]),
  );
  return { secretName: billingTokensSecretName, tenantSecretNames, revision, secrets, ...(gatewayToken ? { gatewayToken } : {}) };
}
