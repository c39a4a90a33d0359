import { z } from "zod";
import { defaultImageRef, defaultImages } from "./images";

/*
 * Shared zod building blocks for stack config. Every error message says what was expected, what was
 * given and shows a right value, because the message is all an operator sees when `pulumi up` or
 * `npm run synth` refuses a config.
 */

const show = (v: unknown): string => (v === undefined ? "nothing" : JSON.stringify(v));

/** A string matching `pattern`; the error names the expectation, the input and an example. */
export function patternString(pattern: RegExp, expected: string, example: string) {
  return z
    .string({ error: (iss) => `expected ${expected}, got ${show(iss.input)}. Example: ${JSON.stringify(example)}` })
    .regex(pattern, { error: (iss) => `expected ${expected}, got ${show(iss.input)}. Example: ${JSON.stringify(example)}` })
    .meta({ examples: [example] });
}

/** RFC 1123 DNS label: what Kubernetes accepts as a namespace or a name part. */
export const dnsLabel = patternString(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "a lowercase DNS label (a-z, 0-9, '-', at most 63)", "maas-billing");

/** Kubernetes resource quantity ("20Gi", "500m"). Negative quantities are refused. */
export const k8sQuantity = patternString(
  /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/,
  "a non-negative Kubernetes quantity",
  "20Gi",
);

/** Prometheus duration ("15d", "1h30m"); a leading "-" never matches, so negative retention is refused. */
export const promDuration = patternString(/^([0-9]+(ms|s|m|h|d|w|y))+$/, "a Prometheus duration", "15d");

/** Prometheus size ("40GB") as used by --storage.tsdb.retention.size. */
export const promSize = patternString(/^[0-9]+(B|KB|MB|GB|TB|PB|EB)$/, "a Prometheus byte size", "40GB");

/** An image pinned by digest: the only form accepted for images this project builds. */
export const imageWithDigest = patternString(
  /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*@sha256:[a-f0-9]{64}$/,
  "an image reference pinned by digest (repo@sha256:<64 hex>)",
  "quay.io/example/maas-billing@sha256:" + "0".repeat(63) + "1",
);

/** A third-party image pinned by an exact tag or a digest; `:latest` and untagged refs are refused. */
export const pinnedImage = patternString(
  /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(@sha256:[a-f0-9]{64}|:(?!latest$)[A-Za-z0-9_][A-Za-z0-9._-]{0,127})$/,
  "an image pinned by digest or an exact tag other than latest",
  defaultImageRef(defaultImages.timescaledb),
);

const cpu = k8sQuantity.meta({ examples: ["500m"] });
const memory = k8sQuantity.meta({ examples: ["512Mi"] });

/** Container resources: requests and limits are both required (a security invariant). */
export const resources = z.strictObject({
  requests: z.strictObject({ cpu, memory }),
  limits: z.strictObject({ cpu, memory }),
});
export type Resources = z.infer<typeof resources>;

/** A host name as used in a Route or HTTPRoute. */
export const hostName = patternString(
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/,
  "a DNS host name",
  "billing.apps.example.com",
);

/** A Grafana of this program (tenant or platform): image, exposure, resources. */
export const grafanaSchema = z.strictObject({
  image: pinnedImage.default(defaultImageRef(defaultImages.grafana)).describe("Grafana image (docs/images.md)."),
  expose: z
    .strictObject({
      enabled: z.boolean().default(false).describe("Expose Grafana outside the cluster: a Route on openshift; on kubernetes an HTTPRoute, for the platform Grafana on a Gateway of its own (`platform.grafana.gateway`), for a tenant Grafana on the platform Gateway (known limitation, review R12: when the platform renders its Gateway AuthPolicy, that policy refuses requests without an API key on every route of that Gateway, a tenant Grafana's too; reach a tenant Grafana by port-forward there: docs/platform.md, Gateway enforcement step 4)."),
      host: hostName.optional().describe("Host name; required on kubernetes when exposed, optional on openshift (the router assigns one)."),
    })
    .prefault({})
    .describe("External access to Grafana."),
  resources: resources
    .default({ requests: { cpu: "50m", memory: "128Mi" }, limits: { cpu: "500m", memory: "512Mi" } })
    .describe("Resources of Grafana."),
});

export type GrafanaSettings = z.infer<typeof grafanaSchema>;
