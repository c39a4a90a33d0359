// Tools a stage needs from tools/build.sh (a stamp hit costs nothing). A failed build is an error
// naming the exact command and the end of its output, so the stage reports why it could not run.
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";

const repoRoot = resolve(__dirname, "..", "..");

export function ensureTools(tools: string[]): Promise<void> {
  const command = `bash tools/build.sh ${tools.join(" ")}`;
  return new Promise((resolvePromise, reject) => {
    execFile("bash", [join(repoRoot, "tools", "build.sh"), ...tools], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      process.stdout.write(stdout.split("\n").filter((l) => l.startsWith("[tools]")).map((l) => `${l}\n`).join(""));
      if (err) {
        const tail = `${stdout}\n${stderr}`.trim().split("\n").slice(-15).join("\n");
        reject(new Error(`\`${command}\` failed (exit ${err.code ?? err.signal}):\n${tail}`));
      } else resolvePromise();
    });
  });
}
