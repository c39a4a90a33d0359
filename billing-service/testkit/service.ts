/**
 * `maas-billing serve` as a real child process on a loopback port, with static tokens, its own
 * data directory (hence its own spool), and helpers to post event batches and to kill it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { stringify } from "yaml";
import { freePorts } from "../src/net/free-port";
import { newToken, type StaticTokenEntry } from "../src/auth/static";

const BIN = path.join(__dirname, "..", "bin", "maas-billing.cjs");

export interface ServiceProcess {
  readonly url: string;
  /** The scrape-only listener (GET /metrics). */
  readonly metricsUrl: string;
  readonly token: string;
  readonly pid: number;
  /** Last lines of the service's log (stdout and stderr). */
  log(): string;
  /**
   * Resolves once a log line matches. A line the service wrote can still be in the stdout pipe when
   * the effect it reports is already visible (a file moved, a row stored): assert log lines with this,
   * never with `log()` right after the effect. Rejects after `timeoutMs` (a generous bound, not a pace).
   */
  waitForLog(pattern: RegExp | string, timeoutMs?: number): Promise<void>;
  alive(): boolean;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export interface ServiceOptions {
  readonly databaseUrl: string;
  readonly dataDir: string;
  readonly env?: Record<string, string>;
  /** More entries of the tokens file (tenant tokens, senders) besides the admin token `ops`. */
  readonly tokens?: readonly StaticTokenEntry[];
  /** The main and metrics port for each start attempt. Default: two ports freePorts has just released (the kit's own test takes one first). */
  readonly choosePorts?: () => Promise<readonly number[]>;
}

/** A serve that could not bind the ports it was given: another process took one after freePorts released it. */
class PortTakenError extends Error {}

/** Attempts at start with fresh ports: the only failure retried is a port taken between freePorts and serve's listen. */
const START_ATTEMPTS = 3;

export const startService = async (options: ServiceOptions): Promise<ServiceProcess> => {
  const admin = newToken("ops", { admin: true });
  const tokensFile = path.join(options.dataDir, "tokens.yaml");
  await writeFile(tokensFile, stringify({ tokens: [admin.entry, ...(options.tokens ?? [])] }));
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnService(options, admin, tokensFile);
    } catch (e) {
      if (!(e instanceof PortTakenError) || attempt >= START_ATTEMPTS) throw e;
    }
  }
};

