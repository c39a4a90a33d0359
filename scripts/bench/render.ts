/*
 * Render benchmark: the offline render (scripts/render) of one stack holding the platform plus N tenant
 * stacks (the dev layout: `platform.tenants` registry + `tenants` specs), timed in-process for N = 10
 * and N = 100 (and 1,000 with BENCH_SCALE=100) so the per-tenant cost can be compared (it should stay
 * flat: no quadratic work per tenant).
 */
import * as path from "node:path";
import { readStackConfigFile, render } from "../render";

export interface RenderFigures {
  tenants: number;
  seconds: number;
  /**
   * CPU time of the process during the render (main thread and the garbage collector's helper
   * threads): less disturbed than wall time when other work shares the machine.
   */
  cpuSeconds: number;
  objects: number;
  secondsPerTenant: number;
}

const repoRoot = path.resolve(__dirname, "../..");

/** The dev stack's config with its two tenants replaced by `count` generated ones. */
export function platformWithTenants(count: number): Record<string, unknown> {
  const { config } = readStackConfigFile(path.join(repoRoot, "Pulumi.dev.yaml"));
  const platform = structuredClone(config["maas-billing:platform"]) as Record<string, unknown>;
  const names = Array.from({ length: count }, (_, i) => `bench-t${String(i).padStart(3, "0")}`);
  platform.tenants = names.map((name) => ({ name, adminGroup: `${name}-admins` }));
  const tenants = names.map((name, i) => ({
    name,
    routes: [{ name: `model-${i % 7}` }],
    apiKeys: [
      { name: "alice", userId: `alice-${i}`, tier: "premium" },
      { name: "bob", userId: `bob-${i}`, tier: "free" },
    ],
  }));
  return { ...config, "maas-billing:platform": platform, "maas-billing:tenants": tenants };
}

export async function benchRender(count: number): Promise<RenderFigures> {
  const config = platformWithTenants(count);
  const started = process.hrtime.bigint();
  const cpuStarted = process.cpuUsage();
  const result = await render({ stack: `bench-${count}`, config });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuStarted);
  if (Object.keys(result.outputs).length === 0) throw new Error("render bench: the program exported nothing");
  return { tenants: count, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, objects: result.objects.length, secondsPerTenant: seconds / count };
}
