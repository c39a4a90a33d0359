// Tools a stage needs from tools/build.sh (a stamp hit costs nothing). A failed build is an error
// naming the exact command and the end of its output, so the stage reports why it could not run.
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";

const repoRoot = resolve(__dirname, "..", "..");

export function ensureTools(tools: string[]): Promise<void> {
  return runToolScript(["tools/build.sh", ...tools]);
}

/**
 * The upstream Alertmanager and AlertmanagerConfig CRDs into tools/crds (tools/promoperator/fetch-crds.sh:
 * the prometheus-operator module through the Go module proxy, hash-pinned).
 */
export function ensureAlertmanagerCrds(): Promise<void> {
  return runToolScript(["tools/promoperator/fetch-crds.sh"]);
}

function runToolScript([script, ...args]: string[]): Promise<void> {
  const command = `bash ${script}${args.length > 0 ? ` ${args.join(" ")}` : ""}`;
  return new Promise((resolvePromise, reject) => {
    execFile("bash", [join(repoRoot, script), ...args], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      process.stdout.write(stdout.split("\n").filter((l) => l.startsWith("[tools]")).map((l) => `${l}\n`).join(""));
      if (err) {
        const tail = `${stdout}\n${stderr}`.trim().split("\n").slice(-15).join("\n");
        reject(new Error(`\`${command}\` failed (exit ${err.code ?? err.signal}):\n${tail}`));
      } else resolvePromise();
    });
  });
}
