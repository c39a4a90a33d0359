/*
 * Tenant isolation checks over renders (issue #4). Each returns a list of violations; empty means the
 * property holds. Tests run them on the example tenants and on deliberately broken copies.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import type { K8sObject, RenderResult } from "../../scripts/render";
import { crdsDir } from "./conformance";

export interface IsolationViolation {
  rule: "shared-name" | "shared-secret" | "scrape-path" | "cluster-scoped" | "foreign-namespace";
  where: string;
  message: string;
}

const id = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? "_"}/${o.metadata.name ?? "?"}`;

/**
 * Namespaced built-in kinds (Kubernetes API reference). Anything not listed here nor declared
 * `scope: Namespaced` by a CRD counts as cluster-scoped: unknown kinds fail closed.
 */
const NAMESPACED_BUILTINS = new Set([
  "v1/ConfigMap", "v1/Secret", "v1/Service", "v1/ServiceAccount", "v1/Pod", "v1/PersistentVolumeClaim",
  "v1/Endpoints", "v1/LimitRange", "v1/ResourceQuota", "apps/v1/Deployment", "apps/v1/StatefulSet",
  "apps/v1/DaemonSet", "apps/v1/ReplicaSet", "batch/v1/Job", "batch/v1/CronJob",
  "networking.k8s.io/v1/NetworkPolicy", "networking.k8s.io/v1/Ingress", "rbac.authorization.k8s.io/v1/Role",
  "rbac.authorization.k8s.io/v1/RoleBinding", "policy/v1/PodDisruptionBudget", "autoscaling/v2/HorizontalPodAutoscaler",
]);

const scopeCache = new Map<string, Set<string>>();

/** `group/version/Kind` of every namespaced custom resource in the CRD directory (read once per directory). */
export function namespacedCustomKinds(dir: string = crdsDir()): Set<string> {
  const cached = scopeCache.get(dir);
  if (cached) return cached;
  const kinds = new Set<string>();
  scopeCache.set(dir, kinds);
  for (const file of fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))) {
    for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(dir, file), "utf8"))) {
      const crd = doc.toJS() as { kind?: string; spec?: { group: string; scope: string; names: { kind: string }; versions: { name: string }[] } } | null;
      if (crd?.kind !== "CustomResourceDefinition" || crd.spec?.scope !== "Namespaced") continue;
      for (const v of crd.spec.versions) kinds.add(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`);
    }
  }
  return kinds;
}

/** No cluster-scoped object, and every object in one of the tenant's own namespaces. */
export function checkTenantScope(render: RenderResult, ownNamespaces: string[], namespacedCrds = namespacedCustomKinds()): IsolationViolation[] {
  const violations: IsolationViolation[] = [];
  for (const { object: o } of render.objects) {
    const gvk = `${o.apiVersion}/${o.kind}`;
    if (!NAMESPACED_BUILTINS.has(gvk) && !namespacedCrds.has(gvk)) {
      violations.push({ rule: "cluster-scoped", where: id(o), message: `${gvk} is cluster-scoped (or of unknown scope); a tenant stack declares none` });
    } else if (!o.metadata.namespace || !ownNamespaces.includes(o.metadata.namespace)) {
      violations.push({ rule: "foreign-namespace", where: id(o), message: `namespace ${o.metadata.namespace ?? "(none)"} is not one of ${ownNamespaces.join(", ")}` });
    }
  }
  return violations;
}

/** Two tenant renders share no Kubernetes object identity, no object name, no Pulumi name and no secret. */
export function checkNothingShared(a: RenderResult, b: RenderResult): IsolationViolation[] {
  const violations: IsolationViolation[] = [];
  const names = (r: RenderResult) => new Map(r.objects.map((o) => [o.object.metadata.name ?? "?", id(o.object)]));
  const namesB = names(b);
  for (const [name, where] of names(a)) {
    if (namesB.has(name)) violations.push({ rule: "shared-name", where, message: `object name "${name}" is also used by ${namesB.get(name)}` });
  }
  const urns = new Set(b.resources.map((r) => `${r.type}::${r.name}`));
  for (const r of a.resources) {
    if (r.type === "pulumi:pulumi:StackReference") continue; // both read the same platform, by design
    if (r.type.startsWith("pulumi:providers:")) continue; // each stack's own provider instance, in its own state
    if (urns.has(`${r.type}::${r.name}`)) violations.push({ rule: "shared-name", where: `${r.type}::${r.name}`, message: "Pulumi resource name used by both tenants" });
  }
  const secretsB = new Set(b.secretValues);
  a.secretValues.forEach((s, i) => {
    if (secretsB.has(s)) violations.push({ rule: "shared-secret", where: `secret value #${i}`, message: "a generated secret value appears in both tenants" });
  });
  // The same credential payload in two tenants' Secrets (e.g. a copied key) is shared too.
  const payloads = (r: RenderResult) =>
    new Map(
      r.objects
        .filter((o) => o.object.kind === "Secret")
        .flatMap((o) => Object.values({ ...((o.object.stringData as Record<string, string>) ?? {}), ...((o.object.data as Record<string, string>) ?? {}) }).map((v) => [v, id(o.object)] as const))
        .filter(([v]) => v !== "admin"),
    );
  const payloadsB = payloads(b);
  for (const [value, where] of payloads(a)) {
    if (payloadsB.has(value)) violations.push({ rule: "shared-secret", where, message: `Secret payload also held by ${payloadsB.get(value)}` });
  }
  return violations;
}

