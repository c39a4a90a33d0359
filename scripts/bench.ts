/*
 * `npm run bench`: measures the billing platform against its physical baselines on this machine and
 * prints one table (figures, the baseline measured in the same run, the ratio, the target).
 *
 *   npm run bench                       every benchmark
 *   npm run bench -- --only render,collector
 *
 * Everything runs on loopback with throw-away data (temp dirs, embedded PostgreSQL, a real
 * Prometheus); nothing is asserted on timing: the table is for people, the tests are elsewhere.
 */
import { parseArgs } from "node:util";
import { benchRender } from "./bench/render";
import { benchCollector } from "../billing-service/bench/collector";
import { formatTable, fmtSeconds, type BenchRow } from "../billing-service/bench/table";

type Bench = (log: (s: string) => void) => Promise<BenchRow[]>;

const render: Bench = async (log) => {
  await benchRender(1); // loads the program's modules once, so neither timed run pays for it
  const ten = await benchRender(10);
  const hundred = await benchRender(100);
  log(`render: 10 tenants ${fmtSeconds(ten.seconds)} (${ten.objects} objects), 100 tenants ${fmtSeconds(hundred.seconds)} (${hundred.objects} objects)`);
  const flat = hundred.secondsPerTenant / ten.secondsPerTenant;
  return [
    { what: "render platform + 100 tenants", figure: fmtSeconds(hundred.seconds), baseline: "-", ratio: "-", target: "< 10 s", met: hundred.seconds < 10 },
    {
      what: "render time per tenant 100 vs 10",
      figure: `${fmtSeconds(hundred.secondsPerTenant)} vs ${fmtSeconds(ten.secondsPerTenant)}`,
      baseline: "per tenant at 10",
      ratio: `${flat.toFixed(2)}x`,
      // "Flat": no more per tenant at 100 than at 10, with 25% for noise on a shared machine.
      target: "flat (<= 1.25x)",
      met: flat <= 1.25,
    },
  ];
};

const collector: Bench = async (log) => {
  const c = await benchCollector(10_000, log);
  log(`collector: backfill ${fmtSeconds(c.backfillSeconds)}, ${c.queries} queries, ${c.usageRowsWritten} usage rows; of the total, queries+parsing ${fmtSeconds(c.collectorQuerySeconds)}`);
  const ratio = c.collectorSeconds / c.prometheusSeconds;
  return [
    {
      what: `collector ${c.series.toLocaleString("en-US")} series x 1 h @15 s`,
      figure: fmtSeconds(c.collectorSeconds),
      baseline: `Prometheus alone ${fmtSeconds(c.prometheusSeconds)}`,
      ratio: `${ratio.toFixed(2)}x`,
      target: "<= 2x",
      met: ratio <= 2,
    },
  ];
};

const BENCHES: Record<string, Bench> = { render, collector };

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { only: { type: "string" } }, strict: true });
  const names = values.only ? values.only.split(",").map((s) => s.trim()) : Object.keys(BENCHES);
  const unknown = names.filter((n) => !(n in BENCHES));
  if (unknown.length > 0) {
    console.error(`bench: unknown benchmark(s) ${unknown.join(", ")}; known: ${Object.keys(BENCHES).join(", ")}`);
    return 2;
  }
  const rows: BenchRow[] = [];
  const started = Date.now();
  for (const name of names) {
    const t0 = Date.now();
    rows.push(...(await BENCHES[name]((s) => console.log(`  ${s}`))));
    console.log(`bench ${name}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  console.log(`\n${formatTable(rows)}\n\n(total ${((Date.now() - started) / 1000).toFixed(0)} s on ${require("node:os").cpus().length} cores)`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
