/*
 * Security invariants over a whole render: every pod runs as non-root without privilege escalation,
 * drops ALL capabilities, uses the RuntimeDefault seccomp profile and sets requests and limits; no
 * image is unpinned or `:latest` and our own images are pinned by digest; no secret value appears in
 * plain text outside a Secret or a secret output; no known default password; config files hold
 * secrets only as `secure:` values.
 */
import * as YAML from "yaml";
import type { K8sObject, RecordedResource, RenderedObject } from "../../scripts/render";

export interface InvariantViolation {
  /** Short rule id, e.g. `non-root`. */
  rule: string;
  /** `Kind/namespace/name` (or a file name) at fault. */
  where: string;
  message: string;
}

/** What the checks need of a render (scripts/render RenderResult satisfies it). */
export interface RenderForInvariants {
  objects: readonly RenderedObject[];
  resources?: readonly RecordedResource[];
  outputs: Record<string, unknown>;
  secretOutputs: readonly string[];
  secretValues: readonly string[];
}

export interface InvariantOptions {
  /** Images this project builds: they must be pinned by digest. Default: names containing `maas-billing`. */
  ownImage?: RegExp;
}

type Container = {
  name?: string;
  image?: string;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    allowPrivilegeEscalation?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type?: string };
  };
};
type PodSpec = {
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type?: string } };
  containers?: Container[];
  initContainers?: Container[];
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  volumes?: { hostPath?: unknown; name?: string }[];
};

/** Known default or sample passwords (000's `changeme-please` among them). */
export const defaultPasswords = new Set(["changeme-please", "changeme", "change-me", "admin", "password", "postgres", "secret", "root", "123456", "billing", "grafana", "prom-operator"]);