const spawnService = async (options: ServiceOptions, admin: ReturnType<typeof newToken>, tokensFile: string): Promise<ServiceProcess> => {
  const [port, metricsPort] = await (options.choosePorts ?? (() => freePorts(2)))();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(process.execPath, [BIN, "serve"], {
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      PORT: String(port),
      MAAS_BILLING_METRICS_PORT: String(metricsPort),
      HOST: "127.0.0.1",
      MAAS_BILLING_DATA_DIR: options.dataDir,
      MAAS_BILLING_TOKENS_FILE: tokensFile,
      MAAS_BILLING_AUTH_MODE: "static",
      LOG_LEVEL: "info",
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  const waiters = new Set<{ pattern: RegExp; resolve: () => void }>();
  const keep = (c: Buffer) => {
    log = (log + c.toString()).slice(-20_000);
    // Matched as each chunk arrives, so a line is seen even if later output pushes it out of the tail.
    for (const w of waiters) if (w.pattern.test(log)) w.resolve();
  };
  const waitForLog = (pattern: RegExp | string, timeoutMs = 60_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const re = typeof pattern === "string" ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) : pattern;
      if (re.test(log)) return resolve();
      const waiter = {
        pattern: re,
        resolve: () => {
          waiters.delete(waiter);
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`serve logged no line matching ${re} within ${timeoutMs} ms; last lines:\n${log}`));
      }, timeoutMs);
      waiters.add(waiter);
    });
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  // Ready is what the child itself says: its "listening" line names the addresses it bound
  // (server.ts). Probing /healthz alone could take another process's server on the same port for
  // this one (review N1): freePorts releases a port before serve binds it, and whoever takes it in
  // between answers the probe while this serve dies of EADDRINUSE.
  const bound = await new Promise<{ url: string; metricsUrl: string }>((resolve, reject) => {
    let seen = 0;
    const onLine = (chunk: Buffer) => {
      pending += chunk.toString();
      for (let nl = pending.indexOf("\n"); nl !== -1; nl = pending.indexOf("\n")) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        seen++;
        const entry = listeningLine(line);
        if (entry) return finish(() => resolve(entry));
      }
    };
    let pending = "";
    // "close", not "exit": the pipes are drained by then, so an EADDRINUSE line is in the log.
    const onClose = (code: number | null) =>
      finish(() => {
        // freePorts releases the ports before serve binds them; a process of another test or session
        // can take one in between (seen in full runs on a shared machine). Only that is retried.
        if (/EADDRINUSE/.test(log)) reject(new PortTakenError(`serve could not bind port ${port} or ${metricsPort}:\n${log}`));
        else reject(new Error(`serve exited with ${code} before it said it was listening:\n${log}`));
      });
    const timer = setTimeout(
      () =>
        finish(() => {
          child.kill("SIGKILL");
          reject(new Error(`serve did not say it was listening within 60 s (${seen} lines):\n${log}`));
        }),
      60_000,
    );
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      child.stdout?.off("data", onLine);
      child.off("close", onClose);
      settle();
    };
    child.stdout?.on("data", onLine);
    child.once("close", onClose);
  });
  if (bound.url !== url || bound.metricsUrl !== `http://127.0.0.1:${metricsPort}`) {
    child.kill("SIGKILL");
    throw new Error(`serve says it listens on ${bound.url} and ${bound.metricsUrl}, not on the ports it was given (${port}, ${metricsPort})`);
  }
  // Then the probe, of this child's own listener: up and answering.
  const health = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(30_000) }).catch((e: Error) => e);
  if (health instanceof Error || !health.ok) {
    child.kill("SIGKILL");
    throw new Error(`serve said it was listening on ${url} but /healthz answered ${health instanceof Error ? health.message : health.status}:\n${log}`);
  }
  return {
    url,
    metricsUrl: bound.metricsUrl,
    token: admin.token,
    pid: child.pid!,
    log: () => log,
    waitForLog,
    alive: () => child.exitCode === null && child.signalCode === null,
    kill: async (signal) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill(signal);
      await exited;
    },
  };
};

/** The addresses in serve's "listening" line (server.ts), or undefined for any other line. */
const listeningLine = (line: string): { url: string; metricsUrl: string } | undefined => {
  if (!line.includes('"listening"')) return undefined;
  try {
    const entry = JSON.parse(line) as { msg?: unknown; url?: unknown; metricsUrl?: unknown };
    return entry.msg === "listening" && typeof entry.url === "string" && typeof entry.metricsUrl === "string" ? { url: entry.url, metricsUrl: entry.metricsUrl } : undefined;
  } catch {
    return undefined;
  }
};

export interface PostResult {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly retryAfter: string | null;
}

export const postEvents = async (service: Pick<ServiceProcess, "url" | "token">, events: unknown[], token = service.token): Promise<PostResult> => {
  const res = await fetch(`${service.url}/v1/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ events }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, retryAfter: res.headers.get("retry-after") };
};

/** `size` valid events of batch `batch`, ids `b<batch>-e<i>` from one source. */
export const eventBatch = (batch: number, size: number, source = "//faults") =>
  Array.from({ length: size }, (_, i) => ({
    id: `b${batch}-e${i}`,
    source,
    time: new Date(Date.UTC(2026, 4, 1, 0, 0, batch)).toISOString(),
    tenant: `tenant-${batch % 3}`,
    model: "llama",
    tier: "premium",
    inputTokens: 10 + i,
    outputTokens: 20 + batch,
  }));
