/**
 * Which tenant a series belongs to.
 *
 * Gateway (Limitador) series carry `limitador_namespace="<route namespace>/<route name>"`;
 * model-server (vLLM) series carry the model's `namespace`. By default the tenant is that
 * namespace; a tenant map puts several namespaces under one tenant. With `strict` set, only mapped
 * namespaces are billed. A series that maps to no tenant is returned as unattributed with the
 * reason, so callers count and report it instead of dropping it.
 */

/** A tenant and the namespaces it owns (same shape as the platform's tenant registry). */
export interface TenantNamespaces {
  readonly name: string;
  readonly namespaces: readonly string[];
}

export interface TenantMapConfig {
  readonly tenants: readonly TenantNamespaces[];
  /** Only namespaces listed in `tenants` are billed; others are unattributed. Defaults to false. */
  readonly strict?: boolean;
}

export type Attribution =
  | { readonly kind: "tenant"; readonly tenant: string; readonly namespace: string }
  | { readonly kind: "unattributed"; readonly reason: string };

export interface TenantResolver {
  byNamespace(namespace: string | undefined): Attribution;
  byLimitadorNamespace(limitadorNamespace: string | undefined): Attribution;
}

export const createTenantResolver = (config: TenantMapConfig): TenantResolver => {
  const owner = new Map<string, string>();
  for (const t of config.tenants) {
    for (const ns of t.namespaces) {
      const previous = owner.get(ns);
      if (previous !== undefined && previous !== t.name) {
        throw new Error(`tenant map: namespace "${ns}" is listed under both "${previous}" and "${t.name}"`);
      }
      owner.set(ns, t.name);
    }
  }
  const byNamespace = (namespace: string | undefined): Attribution => {
    if (namespace === undefined || namespace === "") {
      return { kind: "unattributed", reason: "series has no namespace label" };
    }
    const tenant = owner.get(namespace) ?? (config.strict ? undefined : namespace);
    return tenant === undefined
      ? { kind: "unattributed", reason: `namespace "${namespace}" is not in the tenant map` }
      : { kind: "tenant", tenant, namespace };
  };
  return {
    byNamespace,
    byLimitadorNamespace(limitadorNamespace) {
      if (limitadorNamespace === undefined || limitadorNamespace === "") {
        return { kind: "unattributed", reason: "series has no limitador_namespace label" };
      }
      const slash = limitadorNamespace.indexOf("/");
      if (slash <= 0) {
        return {
          kind: "unattributed",
          reason: `limitador_namespace "${limitadorNamespace}" is not "<namespace>/<route>"`,
        };
      }
      return byNamespace(limitadorNamespace.slice(0, slash));
    },
  };
};
