/*
 * `npm run fuzz:api`: schemathesis (PyPI: `pip install schemathesis`) over /openapi.json of a
 * throw-away `maas-billing serve` (embedded PostgreSQL, loopback, a static admin token), checking
 * that no answer is a server error. Optional: not part of `npm test`.
 *
 *   npm run fuzz:api -- [--max-examples 100] [--st <path to st>]
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { startBenchDatabase } from "../billing-service/bench/setup";
import { startService } from "../billing-service/testkit/service";

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { "max-examples": { type: "string", default: "100" }, st: { type: "string", default: "st" } }, strict: true });
  const db = await startBenchDatabase();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "maas-fuzz-"));
  const service = await startService({ databaseUrl: db.url, dataDir, env: { LOG_LEVEL: "warn" } });
  try {
    const args = [
      "run",
      `${service.url}/openapi.json`,
      "--checks",
      "not_a_server_error",
      "--max-examples",
      values["max-examples"]!,
      "--workers",
      "2",
      "-H",
      `Authorization: Bearer ${service.token}`,
    ];
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(values.st!, args, { stdio: ["ignore", "inherit", "inherit"] });
      child.on("error", (e) => reject(new Error(`cannot run ${values.st} (pip install schemathesis): ${e.message}`)));
      child.on("exit", (c) => resolve(c ?? 1));
    });
    const failed = service.log().split("\n").filter((l) => l.includes('"request failed"'));
    const serverErrors = failed.length;
    // The service's own account of each 500 (its log never holds the token: pino redacts it).
    for (const line of failed) console.log(`serve: ${line.slice(0, 600)}`);
    console.log(`fuzz:api: schemathesis exit code ${code}; server errors logged by serve: ${serverErrors}`);
    return code === 0 && serverErrors === 0 ? 0 : 1;
  } finally {
    await service.kill("SIGTERM");
    await db.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
