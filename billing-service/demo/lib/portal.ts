/**
 * The demo's billing portal: the real `maas-billing serve` on the demo's database, with a tokens
 * file holding an admin token and one token per demo tenant. The tokens go to a 0600 file in the
 * demo directory (never to the terminal or a URL); the terminal gets the file's path.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { stringify } from "yaml";
import { newToken } from "../../src/auth/static";
import { SERVICE_ENV } from "../../src/contract/env";
import { freePorts } from "../../src/net/free-port";

const BIN = path.join(__dirname, "..", "..", "bin", "maas-billing.cjs");

export interface DemoPortal {
  readonly url: string;
  readonly tokensFile: string;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const startDemoPortal = async (dataDir: string, tenants: readonly string[]): Promise<DemoPortal> => {
  const issued = [newToken("demo-admin", { admin: true }), ...tenants.map((t) => newToken(`${t}-finance`, { tenant: t }))];
  const tokensYaml = path.join(dataDir, "portal-tokens.yaml");
  const tokensFile = path.join(dataDir, "portal-tokens.txt");
  await writeFile(tokensYaml, stringify({ tokens: issued.map((i) => i.entry) }), { mode: 0o600 });
  await writeFile(tokensFile, issued.map((i) => `${i.entry.name.padEnd(16)} ${i.token}`).join("\n") + "\n", { mode: 0o600 });
  const [port, metricsPort] = await freePorts(2);
  const child: ChildProcess = spawn(process.execPath, [BIN, "--data-dir", dataDir, "--log-level", "warn", "serve"], {
    env: { ...process.env, [SERVICE_ENV.databaseUrl]: "", [SERVICE_ENV.port]: String(port), [SERVICE_ENV.metricsPort]: String(metricsPort), [SERVICE_ENV.host]: "127.0.0.1", [SERVICE_ENV.tokensFile]: tokensYaml },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}/portal/`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  // Ready when the portal's sign-in page answers (the service migrates and connects first).
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`maas-billing serve exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}sign-in`)).status === 200) return { url, tokensFile, stop };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  await stop();
  throw new Error(`the portal did not answer at ${url} within 60 s`);
};
