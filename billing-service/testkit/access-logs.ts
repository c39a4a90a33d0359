/**
 * Envoy-shaped gateway access logs (MaaS usage logs) with a known truth, as OTLP requests built by
 * the OpenTelemetry JS SDK and its exporters' own serializers (@opentelemetry/otlp-transformer
 * ProtobufLogsSerializer / JsonLogsSerializer): the bytes an OTLP/HTTP exporter would send.
 *
 * A scenario is seeded and deterministic: requests of several tenants, users, API keys and
 * models; some streamed (a record with tokens "0", then the record with the real usage), some
 * refused by the rate limiter (429, tokens "0"), some failed (5xx, tokens "0"), some for an
 * unknown model ("-"). The truth counts what a correct receiver must store.
 */
import { JsonLogsSerializer, ProtobufLogsSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor, type ReadableLogRecord } from "@opentelemetry/sdk-logs";

export interface AccessLogRecord {
  /** Nanoseconds since the epoch (decimal string: exact beyond 2^53). */
  readonly timeUnixNano: string;
  readonly attributes: Record<string, string>;
}

export interface TruthRow {
  tenant: string;
  keyId: string;
  keyName: string;
  user: string;
  model: string;
  tier: string;
  inputTokens: number;
  outputTokens: number;
  /** Served requests (response_type hit). */
  hits: number;
  rateLimited: number;
  errors: number;
}

export interface Scenario {
  /** Every record in send order (streamed requests appear twice). */
  readonly records: AccessLogRecord[];
  /** Per (tenant, key, user, model). */
  readonly truth: Map<string, TruthRow>;
  readonly requests: number;
}

export const truthKey = (tenant: string, keyId: string, user: string, model: string): string => JSON.stringify([tenant, keyId, user, model]);

/** A small deterministic PRNG (mulberry32), so a scenario is the same on every run. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

export interface ScenarioOptions {
  readonly seed?: number;
  readonly requests?: number;
  readonly tenants?: readonly string[];
  readonly models?: readonly string[];
  /** First request time, ms since the epoch. */
  readonly startMs?: number;
  /** The attribute that names the tenant (`tenant`, or a namespace attribute with the tenant map). */
  readonly tenantAttribute?: string;
}

export const generateScenario = (options: ScenarioOptions = {}): Scenario => {
  const rand = prng(options.seed ?? 18);
  const tenants = options.tenants ?? ["acme", "globex"];
  const models = options.models ?? ["granite-8b", "llama-70b"];
  const n = options.requests ?? 200;
  const start = BigInt(options.startMs ?? Date.UTC(2026, 10, 3, 10, 0, 0)) * 1_000_000n;
  const tenantAttribute = options.tenantAttribute ?? "tenant";
  const records: AccessLogRecord[] = [];
  const truth = new Map<string, TruthRow>();
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  for (let i = 0; i < n; i++) {
    const tenant = pick(tenants);
    const u = Math.floor(rand() * 3);
    const user = `${tenant}-user-${u}`;
    const k = Math.floor(rand() * 2);
    const keyId = `key-${tenant}-${u}-${k}`;
    const keyName = `${user} ${k === 0 ? "laptop" : "ci"}`;
    const tier = u === 0 ? "premium" : "free";
    const roll = rand();
    const kind = roll < 0.08 ? "rate_limit" : roll < 0.13 ? "error" : roll < 0.16 ? "unknown-model" : roll < 0.4 ? "stream" : "hit";
    const model = kind === "unknown-model" ? "-" : pick(models);
    // Nanosecond start times, with sub-microsecond parts (PostgreSQL keeps microseconds: the id must not).
    const time = (start + BigInt(i) * 7_919_000n + BigInt(Math.floor(rand() * 1000))).toString();
    const input = 1 + Math.floor(rand() * 4000);
    const output = 1 + Math.floor(rand() * 1500);
    const base = {
      user_id: user,
      subscription: tier,
      groups: `${tenant}-users`,
      key_id: keyId,
      key_name: keyName,
      organization_id: `org-${tenant}`,
      model,
      [tenantAttribute]: tenant,
    };
    const record = (code: number, type: string, i: number, o: number): AccessLogRecord => ({
      timeUnixNano: time,
      attributes: { ...base, response_code: String(code), response_type: type, tokens_prompt: String(i), tokens_completion: String(o), tokens_total: String(i + o) },
    });
    const row = truth.get(truthKey(tenant, keyId, user, model === "-" ? "" : model)) ?? { tenant, keyId, keyName, user, model: model === "-" ? "" : model, tier, inputTokens: 0, outputTokens: 0, hits: 0, rateLimited: 0, errors: 0 };
    truth.set(truthKey(tenant, keyId, user, row.model), row);
    if (kind === "rate_limit") {
      records.push(record(429, "rate_limit", 0, 0));
      row.rateLimited++;
    } else if (kind === "error") {
      records.push(record(rand() < 0.5 ? 500 : 503, "error", 0, 0));
      row.errors++;
    } else if (kind === "unknown-model") {
      records.push(record(404, "error", 0, 0));
      row.errors++;
    } else if (kind === "stream") {
      // The streamed response: logged first without usage ("0"), then with it.
      records.push(record(200, "hit", 0, 0));
      records.push(record(200, "hit", input, output));
      row.inputTokens += input;
      row.outputTokens += output;
      row.hits++;
    } else {
      records.push(record(200, "hit", input, output));
      row.inputTokens += input;
      row.outputTokens += output;
      row.hits++;
    }
  }
  return { records, truth, requests: n };
};

