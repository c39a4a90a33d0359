/*
 * Engine stage of `npm run e2e`: the real Pulumi engine (CLI + kubernetes and random providers from
 * tools/bin) runs the project's program against the loopback kube-apiserver.
 *
 *  platform-kubernetes: preview, up (cluster admin)
 *  tenant-a, tenant-b: up as their tenant admins (only the platform's Role), reading the platform
 *    through a real StackReference
 *  day 2, each `preview --diff` (text checked) then `up`: rotate one API key, change a price, add a
 *    tenant, remove a tenant; the pull-request preview script on the price change
 *  refresh: no drift; destroy tenant-b: platform and tenant-a untouched; destroy tenant-a and the
 *    platform: the Limitador CustomResourcePatch releases its field, the CR stays.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import type { Stack } from "@pulumi/pulumi/automation";
import { installCrds } from "../stages";
import { startControlPlane, type ControlPlane } from "../control-plane";
import { applyAll } from "../apply";
import { installerGateway, preexistingTargetOf } from "../cluster-state";
import { expect, type Report } from "../report";
import type { KubeObject } from "../kube-client";
import { ADDED_TENANT, PLATFORM_STACK, platformConfig, tenantConfig, withChangedPrice, withRotatedKey } from "./configs";
import { changedKeys, changedResourceLines, changes, differingPaths, liveVersions, objectKey, stackObjects } from "./live";
import { EngineStacks, stackRef } from "./workspace";

const TENANTS = ["tenant-a", "tenant-b"];
const ROTATED = { tenant: "tenant-a", key: "alice" };
/** The pod-template annotation carrying the price book's checksum (components/platform/billingService.ts). */
const PRICE_BOOK_ANNOTATION = "maas.opendatahub.io/price-book";

export interface EngineStageEnv {
  repoRoot: string;
  binDir: string;
  /** ../shared/crds and tools/crds (tools/promoperator/fetch-crds.sh). */
  crdDirs: string[];
  workDir: string;
}

const admins = (tenant: string) => ({ user: `${tenant}-admin`, groups: [`${tenant}-admins`] });

