/**
 * A tiny /metrics endpoint holding counters in memory, like Limitador or vLLM do: the values live
 * in the process and are gone when it "restarts".
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

const escape = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

export class CounterEndpoint {
  private readonly values = new Map<string, { metric: string; labels: Record<string, string>; value: number }>();
  private server?: http.Server;

  /** Adds `by` to the counter `metric{labels}`, creating it on first use (as Limitador does). */
  inc(metric: string, labels: Record<string, string>, by = 1): void {
    const key = JSON.stringify([metric, Object.entries(labels).sort()]);
    const c = this.values.get(key) ?? { metric, labels, value: 0 };
    c.value += by;
    this.values.set(key, c);
  }

  /** A process restart: every counter and series is gone until the next increment. */
  restart(): void {
    this.values.clear();
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const byMetric = new Map<string, string[]>();
    for (const c of this.values.values()) {
      const labels = Object.entries(c.labels)
        .map(([k, v]) => `${k}="${escape(v)}"`)
        .join(",");
      const lines = byMetric.get(c.metric) ?? [`# TYPE ${c.metric} counter`];
      lines.push(`${c.metric}{${labels}} ${c.value}`);
      byMetric.set(c.metric, lines);
    }
    return [...byMetric.values()].flat().join("\n") + "\n";
  }

  /** Listens on a free loopback port; returns `host:port` for a scrape target. */
  async listen(): Promise<string> {
    this.server = http.createServer((req, res) => {
      if (req.url !== "/metrics") {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" }).end(this.render());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