const hrTime = (ns: string): [number, number] => {
  const v = BigInt(ns);
  return [Number(v / 1_000_000_000n), Number(v % 1_000_000_000n)];
};

/** The records as the SDK's ReadableLogRecords (what an exporter serializes). */
export const toReadableLogRecords = (records: readonly AccessLogRecord[], resource: Record<string, string> = { "service.name": "maas-gateway" }): ReadableLogRecord[] => {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({ resource: resourceFromAttributes(resource), processors: [new SimpleLogRecordProcessor({ exporter })] });
  const logger = provider.getLogger("envoy.access_loggers.open_telemetry");
  for (const r of records) logger.emit({ timestamp: hrTime(r.timeUnixNano), observedTimestamp: hrTime(r.timeUnixNano), attributes: r.attributes, body: "POST /v1/chat/completions" });
  return exporter.getFinishedLogRecords();
};

export type WireEncoding = "protobuf" | "json";

/** ExportLogsServiceRequest bytes in the given encoding, by the OpenTelemetry JS serializers. */
export const serializeLogs = (records: readonly AccessLogRecord[], encoding: WireEncoding, resource?: Record<string, string>): Uint8Array => {
  const readable = toReadableLogRecords(records, resource);
  const bytes = encoding === "protobuf" ? ProtobufLogsSerializer.serializeRequest(readable) : JsonLogsSerializer.serializeRequest(readable);
  if (!bytes) throw new Error(`the ${encoding} serializer returned nothing`);
  return bytes;
};

export const CONTENT_TYPE: Record<WireEncoding, string> = { protobuf: "application/x-protobuf", json: "application/json" };

/** POSTs one OTLP logs request; returns status and raw body. */
export const postLogs = async (url: string, token: string, body: Uint8Array, encoding: WireEncoding, extraHeaders: Record<string, string> = {}): Promise<{ status: number; body: Buffer; contentType: string }> => {
  const res = await fetch(`${url}/v1/logs`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": CONTENT_TYPE[encoding], ...extraHeaders }, body });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get("content-type") ?? "" };
};

/** What a receiver stored (or must store) per (tenant, key, user, model): tokens and requests by response type. */
/**
 * The outcome fields of a stored access-log row for a generated response (what the receiver derives
 * from `response_type`, `response_code` and the token attributes), for tests that build rows directly.
 */
export const accessOutcome = (o: { type: "hit" | "rate_limit" | "error"; input: number; output: number }) => ({
  responseCode: o.type === "hit" ? 200 : o.type === "rate_limit" ? 429 : 500,
  responseType: o.type,
  inputTokens: o.input,
  outputTokens: o.output,
  totalTokens: o.input + o.output,
});

export interface GroupCounts {
  readonly input: number;
  readonly output: number;
  readonly hits: number;
  readonly limited: number;
  readonly errors: number;
}

/** The scenario's truth in the shape of storedPerGroup. */
export const truthPerGroup = (scenario: Scenario): Map<string, GroupCounts> =>
  new Map([...scenario.truth].map(([k, t]) => [k, { input: t.inputTokens, output: t.outputTokens, hits: t.hits, limited: t.rateLimited, errors: t.errors }]));

/** The access-log rows of `source` per (tenant, key, user, model), keyed like the truth. */
export const storedPerGroup = async (db: { query(sql: string, values: unknown[]): Promise<{ rows: any[] }> }, source: string): Promise<Map<string, GroupCounts>> => {
  const r = await db.query(
    `select tenant, coalesce(key_id, '') as key_id, coalesce(user_id, '') as user_id, model,
            sum(input_tokens)::int as input, sum(output_tokens)::int as output,
            count(*) filter (where response_type = 'hit')::int as hits,
            count(*) filter (where response_type = 'rate_limit')::int as limited,
            count(*) filter (where response_type = 'error')::int as errors
       from access_log_usage where source = $1 group by 1, 2, 3, 4`,
    [source],
  );
  return new Map(r.rows.map((x) => [truthKey(x.tenant, x.key_id, x.user_id, x.model), { input: x.input, output: x.output, hits: x.hits, limited: x.limited, errors: x.errors }]));
};
