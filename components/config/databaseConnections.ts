import type { z } from "zod";
import { COMMAND_POOL_MAX, SERVE_POOL_MAX } from "../../billing-service/src/contract";

/*
 * Whether the platform's database can hold the connections the platform itself opens to it (review
 * R4). The billing pods are its only clients (its NetworkPolicy admits nothing else): each pod runs
 * the `migrate` init container (a pool of COMMAND_POOL_MAX) and then `serve` (SERVE_POOL_MAX), one
 * after the other, so a pod holds at most the larger of the two. Both figures come from the
 * service's contract, the same constants the service opens its pools with.
 */

/**
 * PostgreSQL's `superuser_reserved_connections` (its default, rendered explicitly in the database's
 * args so this check and the server agree): the app role the service connects as is no superuser,
 * so these slots are not the service's.
 */
export const DATABASE_RESERVED_CONNECTIONS = 3;

/** Fields of the platform config the check reads (a PlatformConfig, kept structural to avoid a cycle). */
export interface ConnectionConfig {
  readonly database: { readonly maxConnections: number };
  readonly billing: {
    readonly replicas: number;
    readonly monthEndClose?: { readonly sink: { readonly kind: string; readonly accessMode?: string } };
  };
}

/**
 * Whether the billing Deployment recreates its pods instead of rolling them: a ReadWriteOnce
 * exports volume attaches to one node, so a rolling update would start the new pod (maybe
 * elsewhere) while the old one still holds it, and wait forever. Recreate frees it first.
 */
export function billingDeploymentRecreates(billing: ConnectionConfig["billing"]): boolean {
  const sink = billing.monthEndClose?.sink;
  return sink?.kind === "volume" && sink.accessMode === "ReadWriteOnce";
}

/**
 * Billing pods that can run at once: the replicas, plus during a rolling update the Deployment's
 * default maxSurge (25 % of the replicas, rounded up: Kubernetes' RollingUpdateDeployment default),
 * whose new pods start (init container, then serve) while every old pod still serves. Not counted:
 * old pods still shutting down after they left the count (Kubernetes does not count terminating pods
 * against maxSurge); serve closes its pool when it stops, and idle pool connections close after 10 s.
 */
export function billingPodsAtOnce(billing: ConnectionConfig["billing"]): number {
  return billingDeploymentRecreates(billing) ? billing.replicas : billing.replicas + Math.ceil(billing.replicas / 4);
}

/** Connections one billing pod holds at most (its init container's pool, then serve's). */
export const CONNECTIONS_PER_BILLING_POD = Math.max(SERVE_POOL_MAX, COMMAND_POOL_MAX);

/** Connections the platform needs of its database: every billing pod's pool plus the reserved slots. */
export function databaseConnectionsNeeded(billing: ConnectionConfig["billing"]): number {
  return billingPodsAtOnce(billing) * CONNECTIONS_PER_BILLING_POD + DATABASE_RESERVED_CONNECTIONS;
}

/** The most replicas `maxConnections` holds (0 when not even one). */
function replicasThatFit(billing: ConnectionConfig["billing"], maxConnections: number): number {
  let replicas = 0;
  while (databaseConnectionsNeeded({ ...billing, replicas: replicas + 1 }) <= maxConnections) replicas++;
  return replicas;
}

/** The cross-field rule (platformSchema's superRefine): the billing pods' pools fit in max_connections. */
export function checkDatabaseConnections(p: ConnectionConfig, ctx: z.RefinementCtx): void {
  const max = p.database.maxConnections;
  const needed = databaseConnectionsNeeded(p.billing);
  if (needed <= max) return;
  const pods = billingPodsAtOnce(p.billing);
  const surge = pods - p.billing.replicas;
  const fit = replicasThatFit(p.billing, max);
  ctx.addIssue({
    code: "custom",
    path: ["database", "maxConnections"],
    message:
      `${max} connections cannot hold the billing pods' database pools: billing.replicas ${p.billing.replicas}` +
      (surge > 0 ? ` + ${surge} new pod(s) during a rolling update` : "") +
      ` = ${pods} pod(s) x ${CONNECTIONS_PER_BILLING_POD} (serve's pool, SERVE_POOL_MAX) + ${DATABASE_RESERVED_CONNECTIONS} reserved for superusers = ${needed}. ` +
      `Set platform.database.maxConnections to at least ${needed}` +
      (fit > 0 ? `, or lower platform.billing.replicas to ${fit}` : ""),
  });
}
