// The federation proxies' upstream-auth sidecar, run for real: Debian's nginx with its njs module
// loads the nginx.conf and njs script that components/platform/upstreamAuth.ts renders, with one
// listener per monitoring stack (UWM and, where MaaS puts Limitador, the platform Prometheus), in
// front of two fake TLS upstreams verified against a test CA. A tenant's own Authorization header
// never reaches an upstream (the pod's token does, re-read on every request), each listener
// reaches only its own stack, other paths are 404, and an upstream the CA did not sign is refused.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import { closeSync, openSync, readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts } from "../billing-service/src/net/free-port";
import { upstreamAuthNginxConf, upstreamAuthScript } from "../components/platform/upstreamAuth";

const NGINX_BIN = process.env.NGINX_BIN ?? "/usr/sbin/nginx";
const NJS_MODULE = "/usr/lib/nginx/modules/ngx_http_js_module.so";

interface Seen {
  readonly url: string;
  readonly authorization: string | undefined;
  readonly body?: string;
}

let work: string;
let nginx: ChildProcess | undefined;
let nginxLog = "";
const upstreams: { name: string; server: Server; port: number; seen: Seen[] }[] = [];
const listen: Record<"uwm" | "cluster" | "rogue" | "grafana", number> = { uwm: 0, cluster: 0, rogue: 0, grafana: 0 };
let logFile = "";
/** The token the fake Thanos accepts (a TokenReview of an expired token fails): set by the Grafana tests. */
let validToken = "";
let tokenFile: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });

/** A self-signed certificate for `localhost` made by openssl in `dir`: [key, cert] paths. */
function selfSigned(dir: string, name: string): [string, string] {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"], { stdio: "ignore" });
  return [key, cert];
}

async function fakeUpstream(name: string, key: string, cert: string) {
  const seen: Seen[] = [];
  const server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push({ url: req.url ?? "", authorization: req.headers.authorization, ...(body ? { body } : {}) });
      if (name === "thanos") {
        // Like kube-rbac-proxy: only a token the API server still accepts passes.
        if (req.headers.authorization !== `Bearer ${validToken}`) return void res.writeHead(401, { "content-type": "text/plain" }).end("Unauthorized\n");
        return void res.writeHead(200, { "content-type": "application/json" }).end('{"status":"success","data":{"resultType":"vector","result":[]}}');
      }
      res.writeHead(200, { "content-type": "text/plain" }).end(`# from ${name}\nauthorized_hits{route_namespace="a-models"} 1\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const entry = { name, server, port: (server.address() as { port: number }).port, seen };
  upstreams.push(entry);
  return entry;
}

const get = async (port: number, pathAndQuery: string, authorization?: string) => {
  const res = await fetch(`http://127.0.0.1:${port}${pathAndQuery}`, { headers: authorization ? { authorization } : {} });
  return { status: res.status, body: await res.text() };
};

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "maas-upstream-auth-"));
  // nginx workers run as an unprivileged user when the test runs as root: they read the token and the njs script.
  await chmod(work, 0o755);
  const [caKey, caCert] = selfSigned(work, "stack");
  const [rogueKey, rogueCert] = selfSigned(work, "rogue");
  const uwm = await fakeUpstream("uwm", caKey, caCert);
  const cluster = await fakeUpstream("cluster", caKey, caCert);
  const rogue = await fakeUpstream("rogue", rogueKey, rogueCert);
  const thanos = await fakeUpstream("thanos", caKey, caCert);
  tokenFile = path.join(work, "token");
  await writeFile(tokenFile, "pod-token-1\n");
  await writeFile(path.join(work, "upstream-token.js"), upstreamAuthScript(tokenFile));
  for (let attempt = 0; ; attempt++) {
    [listen.uwm, listen.cluster, listen.rogue, listen.grafana] = await freePorts(4);
    const conf = upstreamAuthNginxConf({
      servers: [
        { port: listen.uwm, upstreamUrl: `https://localhost:${uwm.port}`, caFile: caCert },
        { port: listen.cluster, upstreamUrl: `https://localhost:${cluster.port}`, caFile: caCert },
        // Signed by another key than the CA the sidecar trusts: must be refused.
        { port: listen.rogue, upstreamUrl: `https://localhost:${rogue.port}`, caFile: caCert },
        // The platform Grafana's sidecar (components/platform/grafana.ts): the read API only.
        { port: listen.grafana, upstreamUrl: `https://localhost:${thanos.port}`, caFile: caCert, paths: "query" },
      ],
      jsModule: NJS_MODULE,
      configDir: work,
      tempDir: work,
    });
    await writeFile(path.join(work, "nginx.conf"), conf);
    // nginx reopens /dev/stderr by path (the rendered config logs there), which a pipe does not allow: a file does.
    logFile = path.join(work, `nginx-${attempt}.log`);
    const logFd = openSync(logFile, "w");
    nginx = spawn(NGINX_BIN, ["-c", path.join(work, "nginx.conf"), "-e", "/dev/stderr", "-g", "daemon off;"], { stdio: ["ignore", logFd, logFd] });
    closeSync(logFd);
    const readLog = () => (nginxLog = readFileSync(logFile, "utf8"));
    const exited = new Promise<void>((resolve) => nginx?.once("exit", () => resolve()));
    const deadline = Date.now() + 60_000;
    let up = false;
    while (!up && Date.now() < deadline) {
      const done = await Promise.race([exited.then(() => "exited" as const), sleep(100).then(() => "waiting" as const)]);
      if (done === "exited") break;
      up = (await accepts(listen.uwm)) && (await accepts(listen.cluster)) && (await accepts(listen.rogue)) && (await accepts(listen.grafana));
    }
    readLog();
    if (up) break;
    nginx.kill("SIGKILL");
    // A port taken between freePorts() and nginx's bind: try again with new ones.
    if (attempt >= 3 || !/Address already in use/.test(nginxLog)) throw new Error(`nginx did not start:\n${nginxLog}`);
  }
}, 120_000);

