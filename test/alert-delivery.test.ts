// Alert delivery end to end with real parts: the tenant Prometheus (its rendered prometheus.yml with
// the `alerting:` block, and the real federation-down rule of dashboards/rules.ts) fires, a real
// Alertmanager (Debian prometheus-alertmanager) with the rendered tenant-scoped configuration
// routes it, and a webhook receiver (an in-process HTTP server) gets the notification. An alert
// labelled with another tenant reaches no receiver.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPrometheus, type RunningPrometheus } from "../billing-service/testkit/prometheus";
import { freePort } from "../billing-service/src/net/free-port";
import { renderAlertmanagerConfig } from "../components/alerting/alertmanagerConfig";
import { receiverSchema } from "../components/config/alerting";
import { renderPrometheusConfig } from "../components/tenant/prometheusConfig";
import { tenantPrometheusRules } from "../dashboards";

const ALERTMANAGER_BIN = process.env.ALERTMANAGER_BIN ?? "/usr/bin/prometheus-alertmanager";

interface Delivery {
  readonly path: string;
  readonly authorization: string | undefined;
  readonly body: { receiver: string; status: string; alerts: { labels: Record<string, string>; status: string }[] };
}

let work: string;
let hook: Server;
const deliveries: Delivery[] = [];
let alertmanager: ChildProcess;
let alertmanagerUrl: string;
let alertmanagerLog = "";
let prometheus: RunningPrometheus;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (what: string, check: () => boolean | Promise<boolean>): Promise<void> => {
  const deadline = Date.now() + 120_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\nalertmanager log:\n${alertmanagerLog.slice(-3000)}`);
    await sleep(200);
  }
};

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "maas-alerting-"));
  // The webhook receiver.
  hook = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      deliveries.push({ path: req.url ?? "", authorization: req.headers.authorization, body: JSON.parse(body) as Delivery["body"] });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, "127.0.0.1", resolve));
  const hookPort = (hook.address() as { port: number }).port;

  // The tenant's Alertmanager, configured from receivers as a tenant would write them.
  const tokenFile = path.join(work, "token");
  await writeFile(tokenFile, "s3cret-hook-token\n");
  const receiver = receiverSchema.parse({
    name: "tenant-a-oncall",
    webhook: { url: `http://127.0.0.1:${hookPort}/tenant-a`, bearerTokenSecret: { name: "tenant-a-hook", key: "token" } },
  });
  const amConfig = renderAlertmanagerConfig({ receivers: [receiver], requireLabels: { tenant: "tenant-a" }, groupWait: "1s" })
    // The pod mounts the Secret at secretMountPath(); here the token file stands in for it.
    .replace("/etc/alertmanager/secrets/tenant-a-hook/token", tokenFile);
  await writeFile(path.join(work, "alertmanager.yml"), amConfig);
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    alertmanagerUrl = `http://127.0.0.1:${port}`;
    alertmanagerLog = "";
    alertmanager = spawn(
      ALERTMANAGER_BIN,
      [
        `--config.file=${path.join(work, "alertmanager.yml")}`,
        `--storage.path=${path.join(work, `am-data-${attempt}`)}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--cluster.listen-address=", // no gossip port: a single instance
        "--log.level=warn",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    alertmanager.stderr?.on("data", (c: Buffer) => (alertmanagerLog += c.toString()));
    let ready = false;
    const deadline = Date.now() + 60_000;
    while (!ready && alertmanager.exitCode === null && Date.now() < deadline) {
      ready = await fetch(`${alertmanagerUrl}/-/ready`).then((r) => r.ok, () => false);
      if (!ready) await sleep(200);
    }
    if (ready) break;
    alertmanager.kill("SIGKILL");
    if (attempt >= 2 || !/address already in use/.test(alertmanagerLog)) throw new Error(`alertmanager did not start:\n${alertmanagerLog}`);
  }

  // The tenant Prometheus as rendered for the cluster, its federation proxies unreachable (so the
  // federation-down rule fires), with that rule's `for` shortened to fire at once.
  const rules = tenantPrometheusRules({ vllmFamily: "kserve_vllm" });
  const fast = {
    groups: rules.groups.map((g) => ({ ...g, rules: g.rules.map((r) => ("alert" in r && r.alert === "MaasFederationDown" ? { ...r, for: "0s" } : r)) })),
  };
  await writeFile(path.join(work, "rules.yml"), stringify(fast, { lineWidth: 0 }));
  const deadPort = await freePort(); // nothing listens there
  prometheus = await startPrometheus({
    dir: path.join(work, "prometheus"),
    config: renderPrometheusConfig({
      tenant: "tenant-a",
      scrapeInterval: "1s",
      vllmMetricFamily: "kserve_vllm",
      ruleFiles: [path.join(work, "rules.yml")],
      alertmanagerUrl,
      source: { mode: "federated", modelsUrl: `http://127.0.0.1:${deadPort}`, gatewayUrl: `http://127.0.0.1:${deadPort}`, billingUrl: `http://127.0.0.1:${deadPort}` },
    }),
  });
}, 180_000);

