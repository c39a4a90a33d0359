import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { appLabels } from "./security";

/** Namespace annotation listing a tenant's route domains (comma-separated), read by the admission policy. */
export const routeDomainsAnnotation = "maas-billing.io/route-domains";
/** Namespace label carrying the tenant (tenantAccess.ts); the policy binds to namespaces that have it. */
export const tenantNamespaceLabel = "maas.opendatahub.io/tenant";
export const routeAdmissionPolicyName = "maas-tenant-route-hostnames";

/**
 * A tenant's HTTPRoute may only name hostnames inside the tenant's configured domains
 * (`platform.tenants[].domains`, written on its namespaces as an annotation that only the platform can
 * set: a tenant admin cannot edit its Namespace objects). Without it a tenant route with the billing
 * hostname and `Exact /v1/events`, or with another tenant's model hostname, wins by Gateway API
 * precedence and receives the callers' bearer tokens and API keys (issue #14 hole 4). A route without
 * hostnames matches every hostname of the Gateway's listener, so it is refused too.
 * `h == d || h.endsWith('.' + d)` also covers wildcard hostnames (`*.a.example.com` is inside `a.example.com`).
 */
export function routeHostnamePolicySpec(): Record<string, unknown> {
  return {
    failurePolicy: "Fail",
    matchConstraints: {
      resourceRules: [
        { apiGroups: ["gateway.networking.k8s.io"], apiVersions: ["*"], operations: ["CREATE", "UPDATE"], resources: ["httproutes", "grpcroutes"] },
      ],
      namespaceSelector: { matchExpressions: [{ key: tenantNamespaceLabel, operator: "Exists" }] },
    },
    variables: [
      {
        name: "domains",
        expression: `has(namespaceObject.metadata.annotations) && '${routeDomainsAnnotation}' in namespaceObject.metadata.annotations ? namespaceObject.metadata.annotations['${routeDomainsAnnotation}'].split(',').filter(d, d != '') : []`,
      },
      { name: "hostnames", expression: "has(object.spec.hostnames) ? object.spec.hostnames : []" },
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

/** The policy and its binding (Deny) for every tenant namespace. */
export function createRouteAdmission(name: string, parent: pulumi.Resource): void {
  createDenyingAdmissionPolicy(name, "route-admission", routeAdmissionPolicyName, routeHostnamePolicySpec(), parent);
}
