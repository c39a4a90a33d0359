/**
 * A real Prometheus that can be stopped and started again on the same loopback port and data, so a
 * client configured once (as the collector in `serve` is) sees it go away and come back.
 */
import type { ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { spawnPrometheus, stopPrometheus, waitReady } from "../../demo/lib/prometheus-process";
import { freePort } from "../../src/net/free-port";

export interface RestartablePrometheus {
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export const restartablePrometheus = async (dir: string): Promise<RestartablePrometheus> => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const configFile = path.join(dir, "prometheus.yml");
  await writeFile(configFile, "global:\n  scrape_interval: 15s\n");
  let child: ChildProcess | undefined;
  return {
    url,
    async start() {
      const started = spawnPrometheus({ configFile, dataDir: path.join(dir, "data"), port });
      child = started.child;
      await waitReady(url, child, started.stderr);
    },
    async stop() {
      if (child) await stopPrometheus(child);
    },
  };
};