export async function engineStage(report: Report, env: EngineStageEnv): Promise<void> {
  process.env.PATH = `${env.binDir}:${process.env.PATH ?? ""}`;
  const cp = await startControlPlane(env.binDir, join(env.workDir, "cluster"), [...TENANTS, ADDED_TENANT].map(admins), {
    noGarbageCollector: true,
  });
  await installCrds(report, cp.admin, env.crdDirs);
  const stacks = new EngineStacks({ repoRoot: env.repoRoot, binDir: env.binDir, workDir: env.workDir });

  let platformCfg = platformConfig(env.repoRoot, TENANTS);
  const { limitador: limitadorTarget, sharedGateway } = await preexisting(report, cp, platformCfg);
  stacks.writeConfig(PLATFORM_STACK, platformCfg);
  const platform = await stacks.open(PLATFORM_STACK, cp.kubeconfigFor("e2e-cluster-admin"));

  const previewed = await report.check(`engine: ${PLATFORM_STACK} preview (cluster admin)`, async (detail) => {
    const p = await platform.preview();
    detail(`plan: ${JSON.stringify(p.changeSummary)}`);
    expect((p.changeSummary.create ?? 0) > 20, "the preview plans fewer than 20 creates");
    expect(Object.keys(changes(p.changeSummary)).every((op) => op === "create"), "a first preview plans something other than creates");
  });
  if (!previewed) return;
  const platformUp = await report.check(`engine: ${PLATFORM_STACK} up`, async (detail) => {
    const up = await platform.up();
    const objects = await stackObjects(platform);
    const live = await liveVersions(cp.admin, objects);
    const absent = [...live].filter(([, v]) => v === "absent").map(([k]) => k);
    detail(`changes: ${JSON.stringify(up.summary.resourceChanges)}; ${objects.length} Kubernetes objects in state, ${objects.length - absent.length} on the API server`);
    expect(absent.length === 0, `in state but not on the API server: ${absent.join(", ")}`);
  });
  if (!platformUp) return;
  await sharedGatewayUntouched(report, cp, sharedGateway, { name: platformCfg.platform.billing.gateway?.name ?? "maas-billing", namespace: platformCfg.platform.gateway.namespace });

  const tenantStacks = new Map<string, Stack>();
  for (const tenant of TENANTS) {
    stacks.writeConfig(tenant, tenantConfig(env.repoRoot, tenant));
    const stack = await stacks.open(tenant, cp.kubeconfigFor(`${tenant}-admin`));
    tenantStacks.set(tenant, stack);
    await tenantUp(report, cp, platform, stack, tenant);
  }

  // Day 2: rotate one API key.
  const tenantA = tenantStacks.get(ROTATED.tenant)!;
  await report.check(`engine: rotate ${ROTATED.tenant}'s key "${ROTATED.key}": preview --diff names only that key; up replaces its value and updates only its Secret, in place`, async (detail) => {
    const objects = await stackObjects(tenantA);
    const before = await liveVersions(cp.admin, objects);
    stacks.writeConfig(ROTATED.tenant, withRotatedKey(tenantConfig(env.repoRoot, ROTATED.tenant), ROTATED.key));
    const p = await tenantA.preview({ diff: true, color: "never" });
    const ops = changes(p.changeSummary);
    detail(`preview: ${JSON.stringify(ops)}`);
    const changedUrns = changedResourceLines(p.stdout);
    detail(`resources in the diff: ${changedUrns.join(", ")}`);
    expect(changedUrns.length > 0 && changedUrns.every((u) => u.includes(`apikey-${ROTATED.key}`)), "the diff names resources other than the rotated key");
    expect(!/\b[A-Za-z0-9]{48}\b/.test(p.stdout.replace(/urn:pulumi:\S+/g, "")), "the diff shows a 48-character key value");
    const up = await tenantA.up();
    detail(`up: ${JSON.stringify(changes(up.summary.resourceChanges))}`);
    const after = await liveVersions(cp.admin, objects);
    const changed = changedKeys(before, after);
    detail(`changed on the API server: ${changed.join(", ")}`);
    expect(changed.length === 1 && changed[0] === `Secret ${ROTATED.tenant}-models/${ROTATED.tenant}-apikey-${ROTATED.key}`, "not exactly the rotated key's Secret changed");
  });

  // Day 2: change a price. The pull-request preview script runs on this change first.
  const { config: priced, from, to } = withChangedPrice(platformCfg);
  await report.check(`engine: change a price (${from} -> ${to}): preview --diff shows the price book and the checksum annotation; up changes the Deployment's checksum annotation only`, async (detail) => {
    const objects = await stackObjects(platform);
    const deployment = objects.find((o) => o.kind === "Deployment" && o.name === "maas-billing-api");
    expect(deployment !== undefined, "no maas-billing-api Deployment in the platform state");
    const before = await liveVersions(cp.admin, objects);
    const deploymentBefore = (await cp.admin.get(deployment.apiVersion, deployment.kind, deployment.namespace, deployment.name)).body;
    platformCfg = priced;
    stacks.writeConfig(PLATFORM_STACK, platformCfg);
    const p = await platform.preview({ diff: true, color: "never" });
    detail(`preview: ${JSON.stringify(changes(p.changeSummary))}; resources: ${changedResourceLines(p.stdout).join(", ")}`);
    expect(p.stdout.includes(to), `the diff does not show the new price ${to}`);
    expect(p.stdout.includes(PRICE_BOOK_ANNOTATION), "the diff does not show the checksum annotation");
    await prPreviewComment(report, env, stacks, to);
    const up = await platform.up();
    detail(`up: ${JSON.stringify(changes(up.summary.resourceChanges))}`);
    const after = await liveVersions(cp.admin, objects);
    const changed = changedKeys(before, after);
    detail(`changed on the API server: ${changed.join(", ")}`);
    const deploymentAfter = (await cp.admin.get(deployment.apiVersion, deployment.kind, deployment.namespace, deployment.name)).body;
    const paths = differingPaths(deploymentBefore, deploymentAfter);
    detail(`Deployment fields changed: ${paths.join(", ")}`);
    expect(paths.length === 1 && paths[0].startsWith(`spec.template.metadata.annotations.${PRICE_BOOK_ANNOTATION}`), "the Deployment changed beyond its checksum annotation");
    expect(changed.every((k) => k === objectKey(deployment) || k.startsWith("ConfigMap ")), "objects other than the Deployment and price-book ConfigMap changed");
  });

  // Day 2: add a tenant (platform registers it; its admin then runs its stack).
  const tenantC = await report.check(`engine: add ${ADDED_TENANT}: platform preview --diff creates only (nothing replaced or deleted); up; ${ADDED_TENANT} up as its admin`, async (detail) => {
    platformCfg = { ...platformCfg, platform: { ...platformCfg.platform, tenants: [...platformCfg.platform.tenants, { ...platformCfg.platform.tenants[0], name: ADDED_TENANT, namespaces: [`${ADDED_TENANT}-models`, `${ADDED_TENANT}-monitoring`], domains: [`${ADDED_TENANT}.apps.example.com`], adminGroup: `${ADDED_TENANT}-admins` }] } };
    stacks.writeConfig(PLATFORM_STACK, platformCfg);
    const p = await platform.preview({ diff: true, color: "never" });
    const ops = changes(p.changeSummary);
    detail(`platform preview: ${JSON.stringify(ops)}; changed: ${changedResourceLines(p.stdout).join(", ")}`);
    expect((ops.create ?? 0) > 0 && !ops.delete && !ops.replace, "adding a tenant plans deletes or replacements");
    expect(p.stdout.includes(`${ADDED_TENANT}-models`), `the diff does not show ${ADDED_TENANT}'s namespace`);
    await platform.up();
  });
  let stackC: Stack | undefined;
  if (tenantC) {
    stacks.writeConfig(ADDED_TENANT, tenantConfig(env.repoRoot, ADDED_TENANT));
    stackC = await stacks.open(ADDED_TENANT, cp.kubeconfigFor(`${ADDED_TENANT}-admin`));
    await tenantUp(report, cp, platform, stackC, ADDED_TENANT);
  }

  // Day 2: remove that tenant again (its admin destroys its stack, then the platform drops it).
  if (stackC) {
    await report.check(`engine: remove ${ADDED_TENANT}: its stack destroyed by its admin; platform preview --diff deletes only; up`, async (detail) => {
      const destroy = await stackC.destroy();
      detail(`${ADDED_TENANT} destroy: ${JSON.stringify(changes(destroy.summary.resourceChanges))}`);
      platformCfg = { ...platformCfg, platform: { ...platformCfg.platform, tenants: platformCfg.platform.tenants.filter((t: { name: string }) => t.name !== ADDED_TENANT) } };
      stacks.writeConfig(PLATFORM_STACK, platformCfg);
      const p = await platform.preview({ diff: true, color: "never" });
      const ops = changes(p.changeSummary);
      detail(`platform preview: ${JSON.stringify(ops)}; changed: ${changedResourceLines(p.stdout).join(", ")}`);
      expect((ops.delete ?? 0) > 0 && !ops.create && !ops.replace, "removing a tenant plans creates or replacements");
      await platform.up();
    });
  }

  // refresh: the engine's view equals the cluster's.
  for (const [name, stack] of [[PLATFORM_STACK, platform], ...tenantStacks] as Array<[string, Stack]>) {
    await report.check(`engine: ${name} refresh shows no drift`, async (detail) => {
      const r = await stack.refresh();
      detail(`refresh: ${JSON.stringify(r.summary.resourceChanges)}`);
      // Name what drifted, so a failure says which resource to look at.
      const drifted = r.stdout.split("\n").filter((l) => /\supdated\s.*\[diff:/.test(l));
      if (drifted.length > 0) detail(`drifted: ${drifted.map((l) => l.trim()).join(" | ")}`);
      expect(Object.keys(changes(r.summary.resourceChanges)).length === 0, "refresh found drift");
    });
  }

  // destroy one tenant: nothing of the platform or the other tenant moves.
  await report.check("engine: destroy tenant-b leaves the platform and tenant-a untouched", async (detail) => {
    const watched = [...(await stackObjects(platform)), ...(await stackObjects(tenantStacks.get("tenant-a")!))];
    const before = await liveVersions(cp.admin, watched);
    const own = await stackObjects(tenantStacks.get("tenant-b")!);
    const d = await tenantStacks.get("tenant-b")!.destroy();
    detail(`destroy: ${JSON.stringify(changes(d.summary.resourceChanges))}`);
    const after = await liveVersions(cp.admin, watched);
    const changed = changedKeys(before, after);
    detail(`${watched.length} platform and tenant-a objects watched; changed: ${changed.join(", ") || "none"}`);
    expect(changed.length === 0, "the destroy touched the platform or tenant-a");
    const left = [...(await liveVersions(cp.admin, own))].filter(([, v]) => v !== "absent").map(([k]) => k);
    expect(left.length === 0, `tenant-b objects left: ${left.join(", ")}`);
  });

  // destroy the rest: the patch gives the Limitador CR back.
  await report.check("engine: destroy tenant-a and the platform: the database survives a plain destroy (protected) and goes only after `pulumi state unprotect`; the Limitador CustomResourcePatch releases spec.image, the CR and its own settings stay", async (detail) => {
    await tenantStacks.get("tenant-a")!.destroy();
    const live = (await cp.admin.get(limitadorTarget.apiVersion, limitadorTarget.kind, limitadorTarget.metadata.namespace, limitadorTarget.metadata.name)).body;
    expect(live.spec?.image === platformCfg.platform.limitador.image, `before destroy the CR's image is ${live.spec?.image}`);
    // A careless operator's `pulumi destroy` must not take the billing database along.
    const refused = await platform.destroy().then(
      () => "",
      (err: unknown) => String(err),
    );
    expect(/because it is protected/.test(refused), "a plain destroy of the platform was not refused by the protected database");
    const database = await cp.admin.get("apps/v1", "StatefulSet", "maas-billing", "maas-billing-db");
    expect(database.status === 200, `the database StatefulSet is gone after a refused destroy (HTTP ${database.status})`);
    const protectedUrns = ((await platform.exportStack()).deployment.resources as Array<{ urn: string; protect?: boolean }>).filter((r) => r.protect).map((r) => r.urn);
    detail(`plain destroy refused; still protected: ${protectedUrns.join(", ")}`);
    expect(protectedUrns.length === 1 && protectedUrns[0].endsWith("::platform-database-statefulset"), "the database StatefulSet is not the one protected resource");
    // Decommissioning, as docs/platform.md says: unprotect the database, then destroy.
    const dir = stacks.projectDir(PLATFORM_STACK);
    await run("pulumi", ["state", "unprotect", "--yes", "--stack", PLATFORM_STACK, "--cwd", dir, protectedUrns[0]], {
      ...process.env,
      ...stacks.envVars(join(dir, "kubeconfig")),
      PULUMI_HOME: stacks.pulumiHome,
    });
    const d = await platform.destroy();
    detail(`platform destroy: ${JSON.stringify(changes(d.summary.resourceChanges))}`);
    const res = await cp.admin.get(limitadorTarget.apiVersion, limitadorTarget.kind, limitadorTarget.metadata.namespace, limitadorTarget.metadata.name);
    expect(res.status === 200, `the Limitador CR is gone (HTTP ${res.status})`);
    const managers = ((res.body.metadata.managedFields ?? []) as Array<{ manager: string }>).map((m) => m.manager);
    detail(`after destroy: spec ${JSON.stringify(res.body.spec)}; field managers ${managers.join(", ")}`);
    expect(res.body.spec?.image === undefined, "spec.image is still set: the patch's ownership was not released");
    expect(res.body.spec?.replicas === (limitadorTarget.spec as any).replicas, "the CR's own setting was lost");
  });
}

/**
 * Namespaces the platform expects, the Limitador CR its patch targets and the shared Gateway, as the
 * cluster's installers make them. The shared Gateway is not the platform's: it must stay as the
 * installer made it (the billing API gets a Gateway of its own, components/platform/billingGateway.ts).
 */
async function preexisting(report: Report, cp: ControlPlane, config: Record<string, any>): Promise<{ limitador: KubeObject; sharedGateway: KubeObject }> {
  const platform = config.platform;
  const limitador = preexistingTargetOf({
    apiVersion: "limitador.kuadrant.io/v1alpha1",
    kind: "Limitador",
    metadata: { name: platform.limitador?.name ?? "limitador", namespace: platform.limitador?.namespace ?? "kuadrant-system" },
  });
  const sharedGateway = installerGateway(platform.gateway);
  await report.check("engine: pre-existing cluster state (gateway and Kuadrant namespaces, the Limitador CR, the shared Gateway)", async (detail) => {
    const namespaces = [...new Set([platform.gateway.namespace, limitador.metadata.namespace as string])];
    const objects: KubeObject[] = [...namespaces.map((name) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name } })), limitador, sharedGateway];
    const outcomes = await applyAll(cp.admin, objects, "e2e-preexisting");
    const refused = outcomes.filter((o) => o.status >= 300 || o.status === 0);
    detail(`namespaces ${namespaces.join(", ")}; ${[limitador, sharedGateway].map((o) => objectKey({ kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace })).join(", ")}`);
    expect(refused.length === 0, refused.map((o) => `${o.id}: HTTP ${o.status} ${o.message}`).join("; "));
  });
  return { limitador, sharedGateway };
}

