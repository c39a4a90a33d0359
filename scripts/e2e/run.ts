/*
 * `npm run e2e`: the product's offline renders against real servers built by tools/build.sh.
 *
 *  1. dev (all-in-one, OpenShift) and platform-kubernetes stacks, applied by a cluster admin: every
 *     object accepted by a real API server with the upstream CRDs installed; patches keep the rest.
 *  2. platform stack applied by a cluster admin, then each tenant stack applied by that tenant's admin
 *     with only the RBAC the platform grants; then what one tenant admin cannot do to the other.
 *     On the Kubernetes flavor, the route admission policy refuses a tenant admin's HTTPRoute that
 *     claims the billing host (or no host) and admits one inside the tenant's domains.
 *  3. a real Prometheus behind the platform's per-tenant prom-label-proxy instances.
 *  4. each tenant's own Prometheus, with its rendered config and rules, federating through them.
 *  engine: the real Pulumi engine runs the program against the API server (engine/stage.ts).
 *  image: the billing image built without a Docker daemon and run as the Deployment runs it (image/stage.ts).
 *  timescaledb: migrations and the service on a real TimescaleDB build (timescaledb/stage.ts).
 *  otelcol: a real OpenTelemetry Collector exporting gateway access logs to the service (otelcol/stage.ts).
 *
 * `tsx scripts/e2e/run.ts [--stage render|engine|image|timescaledb|otelcol ...] [--scenario 1|2|3|4 ...]` runs
 * only the named stages (default: all) and, in the render stage, only the named scenarios (default:
 * all; 4 brings 3 along). A stage that cannot run (a tool missing, a build failing) is a FAIL naming the
 * command and its error; the other stages still run. A table of stages with timings closes the run.
 *
 * Every server it starts is stopped on the way out, on failure and on Ctrl-C too. The work folder
 * (logs, renders) is kept when a check failed and removed otherwise.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { aggregateClusterRoles } from "./cluster-state";
import { startControlPlane } from "./control-plane";
import { stopAll } from "./processes";
import { prometheusIsolationChecks } from "./prom-isolation";
import { renderStack } from "./render";
import { routeAdmissionChecks } from "./route-admission";
import { authPolicyAdmissionChecks } from "./authpolicy-admission";
import { serviceAdmissionChecks } from "./service-admission";
import { billingListenerChecks } from "./billing-listener";
import { routeDomainsAnnotation } from "../../components/platform/routeAdmission";
import { Report, expect } from "./report";
import { applyPatchesCheck, applyRenderCheck, createPreexistingState, gatewayEnforcementCheck, installCrds, prepareRender } from "./stages";
import { tenantFederationChecks } from "./tenant-prometheus";
import { tenantsOfPlatform } from "./tenants";
import { engineStage } from "./engine/stage";
import { imageStage } from "./image/stage";
import { timescaleStage } from "./timescaledb/stage";
import { otelcolStage } from "./otelcol/stage";
import { ensureAlertmanagerCrds, ensureTools } from "./tools";
import { alertingCrChecks, extraCrdDir } from "./alerting-crs";
import { crossTenantChecks, ownProxyTamperCheck } from "./tenant-rbac";

/** Stacks applied whole by a cluster admin, each on its own fresh cluster. */
const ADMIN_ONLY_STACKS = ["dev", "platform-kubernetes"];
const PLATFORM_STACK = "platform-openshift";
const TENANT_STACKS = ["tenant-a", "tenant-b"];
const REQUIRED_BINARIES = ["etcd", "kube-apiserver", "prom-label-proxy"];

const repoRoot = resolve(__dirname, "..", "..");
const binDir = join(repoRoot, "tools", "bin");
const crdDir = resolve(repoRoot, "..", "shared", "crds");
/** The shared CRDs plus those tools/promoperator/fetch-crds.sh fetches (kinds shared/crds lacks). */
const crdDirs = [crdDir, extraCrdDir(repoRoot)];

/** Scenarios of the render stage to run (`--scenario 1 --scenario 3`); scenario 4 needs 3's proxies. */
let scenarios = new Set([1, 2, 3, 4]);

