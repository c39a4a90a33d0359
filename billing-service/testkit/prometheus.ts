/**
 * Test kit: a real Prometheus (the Debian `prometheus` binary; one default, `PROMETHEUS_BIN`
 * overrides it) on a free loopback port, for the tests, the demo, the benches, the dashboards tests
 * and e2e, plus `promtool tsdb create-blocks-from openmetrics` to backfill data into it.
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdir, writeFile, rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "../src/net/free-port";

const run = promisify(execFile);

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? "prometheus";
export const PROMTOOL_BIN = process.env.PROMTOOL_BIN ?? "promtool";

export interface RunningPrometheus {
  readonly url: string;
  readonly dataDir: string;
  stop(): Promise<void>;
  /** Stops and starts again on the same data (e.g. to load backfilled blocks). */
  restart(): Promise<RunningPrometheus>;
}

export interface PrometheusStartOptions {
  /** Working directory; the TSDB goes to `<dir>/data`, the config to `<dir>/prometheus.yml`. */
  readonly dir: string;
  /** prometheus.yml contents. Defaults to a config without scrape jobs (backfilled data only). */
  readonly config?: string;
  /** Extra flags. */
  readonly args?: readonly string[];
}

/** Waits until `url`/-/ready answers 200; throws with the log if the process exits or 30 s pass. */
export const waitReady = async (url: string, child: ChildProcess, log: () => string): Promise<void> => {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${log()}`);
    try {
      const res = await fetch(`${url}/-/ready`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`prometheus at ${url} not ready after 30 s:\n${log()}`);
};

/** Starts the prometheus binary on `port` with the test flags; `stderr()` is the tail of its log. */
export const spawnPrometheus = (options: { configFile: string; dataDir: string; port: number; args?: readonly string[] }): { child: ChildProcess; stderr: () => string } => {
  const child = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${options.configFile}`,
      `--storage.tsdb.path=${options.dataDir}`,
      `--web.listen-address=127.0.0.1:${options.port}`,
      // Backfilled test data may be older than the default 15 days relative to the wall clock.
      "--storage.tsdb.retention.time=100y",
      "--log.level=warn",
      ...(options.args ?? []),
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  return { child, stderr: () => stderr };
};

/** SIGTERM (Prometheus flushes its head block), SIGKILL if it has not exited after 10 s. */
export const stopPrometheus = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
};

export const startPrometheus = async (options: PrometheusStartOptions): Promise<RunningPrometheus> => {
  const dataDir = path.join(options.dir, "data");
  await mkdir(dataDir, { recursive: true });
  const configFile = path.join(options.dir, "prometheus.yml");
  await writeFile(configFile, options.config ?? "global:\n  scrape_interval: 15s\n");
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const { child, stderr } = spawnPrometheus({ configFile, dataDir, port, args: options.args });
    // If this process dies without stopping it (an uncaught error), Prometheus must not outlive it.
    const killOnExit = () => child.kill("SIGKILL");
    process.once("exit", killOnExit);
    try {
      await waitReady(url, child, stderr);
    } catch (e) {
      child.kill("SIGKILL");
      process.removeListener("exit", killOnExit);
      // Someone took the port between asking and binding: try another one.
      if (attempt < 3 && /address already in use/.test(stderr())) continue;
      throw e;
    }
    const stop = async () => {
      process.removeListener("exit", killOnExit);
      await stopPrometheus(child);
    };
    return {
      url,
      dataDir,
      stop,
      restart: async () => {
        await stop();
        return startPrometheus(options);
      },
    };
  }
};

/** Writes OpenMetrics text to blocks in `dataDir` (Prometheus loads them when it (re)starts). */
export const backfill = async (openMetrics: string, dataDir: string, workDir: string): Promise<void> => {
  const file = path.join(workDir, `backfill-${Date.now()}-${Math.random().toString(36).slice(2)}.om`);
  await writeFile(file, openMetrics);
  try {
    await run(PROMTOOL_BIN, ["tsdb", "create-blocks-from", "openmetrics", file, dataDir], { maxBuffer: 16 * 1024 * 1024 });
  } finally {
    await rm(file, { force: true });
  }
};

export interface RestartablePrometheus {
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A Prometheus that can be stopped and started again on the same loopback port and data, so a
 * client configured once (as the collector in `serve` is) sees it go away and come back.
 */
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