/** The shared Gateway after a platform `up`: its spec as the installer made it, and no field manager but the installer's. */
async function sharedGatewayUntouched(report: Report, cp: ControlPlane, sharedGateway: KubeObject, billingGateway: { name: string; namespace: string }): Promise<void> {
  await report.check(`engine: the shared Gateway ${sharedGateway.metadata.namespace}/${sharedGateway.metadata.name} is untouched by the platform; the billing API's own Gateway ${billingGateway.namespace}/${billingGateway.name} is on the API server`, async (detail) => {
    const live = (await cp.admin.get(sharedGateway.apiVersion, sharedGateway.kind, sharedGateway.metadata.namespace, sharedGateway.metadata.name)).body;
    const managers = ((live.metadata.managedFields ?? []) as Array<{ manager: string }>).map((m) => m.manager);
    detail(`shared Gateway listeners: ${(live.spec.listeners as Array<{ name: string }>).map((l) => l.name).join(", ")}; field managers: ${managers.join(", ")}`);
    expect(managers.every((m) => m === "e2e-preexisting"), "another field manager wrote to the shared Gateway");
    const want = (sharedGateway.spec as { listeners: Array<{ name: string }> }).listeners.map((l) => l.name);
    expect(JSON.stringify((live.spec.listeners as Array<{ name: string }>).map((l) => l.name)) === JSON.stringify(want), "the shared Gateway's listeners changed");
    const own = await cp.admin.get("gateway.networking.k8s.io/v1", "Gateway", billingGateway.namespace, billingGateway.name);
    expect(own.status === 200, `the billing Gateway is not on the API server (HTTP ${own.status})`);
    const listeners = own.body.spec.listeners as Array<{ name: string; hostname?: string; allowedRoutes?: unknown }>;
    detail(`billing Gateway: class ${own.body.spec.gatewayClassName}; listeners ${listeners.map((l) => `${l.name} (${l.hostname}) ${JSON.stringify(l.allowedRoutes)}`).join(", ")}`);
    expect(listeners.length === 1, "the billing Gateway has more than its one listener");
  });
}

