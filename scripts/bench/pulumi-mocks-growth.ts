/*
 * Minimal reproduction of how Pulumi's own mock runtime grows with the number of resources, with no
 * maas-billing code: N independent custom resources (about 2 KB of inputs each, no dependencies
 * between them) registered under `pulumi.runtime.setMocks`, CPU time per resource printed. One N per
 * process, so the figures do not share a heap:
 *
 *   npx tsx scripts/bench/pulumi-mocks-growth.ts 3000
 *   npx tsx scripts/bench/pulumi-mocks-growth.ts 30000   (the size of the 1,000-tenant render)
 *
 * The render bench's per-tenant growth left after the dependency fix (docs/scaling.md, "Render") has
 * the same shape as this program's per-resource growth.
 */
import * as pulumi from "@pulumi/pulumi";
import * as settings from "@pulumi/pulumi/runtime/settings";

class Thing extends pulumi.CustomResource {
  constructor(name: string, props: Record<string, unknown>) {
    super("test:index:Thing", name, props);
  }
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? "3000");
  if (!Number.isInteger(n) || n < 1) throw new Error("usage: pulumi-mocks-growth.ts <number of resources>");
  await pulumi.runtime.setMocks({ newResource: (a) => ({ id: `${a.name}-id`, state: a.inputs }), call: () => ({}) }, "p", "s", false);
  // As the render does (scripts/render/mockRuntime.ts renderFast): no call sites, no stack frames.
  (pulumi.Resource as unknown as { callsites: () => unknown[] }).callsites = () => [];
  Error.stackTraceLimit = 0;
  const cpuStarted = process.cpuUsage();
  const ids: pulumi.Output<string>[] = [];
  for (let i = 0; i < n; i++) {
    const thing = new Thing(`thing-${i}`, {
      metadata: { name: `thing-${i}`, labels: { app: "thing", index: String(i) } },
      spec: { items: Array.from({ length: 20 }, (_, j) => ({ name: `item-${j}`, value: "x".repeat(40) })) },
    });
    ids.push(thing.id);
  }
  await (pulumi.all(ids) as unknown as { promise(): Promise<unknown> }).promise();
  await (settings as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
  const cpu = process.cpuUsage(cpuStarted);
  const seconds = (cpu.user + cpu.system) / 1e6;
  console.log(`${n} resources: CPU ${seconds.toFixed(2)} s, ${((seconds / n) * 1000).toFixed(3)} ms a resource, peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
