import { sha256Hex } from "../../billing-service/src/sha256";

/*
 * Platform objects that would otherwise list every tenant (the tenant tokens, the billing API's
 * ingress peers) are split over a fixed number of shards, each tenant in the shard its name hashes
 * to (docs/scaling.md "Platform objects that list every tenant"): no object grows past 1/16 of the
 * tenants, adding or removing a tenant changes one shard only, and the render stays byte-stable
 * (the shard depends on the name alone, never on the order or the number of tenants).
 */

/** Number of shards. 16 keeps each shard at about 625 tenants at 10,000 (docs/scaling.md gives the sizes). */
export const TENANT_SHARDS = 16;

/** The shard of a tenant: the first 32 bits of the SHA-256 of its name, modulo TENANT_SHARDS. */
export const tenantShard = (tenantName: string): number => Number.parseInt(sha256Hex(tenantName).slice(0, 8), 16) % TENANT_SHARDS;

/** Two-digit shard suffix of object and file names ("00".."15"). */
export const shardSuffix = (shard: number): string => String(shard).padStart(2, "0");

/** The items grouped by shard: index i holds the items of shard i, in their given order. */
export function byTenantShard<T>(items: readonly T[], tenantOf: (item: T) => string): T[][] {
  const shards: T[][] = Array.from({ length: TENANT_SHARDS }, () => []);
  for (const item of items) shards[tenantShard(tenantOf(item))].push(item);
  return shards;
}
