/*
 * The same open-loop measurement as loadgen.ts, with vegeta (github.com/tsenart/vegeta, built from
 * the Go module proxy by tools/vegeta/build.sh into tools/bin) as the generator: a Go program, so the
 * sender's own jitter (timer wake-ups, event-loop delay, GC of a Node generator sharing the 2 cores
 * with the server) is far smaller than loadgen.ts's. Same spec, same result shape, same rules:
 *   - requests leave on a fixed schedule (vegeta's constant pacer; it adds workers rather than
 *     wait for answers), phases interleaved in rounds (A B C A B C ...), a warm-up per phase;
 *   - latency counts from the SCHEDULED send time: vegeta reports it from the moment a worker took
 *     the request, so the send lag (that moment minus the schedule, from each result's sequence
 *     number) is added back (no coordinated omission, like loadgen.ts);
 *   - serve's loop probe (loop-probe.ts) is read around each probed window.
 * vegeta's results (gob) are decoded with `vegeta encode -to csv`.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { mergeProbe, readProbe, summarize, unexpectedBody, type LoadResult, type LoadSpec, type PhaseMeasurements, type PhaseSpec } from "./loadgen";

const ROOT = path.join(__dirname, "..", "..");
export const VEGETA = path.join(ROOT, "tools", "bin", "vegeta");

const run = (cmd: string, args: string[], options: { stdout?: "pipe" | "inherit" } = {}): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", options.stdout ?? "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout?.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${path.basename(cmd)} ${args[0]} exited with ${code}: ${err}`))));
  });

/** tools/bin/vegeta, built by tools/vegeta/build.sh (needs Go >= 1.26) when it is not there yet. */
export const ensureVegeta = async (): Promise<string> => {
  if (!existsSync(VEGETA)) {
    try {
      await run("bash", [path.join(ROOT, "tools", "vegeta", "build.sh")]);
    } catch (e) {
      throw new Error(`the quota bench's second generator, vegeta, is not built and could not be: ${(e as Error).message} (it needs Go >= 1.26: docs/reliability.md)`);
    }
  }
  return VEGETA;
};

/** One phase as a vegeta JSON target. */
const target = (phase: PhaseSpec): string => {
  const header: Record<string, string[]> = Object.fromEntries(Object.entries(phase.headers ?? {}).map(([k, v]) => [k, [v]]));
  const body = phase.body === undefined ? undefined : Buffer.from(JSON.stringify(phase.body)).toString("base64");
  if (body) header["Content-Type"] = ["application/json"];
  return JSON.stringify({ method: phase.method, url: new URL(phase.path, phase.url).toString(), header, ...(body ? { body } : {}) });
};

/** Runs one attack of `total` requests at `rate`; adds its results to `acc`. */
const attack = async (dir: string, targetFile: string, rate: number, total: number, expect: number, expectBody: string | undefined, acc: PhaseMeasurements | undefined): Promise<void> => {
  const out = path.join(dir, "results.bin");
  const seconds = total / rate;
  await run(VEGETA, ["attack", "-format=json", `-targets=${targetFile}`, `-rate=${rate}/1s`, `-duration=${seconds}s`, "-http2=false", "-keepalive=true", "-timeout=30s", `-output=${out}`]);
  const csv = await run(VEGETA, ["encode", "-to=csv", out]);
  if (!acc) return;
  const intervalNs = 1e9 / rate;
  const rows = csv
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      // timestamp,code,latency,bytes_out,bytes_in,error,body,attack,seq,method,url,headers: the
      // error text (quoted) may hold commas, so the fields around it are taken from both ends.
      const f = line.split(",");
      // body (base64) is the 6th field from the end.
      return { ts: Number(f[0]), code: Number(f[1]), latency: Number(f[2]), seq: Number(f[f.length - 4]), body: f[f.length - 6] };
    });
  // The schedule's origin: the earliest (timestamp - seq x interval), i.e. the attack's start.
  const origin = Math.min(...rows.map((r) => r.ts - r.seq * intervalNs));
  let last = origin;
  for (const r of rows) {
    const lagNs = r.ts - origin - r.seq * intervalNs;
    acc.lag.push(lagNs / 1e6);
    acc.lat.push((lagNs + r.latency) / 1e6);
    last = Math.max(last, r.ts + r.latency);
    const wrongBody = r.code === expect && expectBody !== undefined && !Buffer.from(r.body, "base64").toString("utf8").includes(expectBody);
    const status = r.code === 0 ? "error" : wrongBody ? unexpectedBody(r.code, expectBody) : String(r.code);
    acc.statuses[status] = (acc.statuses[status] ?? 0) + 1;
    if (r.code !== expect || wrongBody) acc.errors += 1;
  }
  acc.seconds += (last - origin) / 1e9;
};

/** loadgen.ts's runPhases with vegeta as the generator (loopDelayP99Ms: NaN, a Go process has no event loop). */
export const runVegetaPhases = async (spec: LoadSpec): Promise<LoadResult[]> => {
  await ensureVegeta();
  const dir = await mkdtemp(path.join(os.tmpdir(), "maas-vegeta-"));
  try {
    const files = await Promise.all(
      spec.phases.map(async (phase, i) => {
        const file = path.join(dir, `target-${i}.json`);
        await writeFile(file, `${target(phase)}\n`, { mode: 0o600 });
        return file;
      }),
    );
    // Warm-up: connections and JIT on the server side (not measured).
    for (const [i, phase] of spec.phases.entries()) await attack(dir, files[i], spec.rate, spec.warmup, phase.expectStatus, phase.expectBody, undefined);
    const perWindow = Math.round((spec.rate * spec.seconds) / spec.rounds);
    const accs = spec.phases.map((): PhaseMeasurements => ({ lat: [], lag: [], statuses: {}, errors: 0, seconds: 0 }));
    for (let round = 0; round < spec.rounds; round++) {
      for (const [i, phase] of spec.phases.entries()) {
        const serve = phase.serve ?? spec.serve;
        const probed = phase.probe === true && serve !== undefined;
        if (probed) await readProbe(serve);
        await attack(dir, files[i], spec.rate, perWindow, phase.expectStatus, phase.expectBody, accs[i]);
        if (probed) accs[i].server = mergeProbe(accs[i].server, await readProbe(serve));
      }
    }
    return spec.phases.map((phase, i) => {
      const a = accs[i];
      // vegeta stops at the attack's duration: requests its pacer had not sent by then were never
      // sent (a generator that fell behind, not an answer of the server). Counted apart, "unsent".
      const unsent = perWindow * spec.rounds - a.lat.length;
      if (unsent > 0) a.statuses.unsent = unsent;
      return summarize(phase.name, perWindow * spec.rounds, a, NaN);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};
