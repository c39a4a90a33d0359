// The custom resources the product renders whose CRDs ../shared/crds does not hold (Alertmanager,
// AlertmanagerConfig: `platform.alerting`, off in the example stacks), checked by the real API server
// against the upstream CRDs tools/promoperator/fetch-crds.sh takes from the prometheus-operator module.
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import * as YAML from "yaml";
import { applyAll, objectId } from "./apply";
import { namespacesNotCreated } from "./cluster-state";
import type { KubeClient, KubeObject } from "./kube-client";
import { loadRender, renderStack } from "./render";
import { expect, type Report } from "./report";
import { prepareRender } from "./stages";

/** Where tools/promoperator/fetch-crds.sh writes the CRDs (git-ignored). */
export const extraCrdDir = (repoRoot: string) => resolve(repoRoot, "tools", "crds");

/** Receivers of both kinds, with credentials as Secret references (as docs/operations/alerting.md shows). */
const RECEIVERS = [
  { name: "ops-hook", webhook: { url: "https://alerts.example.com/maas", bearerTokenSecret: { name: "ops-hook", key: "token" } } },
  { name: "ops-mail", email: { to: "ops@example.com", from: "maas@example.com", smarthost: "smtp.example.com:587", authUsername: "maas", authPasswordSecret: { name: "smtp", key: "password" } } },
];

const kindId = (o: { apiVersion: string; kind: string }) => `${o.apiVersion}/${o.kind}`;

/** `apiVersion/kind` of every served version of the CRDs in `dirs`. */
function crdKinds(dirs: string[]): Set<string> {
  const kinds = new Set<string>();
  for (const dir of dirs) {
    for (const { object } of loadRender(dir)) {
      const spec = object.spec as { group: string; names: { kind: string }; versions: Array<{ name: string; served: boolean }> };
      for (const v of spec.versions.filter((v) => v.served)) kinds.add(`${spec.group}/${v.name}/${spec.names.kind}`);
    }
  }
  return kinds;
}

/**
 * Renders `stack` once more with `platform.alerting` set, on the cluster where `stack` was applied with
 * the shared and the extra CRDs installed: every kind of that render that no shared CRD covers must be
 * one of the extra CRDs (or built in), its objects must be accepted, and a wrong field must be refused.
 */
export async function alertingCrChecks(
  report: Report,
  admin: KubeClient,
  env: { repoRoot: string; stack: string; workDir: string; sharedCrdDir: string },
): Promise<void> {
  const base = YAML.parse(readFileSync(join(env.repoRoot, `Pulumi.${env.stack}.yaml`), "utf8"));
  base.config["maas-billing:platform"] = { ...base.config["maas-billing:platform"], alerting: { receivers: RECEIVERS } };
  const variant = `${env.stack}-alerting`;
  const configFile = join(env.workDir, `Pulumi.${variant}.yaml`);
  writeFileSync(configFile, YAML.stringify(base));
  const { objects } = prepareRender(renderStack(env.repoRoot, variant, join(env.workDir, "render"), configFile));

  const shared = crdKinds([env.sharedCrdDir]);
  const extra = crdKinds([extraCrdDir(env.repoRoot)]);
  const extraObjects = objects.filter((o) => extra.has(kindId(o)) && !shared.has(kindId(o)));

  await report.check(`${variant}: every custom resource kind without a CRD in ${env.sharedCrdDir} is covered by tools/crds`, async (detail) => {
    const uncovered: string[] = [];
    for (const id of new Set(objects.map(kindId))) {
      if (shared.has(id) || extra.has(id)) continue;
      // Not in any CRD: it must be a kind the API server itself serves.
      const [apiVersion, kind] = [id.slice(0, id.lastIndexOf("/")), id.slice(id.lastIndexOf("/") + 1)];
      try {
        await admin.resourceFor(apiVersion, kind);
      } catch (err) {
        uncovered.push(`${id} (${err instanceof Error ? err.message : String(err)})`);
      }
    }
    const rendered = [...new Set(extraObjects.map(kindId))];
    detail(`kinds only tools/crds covers: ${rendered.join(", ") || "(none)"}`);
    expect(uncovered.length === 0, `no schema for ${uncovered.join("; ")}`);
    expect(rendered.length > 0, "the alerting render has no Alertmanager/AlertmanagerConfig: the check would prove nothing");
  });

  await report.check(`${variant}: the API server (upstream CRD schemas, strict field validation) accepts every Alertmanager/AlertmanagerConfig`, async (detail) => {
    expect(extraObjects.length > 0, "nothing to apply");
    const namespaces = namespacesNotCreated(objects).map((name) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name } }) as KubeObject);
    const outcomes = await applyAll(admin, [...namespaces, ...extraObjects], "pulumi-kubernetes");
    for (const o of outcomes) detail(`${o.id}: HTTP ${o.status}${o.message ? ` ${o.message}` : ""}`);
    const refused = outcomes.filter((o) => o.status >= 300 || o.status === 0);
    expect(refused.length === 0, `${refused.length} object(s) refused`);
  });

  await report.check(`${variant}: the same objects with a deliberately wrong field are refused (the check can fail)`, async (detail) => {
    expect(extraObjects.length > 0, "nothing to try");
    for (const good of extraObjects) {
      // A string where the schema has an integer / an array, and a field the schema does not have.
      const wrongField = good.kind === "Alertmanager" ? ["replicas", "two"] : ["receivers", "ops-hook"];
      const wrongType = structuredClone(good) as KubeObject & { spec: Record<string, unknown> };
      wrongType.spec[wrongField[0]] = wrongField[1];
      const unknownField = structuredClone(good) as KubeObject & { spec: Record<string, unknown> };
      unknownField.spec.receiverz = [];
      for (const [what, field, bad] of [
        [`spec.${wrongField[0]}: "${wrongField[1]}"`, `spec.${wrongField[0]}`, wrongType],
        ["unknown field spec.receiverz", "spec.receiverz", unknownField],
      ] as const) {
        const res = await admin.apply(bad, "e2e-wrong-field", { dryRun: true });
        const message = String(res.body?.message ?? "");
        detail(`${objectId(good)} with ${what}: HTTP ${res.status} ${message.slice(0, 240)}`);
        // Server-side apply answers a type error while building the typed patch (500 on this
        // kube-apiserver) and an unknown field under fieldValidation=Strict with 422; either way the
        // object is refused and the message names the field.
        expect(res.status >= 400 && message.includes(field), `${objectId(good)} with ${what} was not refused naming ${field} (HTTP ${res.status})`);
      }
    }
  });
}
