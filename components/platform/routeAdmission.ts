import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { appLabels } from "./security";

/** Namespace annotation listing a tenant's route domains (comma-separated), read by the admission policy. */
export const routeDomainsAnnotation = "maas-billing.io/route-domains";
/** Namespace label carrying the tenant (tenantAccess.ts); the policy binds to namespaces that have it. */
export const tenantNamespaceLabel = "maas.opendatahub.io/tenant";
export const routeAdmissionPolicyName = "maas-tenant-route-hostnames";

/** `matchConstraints` of a policy on these resources in every tenant namespace (those carrying the tenant label). */
export function tenantMatchConstraints(resourceRules: Record<string, unknown>[]): Record<string, unknown> {
  return { resourceRules, namespaceSelector: { matchExpressions: [{ key: tenantNamespaceLabel, operator: "Exists" }] } };
}

/**
 * A tenant's HTTPRoute may only name hostnames inside the tenant's configured domains
 * (`platform.tenants[].domains`, written on its namespaces as an annotation that only the platform can
 * set: a tenant admin cannot edit its Namespace objects). Without it a tenant route with the billing
 * hostname and `Exact /v1/events`, or with another tenant's model hostname, wins by Gateway API
 * precedence and receives the callers' bearer tokens and API keys (issue #14 hole 4). A route without
 * hostnames matches every hostname of the Gateway's listener, so it is refused too.
 * `h == d || h.endsWith('.' + d)` also covers wildcard hostnames (`*.a.example.com` is inside `a.example.com`).
 *
 * And a tenant route may attach to the shared Gateway (`platform.gateway`) only (review R12): the
 * platform's Gateway policies (the AuthPolicy's API-key identity, quota and tier rules, the metering
 * TokenRateLimitPolicy) target that Gateway and Kuadrant enforces them on the routes attached to it
 * only. A tenant model route on another Gateway (the platform's own billing or Grafana Gateway, whose
 * allowedRoutes already refuse tenant namespaces, or any other Gateway of the cluster that admits
 * them) would escape them: anonymous, unquota'd, unmetered.
 */
export function routeHostnamePolicySpec(gateway: { readonly name: string; readonly namespace: string }): Record<string, unknown> {
  const shared = `${gateway.namespace}/${gateway.name}`;
  return {
    failurePolicy: "Fail",
    matchConstraints: tenantMatchConstraints([
      { apiGroups: ["gateway.networking.k8s.io"], apiVersions: ["*"], operations: ["CREATE", "UPDATE"], resources: ["httproutes", "grpcroutes"] },
    ]),
    variables: [
      {
        name: "domains",
        expression: `has(namespaceObject.metadata.annotations) && '${routeDomainsAnnotation}' in namespaceObject.metadata.annotations ? namespaceObject.metadata.annotations['${routeDomainsAnnotation}'].split(',').filter(d, d != '') : []`,
      },
      { name: "hostnames", expression: "has(object.spec.hostnames) ? object.spec.hostnames : []" },
      { name: "parents", expression: "has(object.spec.parentRefs) ? object.spec.parentRefs : []" },
    ],
    validations: [
      {
        expression: "size(variables.hostnames) > 0",
        messageExpression: "'a tenant route must name its hostnames (within ' + variables.domains.join(', ') + '): without hostnames it matches every host of the shared Gateway'",
        reason: "Forbidden",
      },
      {
        expression: "variables.hostnames.all(h, variables.domains.exists(d, h == d || h.endsWith('.' + d)))",
        messageExpression:
          "'hostnames ' + variables.hostnames.filter(h, !variables.domains.exists(d, h == d || h.endsWith('.' + d))).join(', ') + ' are outside this tenant\\'s domains (' + variables.domains.join(', ') + '); the platform admin sets them in platform.tenants[].domains'",
        reason: "Forbidden",
      },
      {
        // Gateway API defaults: group gateway.networking.k8s.io, kind Gateway, namespace the route's own.
        expression: `variables.parents.all(p, (has(p.group) ? p.group : 'gateway.networking.k8s.io') == 'gateway.networking.k8s.io' && (has(p.kind) ? p.kind : 'Gateway') == 'Gateway' && p.name == '${gateway.name}' && (has(p.namespace) ? p.namespace : object.metadata.namespace) == '${gateway.namespace}')`,
        messageExpression: `'a tenant route may attach to the shared Gateway ${shared} only (its parentRefs name ' + variables.parents.map(p, (has(p.namespace) ? p.namespace : object.metadata.namespace) + '/' + p.name).join(', ') + '): the platform\\'s policies (API-key identity, quota, tiers, metering) are enforced there, and the other Gateways are the platform\\'s own for the billing API and Grafana'`,
        reason: "Forbidden",
      },
    ],
  };
}

/**
 * A ValidatingAdmissionPolicy and its binding (Deny): children `${name}-${role}-policy` and
 * `${name}-${role}-binding`, both named `policyName` in the cluster.
 */
export function createDenyingAdmissionPolicy(name: string, role: string, policyName: string, spec: Record<string, unknown>, parent: pulumi.Resource): void {
  const labels = appLabels(policyName, "admission");
  const policy = new k8s.admissionregistration.v1.ValidatingAdmissionPolicy(`${name}-${role}-policy`, { metadata: { name: policyName, labels }, spec }, { parent });
  new k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
    `${name}-${role}-binding`,
    { metadata: { name: policyName, labels }, spec: { policyName: policy.metadata.name, validationActions: ["Deny"] } },
    { parent },
  );
}

/** The policy and its binding (Deny) for every tenant namespace; `gateway` is `platform.gateway`. */
export function createRouteAdmission(name: string, gateway: { readonly name: string; readonly namespace: string }, parent: pulumi.Resource): void {
  createDenyingAdmissionPolicy(name, "route-admission", routeAdmissionPolicyName, routeHostnamePolicySpec(gateway), parent);
}