/** A tenant stack's `up` as its admin, and proof that it read the platform through the StackReference. */
async function tenantUp(report: Report, cp: ControlPlane, platform: Stack, stack: Stack, tenant: string): Promise<void> {
  await report.check(`engine: ${tenant} up as ${tenant}-admin (only the platform's Role), reading ${stackRef(PLATFORM_STACK)} through a StackReference`, async (detail) => {
    const denied = await cp.clientFor(`${tenant}-admin`).request("GET", "/api/v1/namespaces/maas-billing/secrets");
    expect(denied.status === 403, `${tenant}-admin can list the billing namespace's Secrets (HTTP ${denied.status})`);
    const up = await stack.up();
    detail(`changes: ${JSON.stringify(up.summary.resourceChanges)}`);
    const objects = await stackObjects(stack);
    const live = await liveVersions(cp.admin, objects);
    const absent = [...live].filter(([, v]) => v === "absent").map(([k]) => k);
    expect(absent.length === 0, `in state but not on the API server: ${absent.join(", ")}`);
    const federation = ((await platform.outputs()).federation?.value ?? {}) as Record<string, { url: string }>;
    const url = federation[tenant]?.url;
    expect(typeof url === "string", `the platform exports no federation URL for ${tenant}`);
    const state = JSON.stringify((await stack.exportStack()).deployment);
    expect(state.includes(url), `${tenant}'s state does not contain the platform's federation URL ${url}`);
    detail(`${objects.length} objects on the API server; the platform's ${url} reached ${tenant}'s resources`);
  });
}