afterAll(async () => {
  await prometheus?.stop();
  if (alertmanager && alertmanager.exitCode === null) {
    const exited = new Promise((r) => alertmanager.once("exit", r));
    alertmanager.kill("SIGTERM");
    await exited;
  }
  await new Promise((r) => hook?.close(r));
  if (work) await rm(work, { recursive: true, force: true });
});

describe("alert delivery: tenant Prometheus -> Alertmanager -> webhook", () => {
  it("the rendered configuration is valid for the real Alertmanager (amtool check-config)", async () => {
    const { execFile } = await import("node:child_process");
    const out = await new Promise<string>((resolve, reject) =>
      execFile("/usr/bin/amtool", ["check-config", path.join(work, "alertmanager.yml")], (e, stdout, stderr) => (e ? reject(new Error(stderr)) : resolve(stdout))),
    );
    expect(out).toContain("SUCCESS");
  });

  it("a fired tenant rule reaches the tenant's webhook receiver, with its bearer token", async () => {
    await until("a webhook delivery of MaasFederationDown", () =>
      deliveries.some((d) => d.body.alerts.some((a) => a.labels.alertname === "MaasFederationDown" && a.status === "firing")),
    );
    const d = deliveries.find((x) => x.body.alerts.some((a) => a.labels.alertname === "MaasFederationDown"))!;
    expect(d.path).toBe("/tenant-a");
    expect(d.body.receiver).toBe("tenant-a-oncall");
    expect(d.authorization).toBe("Bearer s3cret-hook-token");
    // The tenant Prometheus' external label scopes it.
    expect(new Set(d.body.alerts.map((a) => a.labels.tenant))).toEqual(new Set(["tenant-a"]));
  });

  it("an alert labelled with another tenant reaches no receiver (it is routed to discard)", async () => {
    const post = await fetch(`${alertmanagerUrl}/api/v2/alerts`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([{ labels: { alertname: "ForeignTenantAlert", tenant: "tenant-b", severity: "critical" }, annotations: { summary: "not yours" } }]),
    });
    expect(post.status).toBe(200);
    let routed: { labels: Record<string, string>; receivers: { name: string }[] }[] = [];
    await until("the foreign alert to be listed", async () => {
      routed = (await (await fetch(`${alertmanagerUrl}/api/v2/alerts?filter=alertname%3D%22ForeignTenantAlert%22`)).json()) as typeof routed;
      return routed.length === 1;
    });
    expect(routed[0]!.receivers.map((r) => r.name)).toEqual(["discard"]);
    // The tenant's own alerts are routed to its receiver (the check can fail).
    const own = (await (await fetch(`${alertmanagerUrl}/api/v2/alerts?filter=tenant%3D%22tenant-a%22`)).json()) as typeof routed;
    expect(own.length).toBeGreaterThan(0);
    expect(own.every((a) => a.receivers.some((r) => r.name === "tenant-a-oncall"))).toBe(true);
  });
});

describe("receiver configuration", () => {
  it("refuses a webhook URL with credentials in it, naming the fix", () => {
    const r = receiverSchema.safeParse({ name: "x", webhook: { url: "https://user:pw@hooks.example.com/x" } });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain("bearerTokenSecret");
  });
  it("refuses a receiver without webhook or email", () => {
    expect(receiverSchema.safeParse({ name: "x" }).success).toBe(false);
  });
});