async function renderStage(report: Report, workDir: string): Promise<void> {
  const missing = REQUIRED_BINARIES.filter((b) => !existsSync(join(binDir, b)));
  if (missing.length > 0) throw new Error(`missing ${missing.join(", ")} in tools/bin: run tools/build.sh first`);
  if (!existsSync(crdDir)) throw new Error(`upstream CRDs not found at ${crdDir}`);
  await ensureAlertmanagerCrds();

  const renderDir = join(workDir, "render");
  const render = (stack: string) => {
    console.log(`render: npm run synth -- --stack ${stack}`);
    return prepareRender(renderStack(repoRoot, stack, renderDir));
  };
  const platform = render(PLATFORM_STACK);
  const tenantRenders = new Map(TENANT_STACKS.map((s) => [s, render(s)]));
  const tenants = tenantsOfPlatform(platform.objects);
  console.log(`tenants in ${PLATFORM_STACK}: ${tenants.map((t) => `${t.name} [${t.namespaces.join(", ")}] admins ${t.adminGroups.join(", ")}`).join("; ")}`);

  // 1. all-in-one dev stack (OpenShift flavor) and the plain-Kubernetes platform stack, each on a
  //    fresh cluster, as the platform admin.
  for (const stack of scenarios.has(1) ? ADMIN_ONLY_STACKS : []) {
    const rendered = render(stack);
    console.log(`\n== scenario 1: ${stack} stack applied by a cluster admin`);
    // The stack's tenant admins exist on this cluster too (the route admission checks act as them).
    const stackTenants = tenantsOfPlatform(rendered.objects);
    const cp = await startControlPlane(
      binDir,
      join(workDir, `cluster-${stack}`),
      stackTenants.map((t) => ({ user: `${t.name}-admin`, groups: t.adminGroups })),
    );
    await installCrds(report, cp.admin, crdDirs);
    await createPreexistingState(report, cp.admin, [...rendered.objects, ...rendered.patches], rendered.patches);
    await applyRenderCheck(
      report,
      `${stack}: every object is accepted (${rendered.placeholders} redacted Secret values given placeholders)`,
      cp.admin,
      rendered.objects,
      "pulumi-kubernetes",
    );
    await applyPatchesCheck(report, cp.admin, rendered.patches, "pulumi-kubernetes-patch");
    await gatewayEnforcementCheck(report, cp.admin, stack, rendered.objects);
    // The same stack with platform.alerting: Alertmanager (kubernetes) / AlertmanagerConfig (openshift).
    await alertingCrChecks(report, cp.admin, { repoRoot, stack, workDir, sharedCrdDir: crdDir });
    // Kubernetes flavor: tenant admins manage HTTPRoutes on the shared Gateway (on OpenShift they only read them).
    const billingRoute = rendered.objects.find((o) => o.kind === "HTTPRoute" && o.metadata.name === "maas-billing-api");
    if (billingRoute) {
      const spec = billingRoute.spec as { hostnames: string[]; parentRefs: Array<{ name: string; namespace: string }> };
      const domainsOf = (t: (typeof stackTenants)[number]): string[] => {
        const ns = rendered.objects.find((o) => o.kind === "Namespace" && o.metadata.name === t.namespaces[0]);
        return String((ns?.metadata.annotations as Record<string, string> | undefined)?.[routeDomainsAnnotation] ?? "").split(",").filter(Boolean);
      };
      // Tenant routes go on the shared Gateway: the one the platform's Gateway policies target (the billing route's parent is the billing API's own Gateway when the stack sets a billing host).
      const policy = rendered.objects.find((o) => (o.spec as { targetRef?: { kind?: string } } | undefined)?.targetRef?.kind === "Gateway");
      const sharedGateway = policy ? { name: (policy.spec as { targetRef: { name: string } }).targetRef.name, namespace: policy.metadata.namespace! } : spec.parentRefs[0];
      for (const t of stackTenants) {
        const domains = domainsOf(t);
        if (domains.length === 0 || t.adminGroups.length === 0) continue;
        const others = stackTenants.filter((o) => o !== t).flatMap(domainsOf);
        // The platform's own Gateways (billing API, Grafana): tenant routes may not attach to them.
        const ownGateways = rendered.objects.filter((o) => o.kind === "Gateway").map((o) => ({ name: o.metadata.name, namespace: o.metadata.namespace! }));
        await routeAdmissionChecks(report, cp.admin, cp.clientFor(`${t.name}-admin`), { name: t.name, namespace: t.namespaces[0], domains }, others, spec.hostnames[0], sharedGateway, ownGateways);
        const rival = stackTenants.find((o) => o !== t);
        if (rival) await authPolicyAdmissionChecks(report, cp.admin, cp.clientFor(`${t.name}-admin`), { name: t.name, namespace: t.namespaces[0] }, rival.namespaces[0]);
        await billingListenerChecks(report, cp.admin, cp.clientFor(`${t.name}-admin`), { name: t.name, namespace: t.namespaces[0], domain: domains[0] }, billingRoute);
        await serviceAdmissionChecks(report, cp.admin, cp.clientFor(`${t.name}-admin`), { name: t.name, namespace: t.namespaces[0] });
      }
    }
    await stopAll();
  }

  // 2. platform stack as the platform admin, tenant stacks as tenant admins.
  if (scenarios.has(2)) {
    console.log(`\n== scenario 2: ${PLATFORM_STACK} by a cluster admin, ${TENANT_STACKS.join(" and ")} by their tenant admins`);
    const identities = tenants.map((t) => ({ user: `${t.name}-admin`, groups: t.adminGroups }));
    const cp = await startControlPlane(binDir, join(workDir, "cluster-tenants"), identities);
    await installCrds(report, cp.admin, crdDirs);
    await report.check("ClusterRole aggregation (kube-controller-manager's job) fills admin/edit/view", async (detail) => {
      const written = await aggregateClusterRoles(cp.admin);
      detail(written.map((w) => `${w.name}: ${w.rules} rules`).join(", "));
      expect(written.some((w) => w.name === "admin" && w.rules > 0), "admin got no rules");
    });
    await createPreexistingState(report, cp.admin, [...platform.objects, ...platform.patches], platform.patches);
    await applyRenderCheck(report, `${PLATFORM_STACK}: every object is accepted`, cp.admin, platform.objects, "pulumi-kubernetes");
    await applyPatchesCheck(report, cp.admin, platform.patches, "pulumi-kubernetes-patch");
    await gatewayEnforcementCheck(report, cp.admin, PLATFORM_STACK, platform.objects);

    for (const [stack, rendered] of tenantRenders) {
      const tenant = tenants.find((t) => t.name === stack);
      expect(tenant !== undefined, `the platform render has no tenant ${stack}`);
      await applyRenderCheck(
        report,
        `${stack}: every object is accepted when applied by ${stack}'s admin (groups ${tenant.adminGroups.join(", ")}), with only the platform-granted RBAC`,
        cp.clientFor(`${stack}-admin`),
        [...rendered.objects, ...rendered.patches],
        `pulumi-kubernetes-${stack}`,
      );
    }

    const platformNamespaces = [...new Set(platform.objects.filter((o) => o.kind === "Namespace").map((o) => o.metadata.name))].filter(
      (ns) => !tenants.some((t) => t.namespaces.includes(ns)),
    );
    for (const [actor, victim] of [TENANT_STACKS, [...TENANT_STACKS].reverse()]) {
      await crossTenantChecks(
        report,
        actor,
        cp.clientFor(`${actor}-admin`),
        tenantRenders.get(actor)!.objects,
        victim,
        tenantRenders.get(victim)!.objects,
        platformNamespaces,
      );
    }
    for (const tenant of tenants) {
      const proxyObjects = platform.objects.filter(
        (o) =>
          (o.kind === "Deployment" || o.kind === "NetworkPolicy") &&
          tenant.proxies.some((p) => p.name === o.metadata.name),
      );
      await ownProxyTamperCheck(report, tenant.name, cp.clientFor(`${tenant.name}-admin`), proxyObjects);
    }
    await stopAll();
  }

  if (!scenarios.has(3)) return;
  // 3. metrics isolation.
  console.log(`\n== scenario 3: real Prometheus behind the ${PLATFORM_STACK} federation proxies`);
  const federation = await prometheusIsolationChecks(report, binDir, join(workDir, "metrics"), tenants);

  if (!scenarios.has(4)) return;
  // 4. each tenant's own Prometheus, as its stack renders it, federating through those proxies.
  console.log(`\n== scenario 4: each tenant stack's Prometheus federating through its proxies`);
  for (const [stack, rendered] of tenantRenders) {
    const tenant = tenants.find((t) => t.name === stack)!;
    const others = tenants.filter((t) => t !== tenant);
    await tenantFederationChecks(report, join(workDir, "metrics"), tenant, others, rendered.objects, federation);
  }
}

