/**
 * The Prometheus client against an https endpoint with a private CA and a bearer token (the
 * in-cluster Thanos querier behind kube-rbac-proxy), and the streaming parser on split input.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import https from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { PrometheusClient, type RawSeries } from "../src/collector/prometheus-client";
import { loadConfig } from "../src/config";
import { MatrixStreamParser, type MatrixSeries } from "../src/collector/matrix-stream";
import { sampleList, type Sample } from "../src/collector/counter-usage";
import { exactSelector } from "../src/collector/promql";

const TOKEN = `t-${Math.random().toString(36).slice(2)}`;
const MATRIX = JSON.stringify({
  status: "success",
  data: {
    resultType: "matrix",
    result: [
      { metric: { __name__: "authorized_hits", limitador_namespace: "acme/chat", user: 'o"brien]]}"values":[' }, values: [[1000.5, "10"], [1015.5, "25"]] },
      { metric: { __name__: "authorized_hits", limitador_namespace: "globex/api" }, values: [[1001, "7"]] },
    ],
  },
});

let dir: string;
let server: https.Server;
let url: string;
const seenQueries: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "maas-collector-tls-"));
  const sh = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  sh("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=test-ca");
  sh("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
  await writeFile(path.join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
  sh("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "ext.cnf");
  await writeFile(path.join(dir, "token"), `${TOKEN}\n`);
  server = https.createServer(
    { key: await readFile(path.join(dir, "server.key")), cert: await readFile(path.join(dir, "server.crt")) },
    (req, res) => {
      // kube-rbac-proxy's answer to a missing or wrong token.
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.writeHead(401, { "Content-Type": "text/plain" }).end("Unauthorized");
        return;
      }
      const params = new URL(req.url ?? "", "https://x").searchParams;
      seenQueries.push(params.get("query") ?? "");
      res.writeHead(200, { "Content-Type": "application/json" });
      if (params.get("query")?.startsWith("partial_metric")) {
        // What Thanos sends when a store is down and partial responses are allowed.
        res.end(JSON.stringify({ status: "success", data: { resultType: "matrix", result: [] }, warnings: ["No StoreAPIs matched for this query"] }));
        return;
      }
      // Dribble the body in small pieces, so elements arrive split across chunks.
      let i = 0;
      const next = (): void => {
        if (i >= MATRIX.length) {
          res.end();
          return;
        }
        res.write(MATRIX.slice(i, i + 7));
        i += 7;
        setImmediate(next);
      };
      next();
    },
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await rm(dir, { recursive: true, force: true });
});

const collect = async (client: PrometheusClient) => {
  const out: Array<Omit<RawSeries, "samples"> & { samples: Sample[] }> = [];
  await client.rawSamples("authorized_hits", 900_000, 1_100_000, (s) => out.push({ ...s, samples: sampleList(s.samples) }));
  return out;
};

describe("Prometheus client over https with a bearer token", () => {
  it("reads raw samples with the token and CA from files named in the environment", async () => {
    const { prometheus } = loadConfig(
      {},
      { MAAS_BILLING_PROMETHEUS_URL: url, MAAS_BILLING_PROMETHEUS_TOKEN_FILE: path.join(dir, "token"), MAAS_BILLING_PROMETHEUS_CA_FILE: path.join(dir, "ca.crt") },
    ).collector!;
    const client = new PrometheusClient(prometheus);
    try {
      const series = await collect(client);
      expect(series).toEqual([
        { metric: "authorized_hits", labels: { limitador_namespace: "acme/chat", user: 'o"brien]]}"values":[' }, samples: [{ t: 1_000_500, v: 10 }, { t: 1_015_500, v: 25 }] },
        { metric: "authorized_hits", labels: { limitador_namespace: "globex/api" }, samples: [{ t: 1_001_000, v: 7 }] },
      ]);
      expect(seenQueries.at(-1)).toBe("authorized_hits[200000ms]");
    } finally {
      client.close();
    }
  });

  it("fails with the server's answer, and without the token in the message, when the token is wrong", async () => {
    const client = new PrometheusClient({ url, bearerToken: "wrong-token", caPem: await readFile(path.join(dir, "ca.crt"), "utf8") });
    try {
      const err = await collect(client).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toBe("Prometheus /api/v1/query answered 401: Unauthorized");
      expect((err as Error).message).not.toContain("wrong-token");
    } finally {
      client.close();
    }
  });

  it("refuses an answer that came with warnings (possibly partial) and asks Thanos for no partial answers", async () => {
    const client = new PrometheusClient({ url, bearerToken: TOKEN, caPem: await readFile(path.join(dir, "ca.crt"), "utf8") });
    try {
      await expect(client.rawSamples("partial_metric", 0, 1000, () => undefined)).rejects.toThrow(/answer came with warnings, not using it: .*No StoreAPIs matched/);
    } finally {
      client.close();
    }
  });

  it("refuses a server whose certificate is not signed by the given CA", async () => {
    const client = new PrometheusClient({ url, bearerToken: TOKEN });
    try {
      await expect(collect(client)).rejects.toThrow(/self-signed certificate|unable to verify/);
    } finally {
      client.close();
    }
  });
});

describe("MatrixStreamParser", () => {
  it("gives the same series however the body is split", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: MATRIX.length - 1 }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const got: MatrixSeries[] = [];
        const p = new MatrixStreamParser((s) => got.push(s));
        let last = 0;
        for (const c of [...points, MATRIX.length]) {
          p.push(MATRIX.slice(last, c));
          last = c;
        }
        expect(got.map((s) => [s.metric.user ?? null, s.samples && [...s.samples.v]])).toEqual([
          ['o"brien]]}"values":[', [10, 25]],
          [null, [7]],
        ]);
      }),
    );
  });

  it.each<[string, string, { t: number; v: number }]>([
    ["whole seconds, integer value", '[1000,"42"]', { t: 1_000_000, v: 42 }],
    ["fractional seconds", '[1000.5,"42"]', { t: 1_000_500, v: 42 }],
    ["milliseconds", '[1795400000.123,"0"]', { t: 1_795_400_000_123, v: 0 }],
    ["decimal value", '[1000,"0.25"]', { t: 1_000_000, v: 0.25 }],
    ["beyond 15 digits: Number() decides", '[1000,"12345678901234567"]', { t: 1_000_000, v: 12345678901234567 }],
    ["NaN stays NaN", '[1000,"NaN"]', { t: 1_000_000, v: NaN }],
    ["+Inf", '[1000,"+Inf"]', { t: 1_000_000, v: Infinity }],
    ["negative timestamp falls back", '[-1.5,"3"]', { t: -1_500, v: 3 }],
  ])("reads a sample: %s", (_name, sample, want) => {
    const got: MatrixSeries[] = [];
    const p = new MatrixStreamParser((s) => got.push(s));
    p.push(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[${sample},[2000,"1"]]}]}}`);
    expect(sampleList(got[0].samples!)).toEqual([want, { t: 2_000_000, v: 1 }]);
  });

  // Prometheus writes a timestamp as seconds with the milliseconds after a point, a value as Go's
  // shortest decimal without an exponent (strconv 'f', -1), "NaN", "+Inf" or "-Inf".
  const timestampText = (ms: number, trimZeros: boolean): string => {
    const fraction = String(ms % 1000).padStart(3, "0");
    const f = trimZeros ? fraction.replace(/0+$/, "") : fraction;
    return `${Math.floor(ms / 1000)}${ms % 1000 === 0 && trimZeros ? "" : `.${f}`}`;
  };
  const valueText = fc.oneof(
    fc.integer({ min: 0, max: 2 ** 31 }).map(String),
    fc.bigInt({ min: 0n, max: 10n ** 22n }).map(String),
    fc.tuple(fc.integer({ min: 0, max: 10 ** 9 }), fc.integer({ min: 1, max: 999_999 })).map(([i, f]) => `${i}.${f}`),
    fc.integer({ min: -(10 ** 9), max: -1 }).map(String),
    fc.constantFrom("NaN", "+Inf", "-Inf", "0"),
  );
  const expectedValue = (text: string): number => (text === "+Inf" ? Infinity : text === "-Inf" ? -Infinity : Number(text));

  it("reads any matrix as JSON.parse and Number() read it, however its bytes are split", () => {
    const series = fc.record({
      metric: fc.dictionary(fc.string({ unit: "binary", maxLength: 6 }), fc.string({ unit: "binary", maxLength: 12 }), { maxKeys: 3 }),
      samples: fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 42 }), valueText, fc.boolean()), { minLength: 1, maxLength: 8 }),
    });
    fc.assert(
      fc.property(fc.array(series, { maxLength: 5 }), fc.array(fc.nat(), { maxLength: 10 }), (all, cuts) => {
        const result = all
          .map((s) => `{"metric":${JSON.stringify(s.metric)},"values":[${s.samples.map(([t, v, trim]) => `[${timestampText(t, trim)},"${v}"]`).join(",")}]}`)
          .join(",");
        const body = Buffer.from(`{"status":"success","data":{"resultType":"matrix","result":[${result}]}}`, "utf8");
        const got: MatrixSeries[] = [];
        const p = new MatrixStreamParser((s) => got.push(s));
        const points = [...new Set(cuts.map((c) => c % (body.length + 1)))].sort((a, b) => a - b);
        let last = 0;
        for (const c of [...points, body.length]) {
          p.push(body.subarray(last, c));
          last = c;
        }
        expect(p.sawResult && p.prefix.includes('"success"')).toBe(true);
        expect(got.map((s) => ({ metric: s.metric, samples: sampleList(s.samples!) }))).toEqual(all.map((s) => ({ metric: JSON.parse(JSON.stringify(s.metric)), samples: s.samples.map(([t, v]) => ({ t, v: expectedValue(v) })) })));
      }),
      { numRuns: 300 },
    );
  });

  it("builds an exact-series selector with escaped values", () => {
    expect(exactSelector("vllm:prompt_tokens_total", { namespace: "a", model_name: 'x"y\\z' })).toBe(
      '{__name__="vllm:prompt_tokens_total",namespace="a",model_name="x\\"y\\\\z"}',
    );
  });
});
