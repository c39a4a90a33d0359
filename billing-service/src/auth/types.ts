/**
 * Who is calling, and may they touch a tenant. Two implementations behind this interface:
 * static hashed tokens (static.ts) and Kubernetes TokenReview + SubjectAccessReview (kubernetes.ts).
 */
export interface Principal {
  /** A name for logs (never the credential). */
  readonly name: string;
  /** The one tenant this credential belongs to, when it has one (static tenant tokens); the portal lands there. */
  readonly tenant?: string;
  /** May this principal read/write data of `tenant`? */
  canAccessTenant(tenant: string): Promise<boolean>;
  /** May this principal do admin-only things (invoices, quotas, price book)? */
  isAdmin(): Promise<boolean>;
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
}

export interface Authenticator {
  /** The principal for a bearer token, or undefined when the token is unknown/invalid. */
  authenticate(bearerToken: string): Promise<Principal | undefined>;
  /**
   * Event sources bound to sender credentials (the `sources` of sender tokens): nobody else may
   * write them, so no tenant can pre-claim a sender's event ids or post in its name.
   */
  boundSources?(): ReadonlySet<string>;
}
