/**
 * The remote-read path against a real Prometheus: the same series and samples as the query API for
 * every kind of matcher the settings allow (values with quotes, backslashes and newlines included),
 * `auto` choosing remote read there and the query API where /api/v1/read is missing (a Thanos
 * querier), `remote-read` refusing such a source by name, and matcher settings checked when read.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { backfill, startPrometheus, type RunningPrometheus } from "../testkit/prometheus";
import snappy from "snappy";
import { PrometheusClient, type RawSeries } from "../src/collector/prometheus-client";
import { readExternalLabels, RemoteReadSampleSource, SAMPLES_ONLY } from "../src/collector/remote-read/client";
import { ReadRequest } from "../src/collector/remote-read/prompb";
import { createSampleSource } from "../src/collector/sample-source";
import { promqlString } from "../src/collector/promql";
import { parseMatcherList, selectorMatchers } from "../src/collector/remote-read/matchers";
import { parseCollectorSettings } from "../src/contract";

const T0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 2 * 3_600_000;
const ODD = 'o"brien\\\\x\nnew';
const SERIES = [
  { user: "alice", job: "limitador" },
  { user: "bob", job: "limitador" },
  { user: "bob", job: "limitador-duplicate" },
  { user: ODD, job: "limitador" },
];

/** [ms since the previous sample, value] */
const IRREGULAR: Array<[number, string]> = [
  [0, "0"], [15_000, "1.5"], [15_000, "1000000000000003"], [1, "1000000000000004"], [14_999, "7"], [15_000, "7"],
  [1_200_000, "8.25"], [15_000, "NaN"], [15_000, "9"], [540_000, "123456.789"], [15_000, "123460"], [30_000, "0"],
  ...Array.from({ length: 200 }, (_, k): [number, string] => [15_000 + (k % 7) * 3, String(10 * k + (k % 3))]),
  [2_000_000, "5e+15"], [15_000, "5.000000000000001e+15"],
];

let dir: string;
let prom: RunningPrometheus;
let client: PrometheusClient;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "maas-remote-read-"));
  const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
  let om = "# TYPE authorized_hits unknown\n";
  SERIES.forEach((l, i) => {
    for (let k = 0; k < 40; k++) om += `authorized_hits{job="${l.job}",limitador_namespace="acme/chat",user="${esc(l.user)}"} ${k * (i + 1)} ${(T0 / 1000 + 7 + k * 15).toFixed(3)}\n`;
  });
  // An irregular counter over two hours: 1 ms apart, gaps of 9 and 20 minutes (timestamp
  // deltas-of-deltas of every size in the XOR chunks), fractions, large values, a reset, NaN.
  om += "# TYPE authorized_calls unknown\n";
  let t = T0 + 7_000;
  IRREGULAR.forEach(([step, value]) => {
    t += step;
    om += `authorized_calls{job="irregular",limitador_namespace="acme/chat",user="alice"} ${value} ${(t / 1000).toFixed(3)}\n`;
  });
  om += "# EOF\n";
  await backfill(om, path.join(dir, "data"), dir);
  prom = await startPrometheus({ dir });
  client = new PrometheusClient({ url: prom.url });
});

afterAll(async () => {
  client?.close();
  await prom?.stop();
  await rm(dir, { recursive: true, force: true });
});

const read = async (source: { rawSamples: PrometheusClient["rawSamples"] }, selector: string, from = T0, to = T0 + 600_000) => {
  const out: RawSeries[] = [];
  await source.rawSamples(selector, from, to, (s) => out.push(s));
  return out.sort((a, b) => JSON.stringify(a.labels).localeCompare(JSON.stringify(b.labels)));
};

describe("remote read against a real Prometheus", () => {
  it.each([
    "authorized_hits",
    'authorized_hits{job="limitador"}',
    'authorized_hits{job!="limitador"}',
    'authorized_hits{job=~"limitador.*", user!~"b.*"}',
    `authorized_hits{user=${promqlString(ODD)}}`,
    'authorized_hits{user=~"alice|bob",}',
  ])("gives the same series and samples as the query API: %s", async (selector) => {
    const remote = createSampleSource(client, "remote-read");
    try {
      const viaQuery = await read(client, selector);
      const viaRemote = await read(remote, selector);
      expect(remote.resolved()).toBe("remote-read");
      expect(viaQuery.length).toBeGreaterThan(0);
      expect(viaRemote).toEqual(viaQuery);
      // A range that starts on a sample leaves it out on both paths: (from, to].
      expect(await read(remote, selector, T0 + 7_000, T0 + 307_000)).toEqual(await read(client, selector, T0 + 7_000, T0 + 307_000));
    } finally {
      remote.close();
    }
  });

  it("chunks, SAMPLES and the query API give the same samples of an irregular counter over two hours", async () => {
    const external = (await readExternalLabels(client))!;
    const chunks = new RemoteReadSampleSource(client, external);
    const samples = new RemoteReadSampleSource(client, external, SAMPLES_ONLY);
    try {
      for (const [from, to] of [[T0, T0 + 3 * 3_600_000], [T0 + 22_000, T0 + 1_300_000], [T0 + 1_000_000, T0 + 2 * 3_600_000]]) {
        const viaQuery = await read(client, "authorized_calls", from, to);
        expect(viaQuery).toHaveLength(1);
        expect(viaQuery[0].samples.t.length).toBeGreaterThan(from === T0 + 22_000 ? 2 : 50);
        expect(await read(chunks, "authorized_calls", from, to)).toEqual(viaQuery);
        expect(await read(samples, "authorized_calls", from, to)).toEqual(viaQuery);
      }
    } finally {
      chunks.close();
      samples.close();
    }
  });

  it("auto takes remote read where the source answers it", async () => {
    const auto = createSampleSource(client, "auto");
    try {
      expect(await read(auto, "authorized_hits")).toHaveLength(SERIES.length);
      expect(auto.resolved()).toBe("remote-read");
    } finally {
      auto.close();
    }
  });
});