interface ScrapeConfig {
  job_name: string;
  scheme?: string;
  metrics_path?: string;
  static_configs?: { targets: string[] }[];
  [key: string]: unknown;
}

/** Every Prometheus config in a render: ConfigMap data values that hold `scrape_configs`. */
export function prometheusConfigs(render: RenderResult): { where: string; config: { scrape_configs?: ScrapeConfig[]; remote_read?: unknown } }[] {
  const found: { where: string; config: { scrape_configs?: ScrapeConfig[]; remote_read?: unknown } }[] = [];
  for (const { object: o } of render.objects) {
    if (o.kind !== "ConfigMap") continue;
    for (const [key, text] of Object.entries((o.data as Record<string, string>) ?? {})) {
      let parsed: unknown;
      try {
        parsed = YAML.parse(text);
      } catch {
        continue;
      }
      if (parsed && typeof parsed === "object" && ("scrape_configs" in parsed || "remote_read" in parsed)) {
        found.push({ where: `${id(o)}[${key}]`, config: parsed as { scrape_configs?: ScrapeConfig[] } });
      }
    }
  }
  return found;
}

/**
 * Every scrape of the tenant Prometheus goes to one of the tenant's platform-enforced proxy
 * endpoints (or to itself): static targets only, no service discovery, no remote read, and no
 * credentials of its own.
 */
export function checkScrapePaths(render: RenderResult, allowedBaseUrls: string[]): IsolationViolation[] {
  const allowed = new Set(
    allowedBaseUrls.map((u) => {
      const url = new URL(u);
      const port = url.port || (url.protocol === "https:" ? "443" : "80");
      return `${url.protocol.replace(":", "")}://${url.hostname}:${port}${url.pathname.replace(/\/+$/, "")}/federate`;
    }),
  );
  const violations: IsolationViolation[] = [];
  const configs = prometheusConfigs(render);
  if (configs.length === 0) violations.push({ rule: "scrape-path", where: "render", message: "no Prometheus config found to check" });
  for (const { where, config } of configs) {
    if (config.remote_read) violations.push({ rule: "scrape-path", where, message: "remote_read bypasses the proxies" });
    for (const job of config.scrape_configs ?? []) {
      const at = `${where} job ${job.job_name}`;
      const extraKeys = Object.keys(job).filter((k) => k.endsWith("_sd_configs") || ["authorization", "bearer_token", "bearer_token_file", "basic_auth", "oauth2", "proxy_url"].includes(k));
      for (const k of extraKeys) violations.push({ rule: "scrape-path", where: at, message: `${k} is not allowed: only static targets on the tenant's proxies` });
      for (const target of (job.static_configs ?? []).flatMap((s) => s.targets)) {
        const isSelf = target === "localhost:9090" && (job.metrics_path ?? "/metrics") === "/metrics";
        const url = `${job.scheme ?? "http"}://${target}${job.metrics_path ?? "/metrics"}`;
        if (!isSelf && !allowed.has(url)) violations.push({ rule: "scrape-path", where: at, message: `${url} is not one of the tenant's enforced endpoints` });
      }
    }
  }
  return violations;
}