afterAll(async () => {
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise<void>((resolve) => nginx?.once("exit", () => resolve()));
    nginx.kill("SIGTERM");
    await exited;
  }
  for (const u of upstreams) await new Promise<void>((resolve) => u.server.close(() => resolve()));
  if (work) await rm(work, { recursive: true, force: true });
}, 120_000);

describe("upstream-auth sidecar (rendered nginx.conf, real nginx + njs)", () => {
  const byName = (name: string) => upstreams.find((u) => u.name === name)!;

  it("forwards /federate to its own stack with the pod's token, never the tenant's header", async () => {
    const uwm = await get(listen.uwm, "/federate?match%5B%5D=vllm%3Aprompt_tokens_total", "Bearer tenant-stolen-token");
    expect(uwm.status).toBe(200);
    expect(uwm.body).toContain("# from uwm");
    const cluster = await get(listen.cluster, "/federate?match%5B%5D=authorized_hits", "Bearer tenant-stolen-token");
    expect(cluster.status).toBe(200);
    expect(cluster.body).toContain("# from cluster");
    expect(byName("uwm").seen).toEqual([{ url: "/federate?match%5B%5D=vllm%3Aprompt_tokens_total", authorization: "Bearer pod-token-1" }]);
    expect(byName("cluster").seen).toEqual([{ url: "/federate?match%5B%5D=authorized_hits", authorization: "Bearer pod-token-1" }]);
    // Without a client header the pod's token is still what goes upstream.
    await get(listen.cluster, "/federate?match%5B%5D=limited_calls");
    expect(byName("cluster").seen.at(-1)?.authorization).toBe("Bearer pod-token-1");
  });

  it("re-reads the token on every request (kubelet rotation)", async () => {
    await writeFile(tokenFile, "pod-token-2\n");
    await get(listen.cluster, "/federate?match%5B%5D=authorized_calls", "Bearer tenant-stolen-token");
    expect(byName("cluster").seen.at(-1)).toEqual({ url: "/federate?match%5B%5D=authorized_calls", authorization: "Bearer pod-token-2" });
  });

  it("answers 404 for every other path: the token only ever buys /federate", async () => {
    const before = byName("uwm").seen.length + byName("cluster").seen.length;
    for (const p of ["/api/v1/query?query=up", "/federate/../api/v1/series", "/", "/api/v1/admin/tsdb/delete_series"]) {
      expect((await get(listen.cluster, p, "Bearer x")).status).toBe(404);
      expect((await get(listen.uwm, p)).status).toBe(404);
    }
    expect(byName("uwm").seen.length + byName("cluster").seen.length).toBe(before);
  });

  it("refuses an upstream whose certificate the trusted CA did not sign (no token sent to it)", async () => {
    const rogue = await get(listen.rogue, "/federate?match%5B%5D=authorized_hits", "Bearer tenant-stolen-token");
    expect(rogue.status).toBe(502);
    expect(byName("rogue").seen).toEqual([]);
  });
});

