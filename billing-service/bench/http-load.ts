/*
 * Runs bench/loadgen.ts in a child process of its own (the generator must not share an event loop
 * with the bench driver or the server), and a bare node:http server as the floor of any HTTP
 * answer on this machine: what a request costs with no framework, auth, validation or logging.
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { LoadResult, LoadSpec } from "./loadgen";

const PROBE = path.join(__dirname, "loop-probe.ts");

const LOADGEN = path.join(__dirname, "loadgen.ts");
const BARE = path.join(__dirname, "bare-server.ts");
const TSX = require.resolve("tsx/cjs");

/** Runs the phases' open-loop loads in a fresh generator process and returns what it measured. */
export const runLoad = (spec: LoadSpec): Promise<LoadResult[]> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--require", TSX, LOADGEN, JSON.stringify(spec)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`load generator exited with ${code}: ${err}`));
      try {
        resolve(JSON.parse(out.trim().split("\n").at(-1) ?? "") as LoadResult[]);
      } catch (e) {
        reject(new Error(`load generator printed no result: ${out}${err}: ${(e as Error).message}`));
      }
    });
  });

export interface BareServer {
  readonly url: string;
  /** Its pid and loop probe (loop-probe.ts): a phase with `probe: true, serve: bare.probe` reports its CPU. */
  readonly probe: { pid: number; probeFile: string };
  stop(): Promise<void>;
}

/**
 * A bare node:http server in its own process answering every request with a small JSON body, with
 * the same loop probe as serve (so its CPU per request is printed beside serve's, same run).
 */
export const startBareServer = (): Promise<BareServer> =>
  new Promise((resolve, reject) => {
    const probeFile = path.join(os.tmpdir(), `maas-bench-bare-probe-${process.pid}-${Date.now()}.json`);
    const child = spawn(process.execPath, ["--require", TSX, "--require", PROBE, BARE], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, MAAS_BENCH_PROBE_FILE: probeFile } });
    let out = "";
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`bare server exited with ${code} before listening`)));
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /listening (\S+)/.exec(out);
      if (!m) return;
      child.removeAllListeners("exit");
      resolve({
        url: m[1],
        probe: { pid: child.pid!, probeFile },
        stop: () =>
          new Promise<void>((done) => {
            rmSync(probeFile, { force: true });
            if (child.exitCode !== null) return done();
            child.once("exit", () => done());
            child.kill("SIGTERM");
          }),
      });
    });
  });

// The bare server itself, when this file is the process's main module (bare-server.ts re-exports it).
export const serveBare = (): void => {
  const body = Buffer.from(JSON.stringify({ status: "ok" }));
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": body.length });
      res.end(body);
    });
  });
  // Port 0: the kernel picks a free one (no fixed ports).
  server.listen(0, "127.0.0.1", () => {
    const address = server.address() as { port: number };
    process.stdout.write(`listening http://127.0.0.1:${address.port}\n`);
  });
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
};
