/**
 * Who is calling, and what may they do to a tenant. Two implementations behind this interface:
 * static hashed tokens (static.ts) and Kubernetes TokenReview + SubjectAccessReview (kubernetes.ts).
 */

/**
 * Every action a /v1 route performs, each its own (verb, resource) in Kubernetes mode so that RBAC can
 * grant reading usage without writing events, and a grant on tenant data never implies billing admin.
 * Admin actions live on the separate `admin` resource (subresource per action) and are cluster-wide.
 */
export const TENANT_ACTIONS = {
  "usage.read": { verb: "get", resource: "usage" },
  "quotas.read": { verb: "get", resource: "quotas" },
  "invoices.read": { verb: "get", resource: "invoices" },
  "events.create": { verb: "create", resource: "events" },
  "quotas.check": { verb: "create", resource: "quotachecks" },
  "webhooks.read": { verb: "get", resource: "webhooks" },
  "webhooks.update": { verb: "update", resource: "webhooks" },
} as const;
export const ADMIN_ACTIONS = {
  "quotas.update": { verb: "update", resource: "admin", subresource: "quotas" },
  "invoices.update": { verb: "update", resource: "admin", subresource: "invoices" },
} as const;

export type TenantAction = keyof typeof TENANT_ACTIONS;
export type AdminAction = keyof typeof ADMIN_ACTIONS;
export type Action = TenantAction | AdminAction;

export const isAdminAction = (action: Action): action is AdminAction => action in ADMIN_ACTIONS;

export interface Principal {
  /** A name for logs and per-principal rate limits (never the credential). */
  readonly name: string;
  /** The one tenant this credential belongs to, when it has one (static tenant tokens); the portal lands there. */
  readonly tenant?: string;
  /** May this principal perform `action` on the data of `tenant`? Admin actions need billing admin. */
  may(action: Action, tenant: string): Promise<boolean>;
  /**
   * When set, the only routes (`METHOD /path` as declared) this principal may call, whatever its
   * tenant access: the gateway's quota credential may call POST /v1/quota/authorize for every
   * tenant and nothing else.
   */
  readonly onlyRoutes?: readonly string[];
  /**
   * May this principal post events of `tenant` under `source`, a source bound to senders (see
   * Authenticator.boundSources)? Only the senders a source is bound to may write it; undefined
   * means this principal is no sender.
   */
  maySend?(tenant: string, source: string): boolean;
  /**
   * Set for sender credentials only: the sources bound to them, and the one tenant they may write
   * when bound to one. The OTLP logs receiver (POST /v1/logs) takes senders only and writes under
   * their source; records of a tenant-bound sender are that tenant's.
   */
  readonly sender?: { readonly sources: readonly string[]; readonly tenant?: string };
}

/** Billing admin: may do the admin actions (cluster-wide, so no tenant is named). */
export const isBillingAdmin = (principal: Principal): Promise<boolean> => principal.may("invoices.update", "*");

/** May read a tenant's data (the portal's tenant list). */
export const canReadTenant = (principal: Principal, tenant: string): Promise<boolean> => principal.may("usage.read", tenant);

export interface Authenticator {
  /** The principal for a bearer token, or undefined when the token is unknown/invalid. */
  authenticate(bearerToken: string): Promise<Principal | undefined>;
  /**
   * Event sources bound to sender credentials (the `sources` of sender tokens): nobody else may
   * write them, so no tenant can pre-claim a sender's event ids or post in its name.
   */
  boundSources?(): ReadonlySet<string>;
}