const STAGES: Record<string, { proves: string; run: (report: Report, workDir: string) => Promise<void> }> = {
  render: {
    proves: "renders accepted by a real API server; tenant RBAC; metrics isolation through real proxies",
    run: renderStage,
  },
  engine: {
    proves: "pulumi preview/up/--diff/refresh/destroy of the program on the API server, tenants via StackReference",
    run: async (report, workDir) => {
      await ensureTools(["etcd", "kube-apiserver", "engine"]);
      await ensureAlertmanagerCrds();
      await engineStage(report, { repoRoot, binDir, crdDirs, workDir: join(workDir, "engine") });
    },
  },
  image: {
    proves: "billing image built without Docker from billing-service/Dockerfile, run as the rendered Deployment runs it (read-only root, its uid/gid, no capabilities)",
    run: (report, workDir) => imageStage(report, { repoRoot, workDir: join(workDir, "image") }),
  },
  timescaledb: {
    proves: "migrations and the service on a real TimescaleDB (MAAS_TIMESCALE_PG_CONFIG)",
    run: (report, workDir) => timescaleStage(report, { repoRoot, workDir: join(workDir, "timescaledb") }),
  },
  otelcol: {
    proves: "a real OpenTelemetry Collector (ocb build) on the platform's access-log pipeline exports Envoy-shaped records to the billing service: a Collector with a token that is no sender's refused, per key/user/model tokens exact, a retried batch counted once",
    run: (report, workDir) => otelcolStage(report, { repoRoot, binDir, workDir: join(workDir, "otelcol") }),
  },
};