describe("the platform Grafana's sidecar (query mode): a projected, expiring token read per request", () => {
  const thanos = () => upstreams.find((u) => u.name === "thanos")!;
  /** Every response the client (Grafana) got: status, headers and body, to look for the token in. */
  const answers: string[] = [];
  const ask = async (pathAndQuery: string, init: RequestInit = {}) => {
    const res = await fetch(`http://127.0.0.1:${listen.grafana}${pathAndQuery}`, init);
    const body = await res.text();
    answers.push(JSON.stringify([...res.headers.entries()]) + body);
    return { status: res.status, body };
  };
  const rotate = async (token: string) => {
    // The kubelet writes the refreshed token into the projected volume; the API server stops accepting the old one when it expires.
    await writeFile(tokenFile, `${token}\n`);
    validToken = token;
  };
  const tokens = ["sa-token-hour-1", "sa-token-hour-2", "sa-token-hour-3"];

  it("forwards the read API, GET and POST (Grafana's query method), with the pod's token instead of any client header", async () => {
    await rotate(tokens[0]);
    const get = await ask("/api/v1/query?query=maas_billing_cost_total", { headers: { authorization: "Bearer grafana-user-supplied" } });
    expect(get.status).toBe(200);
    const post = await ask("/api/v1/query_range", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: "Bearer grafana-user-supplied" },
      body: "query=sum(maas_billing_cost_total)&start=0&end=60&step=15",
    });
    expect(post.status).toBe(200);
    expect(thanos().seen).toEqual([
      { url: "/api/v1/query?query=maas_billing_cost_total", authorization: `Bearer ${tokens[0]}` },
      { url: "/api/v1/query_range", authorization: `Bearer ${tokens[0]}`, body: "query=sum(maas_billing_cost_total)&start=0&end=60&step=15" },
    ]);
  });

  it("after each rotation only the new token is sent: the expired one, which Thanos refuses, is never used again", async () => {
    for (const [i, token] of tokens.entries()) {
      await rotate(token);
      const from = thanos().seen.length;
      for (let n = 0; n < 3; n++) expect((await ask(`/api/v1/labels?n=${i}-${n}`)).status).toBe(200);
      expect(thanos().seen.slice(from).map((s) => s.authorization)).toEqual(Array(3).fill(`Bearer ${token}`));
    }
  });

  it("forwards nothing but the read API: admin endpoints, /federate and the rest are 404 and never reach Thanos", async () => {
    const before = thanos().seen.length;
    for (const p of ["/api/v1/admin/tsdb/delete_series?match[]=up", "/api/v1/admin/tsdb/snapshot", "/federate?match%5B%5D=up", "/", "/metrics", "/api/v2/alerts"]) {
      expect((await ask(p, { method: p.includes("admin") ? "POST" : "GET" })).status, p).toBe(404);
    }
    expect(thanos().seen.length).toBe(before);
  });

  it("never logs or echoes a token: not in any answer Grafana got, not in nginx's log", () => {
    expect(answers.length).toBeGreaterThan(10);
    const log = readFileSync(logFile, "utf8");
    for (const token of tokens) {
      expect(answers.filter((a) => a.includes(token))).toEqual([]);
      expect(log).not.toContain(token);
    }
  });
});