describe("a source without remote read (a Thanos querier answers 404 on /api/v1/read)", () => {
  let server: http.Server;
  let thanos: PrometheusClient;
  beforeAll(async () => {
    // Forwards the query API to the real Prometheus, has no /api/v1/read.
    server = http.createServer((req, res) => {
      if (!req.url?.startsWith("/api/v1/query")) {
        res.writeHead(404, { "Content-Type": "text/plain" }).end("404 page not found");
        return;
      }
      http.get(`${prom.url}${req.url}`, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    thanos = new PrometheusClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  });
  afterAll(async () => {
    thanos?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  it("auto falls back to the query API, with the same samples", async () => {
    const auto = createSampleSource(thanos, "auto");
    expect(await read(auto, "authorized_hits")).toEqual(await read(client, "authorized_hits"));
    expect(auto.resolved()).toBe("query");
  });

  it("remote-read refuses it, naming the setting and the answer", async () => {
    const remote = createSampleSource(thanos, "remote-read");
    await expect(read(remote, "authorized_hits")).rejects.toThrow("collector.readApi is remote-read but /api/v1/read answered 404: 404 page not found; set readApi to query or auto");
  });
});

describe("a remote-read source that answers SAMPLES only (chunks asked for first)", () => {
  let server: http.Server;
  let samplesOnly: PrometheusClient;
  const asked: number[][] = [];
  beforeAll(async () => {
    // Forwards everything to the real Prometheus; a remote read goes on accepting SAMPLES only, as
    // an implementation without streamed chunks would answer.
    server = http.createServer((req, res) => {
      const body: Buffer[] = [];
      req.on("data", (c: Buffer) => body.push(c));
      req.on("end", () => {
        let forwarded: Buffer = Buffer.concat(body);
        if (req.url?.startsWith("/api/v1/read")) {
          const request = ReadRequest.toObject(ReadRequest.decode(snappy.uncompressSync(forwarded) as Buffer));
          asked.push(request.acceptedResponseTypes);
          forwarded = snappy.compressSync(Buffer.from(ReadRequest.encode(ReadRequest.fromObject({ ...request, acceptedResponseTypes: [0] })).finish()));
        }
        const up = http.request(`${prom.url}${req.url}`, { method: req.method, headers: { ...req.headers, "content-length": String(forwarded.length) } }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        up.end(forwarded);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    samplesOnly = new PrometheusClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  });
  afterAll(async () => {
    samplesOnly?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  it("is read through SAMPLES, with the same samples", async () => {
    const remote = createSampleSource(samplesOnly, "remote-read");
    try {
      expect(await read(remote, "authorized_hits")).toEqual(await read(client, "authorized_hits"));
      expect(await read(remote, "authorized_calls", T0, T0 + 3 * 3_600_000)).toEqual(await read(client, "authorized_calls", T0, T0 + 3 * 3_600_000));
      // The probe asks SAMPLES only; the reads ask chunks first, then SAMPLES.
      expect(asked).toEqual([[0], [1, 0], [1, 0]]);
    } finally {
      remote.close();
    }
  });
});

describe("selectors as remote-read matchers", () => {
  it("reads back any label value the PromQL quoting writes", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.constantFrom("=", "!=", "=~", "!~"), (value, op) => {
        const [, m] = selectorMatchers(`authorized_hits{user${op}${promqlString(value)}}`);
        expect(m.name).toBe("user");
        expect(m.value).toBe(value);
        expect(m.type).toBe(["=", "!=", "=~", "!~"].indexOf(op));
      }),
    );
  });

  it.each([
    ['{job="a" user="b"}', "cannot read the matcher"],
    ["{job='a'}", "cannot read the matcher"],
    ['{job="a\\qb"}', "cannot read the string"],
    ['{job=="a"}', "cannot read the matcher"],
  ])("refuses %s", (text, why) => {
    expect(() => parseMatcherList(text)).toThrow(why);
  });

  it("checks the matcher settings when they are read, naming the field", () => {
    expect(() => parseCollectorSettings({ gatewayMatchers: "{job='limitador'}" })).toThrow(/^collector\.gatewayMatchers: .*cannot read the matcher.*e\.g\. \{job="limitador"\}/);
    expect(parseCollectorSettings({ modelServerMatchers: '{job="vllm", namespace=~"a|b"}' }).modelServerMatchers).toBe('{job="vllm", namespace=~"a|b"}');
  });
});
