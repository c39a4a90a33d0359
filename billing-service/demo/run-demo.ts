/**
 * `npm run demo`: the whole flow on one machine, in about a minute, cleaning up after itself.
 *
 *   simulated Limitador + vLLM /metrics  ──scrape 1s──►  real Prometheus  ──raw samples──►  collector
 *                                                                         ──► PostgreSQL (embedded) ──► usage, invoices
 *
 * Two tenants (acme owns two namespaces), five users on three tiers, two models. Halfway through,
 * the gateway restarts and all its counters start again from zero.
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { CounterEndpoint } from "./lib/counter-endpoint";
import { startPrometheus, type RunningPrometheus } from "../testkit/prometheus";
import { DEMO_TENANTS, TrafficSimulator } from "./lib/traffic";
import { startDemoBilling, type DemoBilling } from "./lib/billing";
import { startDemoPortal, type DemoPortal } from "./lib/portal";

const SCRAPE_S = 1;
const WINDOW_MS = 10_000;
const TICK_MS = 100;
const PHASE_MS = 12_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (msg: string) => process.stdout.write(`${msg}\n`);

const prometheusConfig = (gateway: string, models: Map<string, string>) => `
global:
  scrape_interval: ${SCRAPE_S}s
  evaluation_interval: ${SCRAPE_S}s
scrape_configs:
  - job_name: limitador
    static_configs:
      - targets: ['${gateway}']
  - job_name: vllm
    static_configs:
${[...models].map(([ns, target]) => `      - targets: ['${target}']\n        labels: { namespace: '${ns}' }`).join("\n")}
`;

/** `npm run demo -- --keep`: keep the billing portal up after the run, until Ctrl-C. */
const KEEP = process.argv.includes("--keep");

const main = async () => {
  const started = Date.now();
  const dir = await mkdtemp(path.join(os.tmpdir(), "maas-billing-demo-"));
  // Run as root, embedded PostgreSQL's initdb runs as its own user and must reach its directory.
  await chmod(dir, 0o755);
  const gateway = new CounterEndpoint();
  const modelServers = new Map(["acme-models", "acme-research", "globex-llm"].map((ns) => [ns, new CounterEndpoint()]));
  let prom: RunningPrometheus | undefined;
  let billing: DemoBilling | undefined;
  let portal: DemoPortal | undefined;
  const cleanup = async () => {
    await portal?.stop().catch(() => undefined);
    await billing?.stop().catch(() => undefined);
    await prom?.stop().catch(() => undefined);
    await gateway.close();
    for (const m of modelServers.values()) await m.close();
    await rm(dir, { recursive: true, force: true });
  };
  process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));
  try {
    const gatewayTarget = await gateway.listen();
    const modelTargets = new Map<string, string>();
    for (const [ns, server] of modelServers) modelTargets.set(ns, await server.listen());
    say(`• simulated Limitador on ${gatewayTarget}, vLLM for ${[...modelTargets].map(([ns, t]) => `${ns} on ${t}`).join(", ")}`);

    // Both start in parallel; whichever started is stopped by cleanup() even if the other failed.
    const [promStarted, billingStarted] = await Promise.allSettled([
      startPrometheus({ dir: path.join(dir, "prometheus"), config: prometheusConfig(gatewayTarget, modelTargets) }),
      startDemoBilling(path.join(dir, "billing")),
    ]);
    if (promStarted.status === "fulfilled") prom = promStarted.value;
    if (billingStarted.status === "fulfilled") billing = billingStarted.value;
    if (promStarted.status === "rejected") throw promStarted.reason;
    if (billingStarted.status === "rejected") throw billingStarted.reason;
    const { url: prometheusUrl } = promStarted.value;
    const service = billingStarted.value;
    say(`• Prometheus ${prometheusUrl} scraping every ${SCRAPE_S}s; billing database ready`);

    const sim = new TrafficSimulator(gateway, modelServers);
    // Start at a window boundary, so the collected range covers whole windows.
    const fromMs = Math.ceil((Date.now() + 1500) / WINDOW_MS) * WINDOW_MS;
    await sleep(fromMs - Date.now());
    const runPhase = async (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        sim.tick();
        await sleep(TICK_MS);
      }
    };
    say(`• traffic from ${new Date(fromMs).toISOString()} ...`);
    await runPhase(PHASE_MS);
    // Let Prometheus scrape the last values before the restart: increments between a counter's last
    // scrape and its restart are lost to any collector (see docs/collector.md).
    await sleep(2.5 * SCRAPE_S * 1000);
    gateway.restart();
    say("• gateway (Limitador) restarted: every gateway counter starts again from zero");
    await runPhase(PHASE_MS);
    await sleep(2.5 * SCRAPE_S * 1000);
    const toMs = Math.ceil(Date.now() / WINDOW_MS) * WINDOW_MS;
    // The last window closes at toMs; wait for the scrape after it to land (the offset).
    await sleep(toMs - Date.now() + 2 * SCRAPE_S * 1000);
    say(`• traffic stopped; collecting ${new Date(fromMs).toISOString()} .. ${new Date(toMs).toISOString()}`);

    const report = await service.collect(prometheusUrl, fromMs, toMs, WINDOW_MS, DEMO_TENANTS);
    say(`  maas-billing collect --once: ${JSON.stringify(report)}`);
    const again = await service.collect(prometheusUrl, fromMs, toMs, WINDOW_MS, DEMO_TENANTS);
    say(`  the same again: ${again.usageRowsChanged} rows changed (idempotent)`);

    await service.printReport(sim.truth, fromMs, toMs, say);

    portal = await startDemoPortal(path.join(dir, "billing"), DEMO_TENANTS.map((t) => t.name));
    say(`\n== the tenant billing portal (maas-billing serve on the same database)`);
    say(`   ${portal.url}`);
    say(`   sign in with a token from ${portal.tokensFile} (one per tenant, and an admin token that can switch tenants)`);
    if (KEEP) {
      say(`• done in ${((Date.now() - started) / 1000).toFixed(1)} s; the portal stays up until Ctrl-C`);
      await new Promise<never>(() => {}); // SIGINT runs cleanup() and exits
    }
    say(`   (run \`npm run demo -- --keep\` to keep it up and open it in a browser)`);
    say(`• done in ${((Date.now() - started) / 1000).toFixed(1)} s; cleaning up`);
  } finally {
    await cleanup();
  }
};

main().then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`demo failed: ${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