async function run(): Promise<number> {
  const { values } = parseArgs({ options: { stage: { type: "string", multiple: true }, scenario: { type: "string", multiple: true } } });
  const selected = values.stage ?? Object.keys(STAGES);
  if (values.scenario) {
    const asked = values.scenario.map(Number);
    const bad = values.scenario.filter((s, i) => ![1, 2, 3, 4].includes(asked[i]));
    if (bad.length > 0) {
      console.error(`unknown scenario(s) ${bad.join(", ")}; the render stage has scenarios 1-4`);
      return 2;
    }
    // Scenario 4 federates through the proxies scenario 3 starts.
    scenarios = new Set(asked.includes(4) ? [...asked, 3] : asked);
  }
  const unknown = selected.filter((s) => !(s in STAGES));
  if (unknown.length > 0) {
    console.error(`unknown stage(s) ${unknown.join(", ")}; stages: ${Object.keys(STAGES).join(", ")}`);
    return 2;
  }
  const workDir = mkdtempSync(join(tmpdir(), "maas-e2e-"));
  mkdirSync(join(workDir, "metrics", "logs"), { recursive: true });
  const report = new Report();
  const interrupted = async (signal: string) => {
    console.error(`e2e: ${signal}: stopping servers`);
    await stopAll();
    process.exit(130);
  };
  process.once("SIGINT", () => void interrupted("SIGINT"));
  process.once("SIGTERM", () => void interrupted("SIGTERM"));
  const table: string[] = [];
  for (const name of selected) {
    console.log(`\n==== stage ${name}: ${STAGES[name].proves}`);
    const started = Date.now();
    const before = report.counts;
    try {
      await STAGES[name].run(report, workDir);
    } catch (err) {
      report.fail(`stage ${name} could not complete`, err instanceof Error ? err.message : String(err));
    } finally {
      await stopAll();
    }
    const after = report.counts;
    const [passed, failed] = [after.passed - before.passed, after.failed - before.failed];
    const verdict = failed === 0 && passed > 0 ? "passed" : "FAILED";
    table.push(`${name.padEnd(12)} ${verdict.padEnd(7)} ${String(passed).padStart(3)} passed ${String(failed).padStart(3)} failed ${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s`);
  }
  console.log(`\nstage        result  checks                   time\n${table.join("\n")}`);
  console.log(report.summary());
  const ok = report.ok;
  if (ok) rmSync(workDir, { recursive: true, force: true });
  else console.log(`e2e: logs and renders kept in ${workDir}`);
  return ok ? 0 : 1;
}

run().then((code) => process.exit(code));
