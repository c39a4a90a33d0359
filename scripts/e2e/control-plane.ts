// etcd and kube-apiserver on loopback, built by tools/build.sh. No controller-manager and no nodes:
// the checks are about what the API server accepts and what RBAC allows, not about running pods.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KubeClient } from "./kube-client";
import { freePort } from "../../billing-service/src/net/free-port";
import { startProcess, waitUntilReady } from "./processes";

/** A user in the static token file: the API server authenticates its bearer token as `user` in `groups`. */
export interface Identity {
  user: string;
  groups: string[];
}

export interface ControlPlane {
  url: string;
  admin: KubeClient;
  /** Client authenticated as the identity registered under this user name. */
  clientFor(user: string): KubeClient;
  /** A kubeconfig (YAML) for that identity: what a tool like the Pulumi provider is given. */
  kubeconfigFor(user: string): string;
}

export interface ControlPlaneOptions {
  /**
   * Turns the API server's garbage-collector finalizers off. Without a controller-manager nothing
   * removes `foregroundDeletion`, so a foreground delete (the Pulumi provider's default) would leave
   * the object in place forever; with the option off, deletes take effect at once.
   */
  noGarbageCollector?: boolean;
}

/**
 * Starts etcd and the API server in `workDir`. `identities` are registered in the token file (read at
 * start only, so every identity the run needs must be known now); a cluster admin in `system:masters`
 * is always added.
 */
export async function startControlPlane(
  binDir: string,
  workDir: string,
  identities: Identity[],
  options: ControlPlaneOptions = {},
): Promise<ControlPlane> {
  const logDir = join(workDir, "logs");
  const pki = join(workDir, "pki");
  mkdirSync(logDir, { recursive: true });
  mkdirSync(pki, { recursive: true });

  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  writeFileSync(join(pki, "sa.pub"), publicKey.export({ type: "spki", format: "pem" }));
  writeFileSync(join(pki, "sa.key"), privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });

  const everyone: Identity[] = [{ user: "e2e-cluster-admin", groups: ["system:masters"] }, ...identities];
  const tokens = new Map(everyone.map((id) => [id.user, randomBytes(24).toString("hex")]));
  const tokenLines = everyone.map((id) => `${tokens.get(id.user)},${id.user},${id.user},"${id.groups.join(",")}"`);
  writeFileSync(join(pki, "tokens.csv"), tokenLines.join("\n") + "\n", { mode: 0o600 });

  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${etcdClient}`;
  const peerUrl = `http://127.0.0.1:${etcdPeer}`;
  const etcd = startProcess(
    "etcd",
    join(binDir, "etcd"),
    [
      `--data-dir=${join(workDir, "etcd")}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      // Throw-away data: fsync would only slow the run on a shared machine.
      "--unsafe-no-fsync",
    ],
    logDir,
  );
  await waitUntilReady(etcd, async () => (await fetch(`${etcdUrl}/health`)).ok, 30_000);

  const url = `https://127.0.0.1:${apiPort}`;
  const apiserver = startProcess(
    "kube-apiserver",
    join(binDir, "kube-apiserver"),
    [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--cert-dir=${pki}`,
      `--token-auth-file=${join(pki, "tokens.csv")}`,
      "--authorization-mode=RBAC",
      `--service-account-issuer=${url}`,
      `--service-account-key-file=${join(pki, "sa.pub")}`,
      `--service-account-signing-key-file=${join(pki, "sa.key")}`,
      "--service-cluster-ip-range=10.0.0.0/24",
      // Nothing creates the per-namespace `default` ServiceAccount without a controller-manager.
      "--disable-admission-plugins=ServiceAccount",
      "--endpoint-reconciler-type=none",
      ...(options.noGarbageCollector ? ["--enable-garbage-collector=false"] : []),
    ],
    logDir,
  );
  const admin = new KubeClient(url, tokens.get("e2e-cluster-admin")!);
  const tokenOf = (user: string): string => {
    const token = tokens.get(user);
    if (!token) throw new Error(`identity ${user} was not registered at start`);
    return token;
  };
  await waitUntilReady(apiserver, async () => (await admin.request("GET", "/readyz")).status === 200, 120_000);

  return {
    url,
    admin,
    clientFor(user: string): KubeClient {
      return admin.as(tokenOf(user));
    },
    kubeconfigFor(user: string): string {
      // The serving certificate is self-signed by the loopback API server (see kube-client.ts).
      return JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "e2e", cluster: { server: url, "insecure-skip-tls-verify": true } }],
        users: [{ name: user, user: { token: tokenOf(user) } }],
        contexts: [{ name: user, context: { cluster: "e2e", user } }],
        "current-context": user,
      });
    },
  };
}
