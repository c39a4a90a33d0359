/**
 * A real Prometheus that can be stopped and started again on the same loopback port and data, so a
 * client configured once (as the collector in `serve` is) sees it go away and come back.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { PROMETHEUS_BIN } from "../../demo/lib/prometheus-process";
import { freePort } from "../../src/net/free-port";

export interface RestartablePrometheus {
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export const restartablePrometheus = async (dir: string): Promise<RestartablePrometheus> => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = path.join(dir, "prometheus.yml");
  await writeFile(config, "global:\n  scrape_interval: 15s\n");
  let child: ChildProcess | undefined;
  let stderr = "";
  return {
    url,
    async start() {
      stderr = "";
      child = spawn(
        PROMETHEUS_BIN,
        [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--storage.tsdb.retention.time=100y", "--log.level=warn"],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      child.stderr?.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}: ${stderr}`);
        if (await fetch(`${url}/-/ready`).then((r) => r.ok, () => false)) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`prometheus on ${url} not ready after 30 s: ${stderr}`);
    },
    async stop() {
      const c = child;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise((r) => c.once("exit", r));
      c.kill("SIGTERM");
      const timer = setTimeout(() => c.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
};
