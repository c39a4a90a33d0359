/**
 * A free TCP port on 127.0.0.1 for a child server (PostgreSQL, Prometheus, etcd, the service):
 * asked from the kernel by binding port 0, then released for the child to take. Another process
 * can take it in between, so callers that care retry on a bind failure.
 */
import net from "node:net";

/**
 * `count` distinct free ports: all are bound at once before any is released, since two separate
 * freePort() calls can be handed the same port (seen: a service whose metrics port equalled its
 * main port refused to start).
 */
export const freePorts = async (count: number): Promise<number[]> => {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => {
            const address = server.address();
            if (typeof address === "object" && address !== null) resolve(address.port);
            else reject(new Error("no port"));
          });
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r()))));
  }
};

export const freePort = async (): Promise<number> => (await freePorts(1))[0];
