/*
 * Image stage of `npm run e2e`: the billing image, built here without a Docker daemon
 * (build-image.sh: buildah, a base from mmdebstrap + Node 22 from npm) from billing-service/Dockerfile,
 * then run with podman as the platform's rendered Deployment runs it: read-only root filesystem, the
 * pod's runAsUser/runAsGroup, all capabilities dropped, no privilege escalation, emptyDirs (tmpfs) at
 * /tmp and the data dir, the tokens file mounted read-only. Commands: `token create`, `migrate`,
 * `serve` against PostgreSQL (embedded, on loopback; the container shares the host network), then the
 * service session. Differences from the cluster, on purpose: static tokens instead of
 * MAAS_BILLING_AUTH_MODE=kubernetes (no TokenReview API here) and no collector (no Prometheus).
 *
 * The image is run by digest, as the cluster runs it: the stage reads the digest of the built image's
 * manifest (podman, cross-checked by hashing the manifest bytes skopeo reads from the same storage),
 * renders platform-kubernetes with `platform.billing.image: localhost/maas-billing@sha256:<digest>`,
 * checks that the Deployment pins exactly that reference, and runs every container from the rendered
 * reference (never the local tag).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { startBillingCluster } from "../../../billing-service/testkit/postgres";
import { freePort } from "../../../billing-service/src/net/free-port";
import { loadRender, renderStack } from "../render";
import { expect, type Report } from "../report";
import { serviceSession, tokensFile, waitForHttp } from "../service-session";

/** The tag build-image.sh gives the image; the containers are run by digest, never by this tag. */
const IMAGE_TAG = "localhost/maas-billing:e2e";
const IMAGE_REPOSITORY = "localhost/maas-billing";

export interface ImageStageEnv {
  repoRoot: string;
  workDir: string;
}

function run(command: string, args: string[], timeoutMs = 0): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) {
        const tail = `${stdout}\n${stderr}`.trim().split("\n").slice(-15).join("\n");
        reject(new Error(`\`${command} ${args.join(" ")}\` failed (${err.code ?? err.signal}):\n${tail}`));
      } else resolve({ stdout, stderr });
    });
  });
}

/** How the platform's render runs the billing container (image, security context, volumes). */
interface RenderedRun {
  /** The billing container's image as rendered, and the migrate init container's. */
  image: string;
  initImages: string[];
  user: number;
  group: number;
  readOnlyRoot: boolean;
  dropAll: boolean;
  noNewPrivileges: boolean;
  emptyDirs: string[];
}

/** Renders platform-kubernetes as committed, with `platform.billing.image` set to `billingImage`. */
function renderedRun(repoRoot: string, workDir: string, billingImage: string): RenderedRun {
  const committed = parseYaml(readFileSync(join(repoRoot, "Pulumi.platform-kubernetes.yaml"), "utf8")) as { config: Record<string, any> };
  committed.config["maas-billing:platform"].billing.image = billingImage;
  const configFile = join(workDir, "Pulumi.platform-kubernetes.image-stage.yaml");
  writeFileSync(configFile, stringifyYaml(committed));
  renderStack(repoRoot, "platform-kubernetes", join(workDir, "render"), configFile);
  const deployment = loadRender(join(workDir, "render", "platform-kubernetes"))
    .map((r) => r.object as any)
    .find((o) => o.kind === "Deployment" && o.metadata.name === "maas-billing-api");
  if (!deployment) throw new Error("the platform-kubernetes render has no maas-billing-api Deployment");
  const pod = deployment.spec.template.spec;
  const container = pod.containers.find((c: any) => c.name === "billing-api");
  const emptyDirNames = new Set((pod.volumes ?? []).filter((v: any) => v.emptyDir).map((v: any) => v.name));
  return {
    image: container.image,
    initImages: (pod.initContainers ?? []).map((c: any) => c.image),
    user: container.securityContext?.runAsUser ?? pod.securityContext?.runAsUser,
    group: container.securityContext?.runAsGroup ?? pod.securityContext?.runAsGroup,
    readOnlyRoot: container.securityContext?.readOnlyRootFilesystem === true,
    dropAll: (container.securityContext?.capabilities?.drop ?? []).includes("ALL"),
    noNewPrivileges: container.securityContext?.allowPrivilegeEscalation === false,
    emptyDirs: (container.volumeMounts ?? []).filter((m: any) => emptyDirNames.has(m.name)).map((m: any) => m.mountPath),
  };
}

