/**
 * Time to check a platform config (`parseStackConfig`: zod schema and its cross-field checks) for N
 * tenants: the bench's registry (`platformWithTenants`, the dev stack's price book, tenant specs),
 * and the same registry with one route domain per tenant (the domain-overlap check's input). Every
 * `pulumi preview` of a platform stack pays this before it declares anything (docs/scaling.md).
 *
 *   npx tsx scripts/bench/config-parse.ts [100 1000 10000]
 *   npx tsx scripts/bench/config-parse.ts --before /work/main 100 1000 10000
 *
 * `--before <checkout>` times that checkout's parser on the same inputs, in the same process,
 * alternating with this one's: a same-run baseline for a change to the checks. Figures are CPU time
 * of the process (less disturbed by other work on a shared machine than wall time, also printed).
 * Nothing is asserted: the growth column says how the cost grows against the previous count.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { runMain } from "../lib/run-main";

type Parse = (raw: Record<string, unknown>) => unknown;
type WithTenants = (count: number) => Record<string, unknown>;

/** The parser and the bench registry of a checkout (this one by default). */
async function checkout(root: string): Promise<{ parse: Parse; withTenants: WithTenants }> {
  const config = (await import(path.join(root, "components/config/index.ts"))) as { parseStackConfig: Parse };
  const render = (await import(path.join(root, "scripts/bench/render.ts"))) as { platformWithTenants: WithTenants };
  return { parse: config.parseStackConfig, withTenants: render.platformWithTenants };
}

/** The stack config keys without the `maas-billing:` prefix, one route domain per tenant when `domains`. */
function stackConfig(withTenants: WithTenants, count: number, domains: boolean): Record<string, unknown> {
  const raw = withTenants(count);
  if (domains) {
    const platform = raw["maas-billing:platform"] as { tenants: Array<{ name: string; domains?: string[] }> };
    for (const t of platform.tenants) t.domains = [`${t.name}.models.example.com`];
  }
  return Object.fromEntries(Object.entries(raw).filter(([k]) => k.startsWith("maas-billing:")).map(([k, v]) => [k.slice("maas-billing:".length), v]));
}

/** CPU and wall seconds of one parse. */
function timed(parse: Parse, raw: Record<string, unknown>): { cpu: number; wall: number } {
  const wallStarted = process.hrtime.bigint();
  const cpuStarted = process.cpuUsage();
  parse(raw);
  const cpu = process.cpuUsage(cpuStarted);
  return { cpu: (cpu.user + cpu.system) / 1e6, wall: Number(process.hrtime.bigint() - wallStarted) / 1e9 };
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ options: { before: { type: "string" } }, allowPositionals: true });
  const counts = positionals.length > 0 ? positionals.map(Number) : [100, 1000, 10000];
  const sides = [{ name: "this checkout", ...(await checkout(path.resolve(__dirname, "../.."))) }];
  if (values.before !== undefined) sides.unshift({ name: `before (${values.before})`, ...(await checkout(path.resolve(values.before))) });
  // One small parse each first, so neither timed parse pays for loading modules.
  for (const side of sides) side.parse(stackConfig(side.withTenants, 2, false));
  for (const domains of [false, true]) {
    const previous = new Map<string, { count: number; cpu: number }>();
    for (const count of counts) {
      for (const side of sides) {
        const { cpu, wall } = timed(side.parse, stackConfig(side.withTenants, count, domains));
        const last = previous.get(side.name);
        const growth = last === undefined ? "" : `, ${(cpu / last.cpu).toFixed(1)}x the CPU for ${(count / last.count).toFixed(0)}x the tenants`;
        previous.set(side.name, { count, cpu });
        console.log(`${side.name}: ${count} tenants${domains ? ", a domain each" : ""}: CPU ${cpu.toFixed(3)} s, wall ${wall.toFixed(3)} s, ${((cpu / count) * 1e6).toFixed(0)} us a tenant${growth}`);
      }
    }
  }
  return 0;
}

runMain(main);