const id = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? "_"}/${o.metadata.name ?? "?"}`;

/** The pod spec of a workload object, if it has one. */
export function podSpecOf(o: K8sObject): PodSpec | undefined {
  const spec = o.spec as Record<string, any> | undefined;
  if (!spec) return undefined;
  switch (o.kind) {
    case "Pod":
      return spec as PodSpec;
    case "Deployment":
    case "StatefulSet":
    case "DaemonSet":
    case "ReplicaSet":
    case "Job":
      return spec.template?.spec as PodSpec | undefined;
    case "CronJob":
      return spec.jobTemplate?.spec?.template?.spec as PodSpec | undefined;
    default:
      return undefined;
  }
}

function checkPod(o: K8sObject, pod: PodSpec, ownImage: RegExp): InvariantViolation[] {
  const v: InvariantViolation[] = [];
  const where = id(o);
  const add = (rule: string, message: string) => v.push({ rule, where, message });
  const podCtx = pod.securityContext ?? {};
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) add("host-namespaces", "uses host network/PID/IPC");
  for (const vol of pod.volumes ?? []) if (vol.hostPath) add("host-path", `volume ${vol.name} is a hostPath`);
  for (const c of [...(pod.containers ?? []), ...(pod.initContainers ?? [])]) {
    const ctx = c.securityContext ?? {};
    const cn = `container ${c.name}`;
    const nonRoot = ctx.runAsNonRoot ?? podCtx.runAsNonRoot;
    const uid = ctx.runAsUser ?? podCtx.runAsUser;
    if (nonRoot !== true || uid === 0) add("non-root", `${cn} may run as root (runAsNonRoot must be true, runAsUser not 0)`);
    if (ctx.allowPrivilegeEscalation !== false) add("no-privilege-escalation", `${cn} does not set allowPrivilegeEscalation: false`);
    if (ctx.privileged === true) add("no-privilege-escalation", `${cn} is privileged`);
    if (!(ctx.capabilities?.drop ?? []).includes("ALL")) add("drop-all-capabilities", `${cn} does not drop ALL capabilities`);
    const added = (ctx.capabilities?.add ?? []).filter((cap) => cap !== "NET_BIND_SERVICE");
    if (added.length > 0) add("drop-all-capabilities", `${cn} adds capabilities ${added.join(", ")}`);
    const seccomp = ctx.seccompProfile?.type ?? podCtx.seccompProfile?.type;
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") add("seccomp", `${cn} has no RuntimeDefault seccomp profile`);
    for (const kind of ["requests", "limits"] as const) {
      for (const res of ["cpu", "memory"]) {
        if (c.resources?.[kind]?.[res] === undefined) add("resources", `${cn} has no ${kind}.${res}`);
      }
    }
    const image = c.image ?? "";
    const digest = /@sha256:[a-f0-9]{64}$/.test(image);
    const tag = /:[^/:@]+$/.exec(image.replace(/@sha256:[a-f0-9]{64}$/, ""))?.[0].slice(1);
    if (tag === "latest") add("image-pinned", `${cn} uses :latest (${image})`);
    else if (!digest && tag === undefined) add("image-pinned", `${cn} image ${image} has neither tag nor digest`);
    if (ownImage.test(image) && !digest) add("own-image-digest", `${cn} image ${image} is ours and must be pinned by digest`);
    for (const e of c.env ?? []) {
      // Names ending in _FILE/_PATH/_DIR hold where a secret lives, not the secret.
      const namesSecret = /pass(word)?|secret|token|api_?key|credential/i.test(e.name) && !/_(FILE|PATH|DIR)$/i.test(e.name);
      if (namesSecret && e.value !== undefined && e.value !== "") {
        add("no-plaintext-secret", `${cn} env ${e.name} has a literal value; use valueFrom.secretKeyRef`);
        if (defaultPasswords.has(e.value)) add("no-default-password", `${cn} env ${e.name} is a default password`);
      }
    }
  }
  return v;
}

/** All string leaves of a value with their paths. */
function strings(value: unknown, at = ""): { path: string; value: string }[] {
  if (typeof value === "string") return [{ path: at, value }];
  if (Array.isArray(value)) return value.flatMap((v, i) => strings(v, `${at}[${i}]`));
  if (value !== null && typeof value === "object") return Object.entries(value).flatMap(([k, v]) => strings(v, at ? `${at}.${k}` : k));
  return [];
}

/** Credential entries of a Secret (keys naming a password, token or key): stringData as is, data base64-decoded. */
function secretCredentials(o: K8sObject): [string, string][] {
  const plain = Object.entries((o.stringData as Record<string, string> | undefined) ?? {});
  const encoded = Object.entries((o.data as Record<string, string> | undefined) ?? {}).map(
    ([k, b]) => [k, Buffer.from(b, "base64").toString("utf8")] as [string, string],
  );
  return [...plain, ...encoded].filter(([k]) => /pass(word)?|secret|token|key/i.test(k));
}

/** Every violation in a render; empty when all invariants hold. */
export function checkSecurityInvariants(render: RenderForInvariants, options: InvariantOptions = {}): InvariantViolation[] {
  const ownImage = options.ownImage ?? /maas-billing/;
  const violations: InvariantViolation[] = [];
  for (const { object: o } of render.objects) {
    const pod = podSpecOf(o);
    if (pod) violations.push(...checkPod(o, pod, ownImage));
    if (o.kind === "Prometheus") {
      // prometheus-operator builds the pod; its spec.securityContext is the pod security context.
      const ctx = (o.spec as { securityContext?: PodSpec["securityContext"] } | undefined)?.securityContext ?? {};
      if (ctx.runAsNonRoot !== true) violations.push({ rule: "non-root", where: id(o), message: "Prometheus spec.securityContext.runAsNonRoot is not true" });
    }
    if (o.kind === "Secret") {
      for (const [key, value] of secretCredentials(o)) {
        if (defaultPasswords.has(value)) violations.push({ rule: "no-default-password", where: id(o), message: `${key} holds the default password "${value}"` });
      }
    }
    // Generated secrets may live only in Secret payloads.
    const scanned = o.kind === "Secret" ? { ...o, data: undefined, stringData: undefined } : o;
    for (const leaf of strings(scanned)) {
      if (render.secretValues.some((s) => leaf.value.includes(s))) {
        violations.push({ rule: "no-plaintext-secret", where: id(o), message: `${leaf.path} holds a generated secret in plain text` });
      }
    }
  }
  for (const [key, value] of Object.entries(render.outputs)) {
    if (render.secretOutputs.includes(key)) continue;
    for (const leaf of strings(value, key)) {
      if (render.secretValues.some((s) => leaf.value.includes(s))) {
        violations.push({ rule: "no-plaintext-secret", where: `output ${key}`, message: `${leaf.path} exports a generated secret without pulumi.secret` });
      }
    }
  }
  for (const r of render.resources ?? []) {
    if (r.type === "random:index/randomString:RandomString") {
      violations.push({ rule: "random-password", where: r.name, message: "RandomString is not a secret output; generate credentials with RandomPassword" });
    }
  }
  return violations;
}

/** Config keys that name a credential. */
const credentialKey = /pass(word)?|secret|token|api_?key|credential|private_?key/i;
/** Keys that price or count tokens (the price book's `inputPerMillionTokens`): a quantity, not a credential. */
const tokenQuantityKey = /per\w*tokens$/i;
const namesCredential = (key: string) => credentialKey.test(key) && !tokenQuantityKey.test(key);

/**
 * Plaintext secrets in a Pulumi.<stack>.yaml: every key naming a credential must hold a `secure:`
 * value (set with `pulumi config set --secret`).
 */
export function checkConfigFileSecrets(text: string, fileName: string): InvariantViolation[] {
  const doc = (YAML.parse(text) ?? {}) as { config?: Record<string, unknown> };
  const violations: InvariantViolation[] = [];
  const walk = (value: unknown, at: string, keyName: string) => {
    const isSecure = value !== null && typeof value === "object" && !Array.isArray(value) && "secure" in value;
    if (isSecure) return;
    if (namesCredential(keyName) && (typeof value === "string" || typeof value === "number")) {
      violations.push({ rule: "no-plaintext-secret", where: fileName, message: `${at} is a plaintext credential; use pulumi config set --secret` });
    }
    if (typeof value === "string" && defaultPasswords.has(value) && namesCredential(keyName)) {
      violations.push({ rule: "no-default-password", where: fileName, message: `${at} is a default password` });
    }
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${at}[${i}]`, keyName));
    else if (value !== null && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) walk(v, `${at}.${k}`, k);
    }
  };
  for (const [k, v] of Object.entries(doc.config ?? {})) walk(v, k, k.split(":").pop() ?? k);
  return violations;
}
