// Child processes the e2e harness starts, tracked so that every one of them is stopped on the way
// out, whether the run passed, failed or was interrupted.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { join } from "node:path";

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
}

const running: ManagedProcess[] = [];

/** Starts `command` with its output in `<logDir>/<name>.log` (servers are chatty; the log is kept for failures). */
export function startProcess(name: string, command: string, args: string[], logDir: string): ManagedProcess {
  const logFile = join(logDir, `${name}.log`);
  const log = createWriteStream(logFile);
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  child.on("error", (err) => log.write(`spawn error: ${err.message}\n`));
  const proc = { name, child, logFile };
  running.push(proc);
  return proc;
}

/** Stops every started process, newest first (the API server before etcd): SIGTERM, then SIGKILL after 5 s. */
export async function stopAll(): Promise<void> {
  while (running.length > 0) {
    const proc = running.pop()!;
    await stopProcess(proc);
  }
}

async function stopProcess(proc: ManagedProcess): Promise<void> {
  const { child } = proc;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Polls `probe` every 250 ms until it returns true, the process exits, or `timeoutMs` passes.
 * Throws with the tail of the process log so a failed start explains itself.
 */
export async function waitUntilReady(
  proc: ManagedProcess,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) {
      throw new Error(`${proc.name} exited with code ${proc.child.exitCode} before becoming ready; see ${proc.logFile}`);
    }
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${proc.name} not ready after ${timeoutMs} ms; see ${proc.logFile}`);
}