/** --ulimit flags repeating this process's own open-files and processes limits. */
function currentLimits(): string[] {
  const limits = readFileSync("/proc/self/limits", "utf8");
  const pick = (label: string, name: string) => {
    const m = new RegExp(`^${label}\\s+(\\S+)\\s+(\\S+)`, "m").exec(limits);
    return m && m[1] !== "unlimited" && m[2] !== "unlimited" ? [`--ulimit=${name}=${m[1]}:${m[2]}`] : [];
  };
  // Processes: runc could not set this machine's own limit (96367) on the container either ("error
  // setting rlimit type 6: operation not permitted"; the runtime's processes seem to run under a lower one),
  // while 4096 (a lowering) was accepted. The pod's limits are the node's, not
  // something the rendered Deployment sets, so this cap changes nothing the stage checks.
  const nproc = /^Max processes\s+(\S+)\s+(\S+)/m.exec(limits);
  const cap = (v: string | undefined) => String(Math.min(v === undefined || v === "unlimited" ? Infinity : Number(v), 4096));
  return [...pick("Max open files", "nofile"), `--ulimit=nproc=${cap(nproc?.[1])}:${cap(nproc?.[2])}`];
}

export async function imageStage(report: Report, env: ImageStageEnv): Promise<void> {
  mkdirSync(env.workDir, { recursive: true });
  const state = join(env.repoRoot, "tools", ".cache", "image-state");
  const storage = ["--root", join(state, "storage"), "--runroot", join(state, "run"), "--storage-driver", "vfs"];

  let size = "";
  const built = await report.check("image: billing-service/Dockerfile built without a Docker daemon (buildah; base: mmdebstrap bookworm + Node 22 from npm, passed as NODE_IMAGE)", async (detail) => {
    const started = Date.now();
    const { stdout } = await run("bash", [join(env.repoRoot, "scripts", "e2e", "image", "build-image.sh"), state]);
    for (const line of stdout.trim().split("\n").filter((l) => l.startsWith("[image]"))) detail(line);
    size = /size \S+: (.+?) \(base/.exec(stdout)?.[1] ?? "unknown";
    detail(`image ${IMAGE_TAG}: ${size}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    expect(size !== "unknown", "no image size: the image is missing");
  });
  if (!built) return;

  // runc, not crun: Debian's crun 1.8 refuses this machine's cgroup v1/v2 hybrid layout outright.
  const podman = (args: string[], timeoutMs = 0) => run("podman", [...storage, "--cgroup-manager=cgroupfs", "--runtime=runc", ...args], timeoutMs);

  // podman's container database records the storage path it was created under and refuses any other
  // ("database configuration mismatch") once the checkout moves or a worktree shares the cache. It
  // holds container state only (images live in the storage itself), and every container of this
  // stage is removed again, so start each run with none.
  for (const db of ["bolt_state.db", "db.sql"]) rmSync(join(state, "storage", "libpod", db), { force: true });

  // The digest the cluster would pull: the sha256 of the image's manifest. podman reports it; the
  // manifest's own bytes (skopeo, from the same storage) must hash to it, else it is not a content address.
  let digest = "";
  const rendered: { run?: RenderedRun } = {};
  await report.check(`image: the built image's manifest digest is what the platform render pins (platform.billing.image ${IMAGE_REPOSITORY}@sha256:...), and the stage runs that reference`, async (detail) => {
    digest = (await podman(["image", "inspect", "--format", "{{.Digest}}", IMAGE_TAG])).stdout.trim();
    detail(`podman: ${IMAGE_TAG} has manifest digest ${digest}`);
    expect(/^sha256:[a-f0-9]{64}$/.test(digest), `podman gave no digest for ${IMAGE_TAG}: "${digest}"`);
    const raw = await rawManifest(storage, IMAGE_TAG);
    const hashed = `sha256:${createHash("sha256").update(raw).digest("hex")}`;
    detail(`skopeo inspect --raw containers-storage: ${raw.length} bytes, ${hashed}`);
    expect(hashed === digest, `the manifest bytes hash to ${hashed}, not to podman's ${digest}`);
    const ref = `${IMAGE_REPOSITORY}@${digest}`;
    const how = renderedRun(env.repoRoot, env.workDir, ref);
    rendered.run = how;
    detail(`rendered maas-billing-api: container ${how.image}; init containers ${how.initImages.join(", ") || "(none)"}`);
    expect(how.image === ref, `the Deployment runs ${how.image}, not ${ref}`);
    expect(how.initImages.every((i) => i === ref), `an init container runs another image: ${how.initImages.join(", ")}`);
    const byDigest = (await podman(["image", "inspect", "--format", "{{.Digest}}", how.image])).stdout.trim();
    expect(byDigest === digest, `podman resolves ${how.image} to ${byDigest}`);
  });
  const how = rendered.run;
  if (!how) return;
  const image = how.image;
  const runFlags = [
    "--rm",
    "--network=host",
    // podman raises RLIMIT_NOFILE/NPROC by default, which needs CAP_SYS_RESOURCE; keep ours instead.
    ...currentLimits(),
    `--user=${how.user}:${how.group}`,
    ...(how.readOnlyRoot ? ["--read-only", "--read-only-tmpfs=false"] : []),
    ...(how.dropAll ? ["--cap-drop=ALL"] : []),
    ...(how.noNewPrivileges ? ["--security-opt=no-new-privileges"] : []),
    ...how.emptyDirs.map((path) => `--tmpfs=${path}:rw,mode=1777`),
  ];

  // Not under the stage's work folder: that is 0700 root's, and as root embedded PostgreSQL runs as the
  // "postgres" user, who must be able to enter every parent of the data directory.
  const pgDir = mkdtempSync(join(tmpdir(), "maas-e2e-image-pg-"));
  const cluster = await startBillingCluster(pgDir, { persistent: false });
  try {
    let token = "";
    const tokensDir = join(env.workDir, "tokens");
    await report.check(`image: \`token create\` and \`migrate\` run by digest in the container as ${how.user}:${how.group}, read-only root, caps dropped (as the rendered Deployment)`, async (detail) => {
      expect(how.readOnlyRoot && how.dropAll && how.noNewPrivileges && how.user > 0, `the render no longer runs the container hardened: ${JSON.stringify(how)}`);
      const created = await podman(["run", ...runFlags, image, "token", "create", "--name", "e2e-admin", "--admin"], 120_000);
      token = /: (\S+)\s*$/.exec(created.stderr.trim())?.[1] ?? "";
      expect(token !== "", "token create printed no token");
      mkdirSync(tokensDir, { recursive: true });
      writeFileSync(join(tokensDir, "tokens.yaml"), tokensFile(created.stdout), { mode: 0o644 });
      const migrated = await podman(["run", ...runFlags, "-e", `DATABASE_URL=${cluster.url}`, image, "migrate"], 300_000);
      detail(`flags: ${runFlags.join(" ")}`);
      detail(`migrate: ${(migrated.stdout + migrated.stderr).trim().split("\n").slice(-1)[0] ?? ""}`);
      const writable = await podman(["run", ...runFlags, "--entrypoint=/bin/sh", image, "-c", "touch /app/x 2>&1 || echo refused"], 60_000).catch((e: Error) => ({ stdout: e.message, stderr: "" }));
      detail(`write to /app: ${writable.stdout.trim().split("\n").pop()}`);
      expect(/Read-only file system|refused/.test(writable.stdout), "the root filesystem is writable");
    });
    if (!token) return;

    await report.check("image: `serve` in the container against PostgreSQL: /healthz, /readyz, events, an invoice of 0.95 USD", async (detail) => {
      const port = await freePort();
      const name = `maas-billing-e2e-${port}`;
      await podman([
        "run", "-d", "--name", name, ...runFlags.filter((f) => f !== "--rm"),
        "-e", `DATABASE_URL=${cluster.url}`, "-e", `PORT=${port}`, "-e", `MAAS_BILLING_METRICS_PORT=${await freePort()}`, "-e", "MAAS_BILLING_TOKENS_FILE=/etc/maas-billing-tokens/tokens.yaml",
        "-v", `${tokensDir}:/etc/maas-billing-tokens:ro`,
        image, "serve", "--host", "127.0.0.1",
      ], 120_000);
      try {
        const alive = { running: true };
        await waitForHttp(`http://127.0.0.1:${port}/healthz`, 180_000, () => alive.running).catch(async (e: Error) => {
          const logs = await podman(["logs", name]).catch((l: Error) => ({ stdout: l.message, stderr: "" }));
          throw new Error(`${e.message}\n${(logs.stdout + logs.stderr).trim().split("\n").slice(-10).join("\n")}`);
        });
        await serviceSession(`http://127.0.0.1:${port}`, token, detail);
        const running = (await podman(["inspect", "--format", "{{.ImageDigest}}", name])).stdout.trim();
        detail(`container ${name} runs ${image} (image digest ${running})`);
        expect(running === digest, `the container runs image digest ${running}, not ${digest}`);
        const user = await podman(["exec", name, "id", "-u"]);
        detail(`process uid in the container: ${user.stdout.trim()}; image size ${size}`);
        expect(user.stdout.trim() === String(how.user), "the service does not run as the rendered user");
      } finally {
        await podman(["rm", "-f", "-t", "5", name]).catch(() => undefined);
      }
    });
  } finally {
    await cluster.server.stop().catch(() => undefined);
    rmSync(pgDir, { recursive: true, force: true });
  }
}

/** The image's manifest exactly as stored (skopeo reads the same podman storage). */
async function rawManifest(storage: string[], image: string): Promise<Buffer> {
  const root = storage[storage.indexOf("--root") + 1];
  const runroot = storage[storage.indexOf("--runroot") + 1];
  const driver = storage[storage.indexOf("--storage-driver") + 1];
  return new Promise((resolve, reject) => {
    execFile("skopeo", ["inspect", "--raw", `containers-storage:[${driver}@${root}+${runroot}]${image}`], { encoding: "buffer", maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`skopeo inspect --raw failed: ${String(stderr).trim().split("\n").slice(-5).join("\n")}`));
      else resolve(stdout);
    });
  });
}
