/**
 * A free TCP port on 127.0.0.1 for a child server (PostgreSQL, Prometheus, etcd, the service):
 * asked from the kernel by binding port 0, then released for the child to take. Another process
 * can take it in between, so callers that care retry on a bind failure.
 */
import net from "node:net";

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