/** Runs scripts/delivery/preview-comment.ts exactly as the pull-request workflow does and checks the comment. */
async function prPreviewComment(report: Report, env: EngineStageEnv, stacks: EngineStacks, newPrice: string): Promise<void> {
  await report.check("engine: the pull-request preview comment script (scripts/delivery/preview-comment.ts) shows the change, no secrets", async (detail) => {
    const dir = stacks.projectDir(PLATFORM_STACK);
    const { stdout } = await run(
      "npx",
      ["tsx", join(env.repoRoot, "scripts/delivery/preview-comment.ts"), "--stack", PLATFORM_STACK, "--work-dir", dir, "--program", join(env.repoRoot, "scripts/e2e/engine/program.ts")],
      { ...process.env, ...stacks.envVars(join(dir, "kubeconfig")) },
    );
    detail(`comment: ${stdout.split("\n").length} lines; first: ${stdout.split("\n")[0]}`);
    expect(stdout.includes(`<!-- maas-billing-preview:${PLATFORM_STACK} -->`), "the comment has no marker for its stack");
    expect(stdout.includes(newPrice), "the comment does not show the new price");
    expect(stdout.includes(PRICE_BOOK_ANNOTATION), "the comment does not show the checksum annotation");
    expect(!/-----BEGIN|password:\s*"[^[]/i.test(stdout), "the comment shows a secret value");
  });
}

function run(command: string, args: string[], envVars: NodeJS.ProcessEnv): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env: envVars, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(" ")} failed: ${err.message}\n${stderr.slice(-2000)}`));
      else resolve({ stdout });
    });
  });
}
