// The gateway side of the access-log pipeline (platform.accessLogs.gatewayEnvoyFilter): the Istio
// EnvoyFilter that makes the Gateway's Envoy send one OTLP access-log record per inference POST to
// the platform's Collector. What can be checked without an Envoy (none runs here):
//   - every attribute the billing service reads is produced, from identity properties the
//     platform's Authorino identity filter really publishes (renaming one breaks this test);
//   - the CEL of the access-log filter and of response_type, evaluated by a CEL implementation;
//   - the SSE usage Lua, run in a real Lua VM (wasmoon: Lua 5.4; Envoy runs LuaJIT, 5.1 syntax,
//     which the script keeps to) against Envoy-shaped handles;
//   - the render: off by default, on when asked, pointing at the Collector's gRPC port, and every
//     other object still conformant. Istio's CRDs are not in the CRD directory: the conformance
//     validator reports exactly that for the EnvoyFilter and nothing else.
import { evaluate } from "@marcbachmann/cel-js";
import { LuaFactory } from "wasmoon";
import { describe, expect, it } from "vitest";
import { ACCESS_LOG_ATTRIBUTES, ACCESS_LOG_CLUSTER, ACCESS_LOG_FILTER, SSE_USAGE_LUA, USAGE_METADATA_NAMESPACE, gatewayAccessLogEnvoyFilter } from "../components/platform/gatewayAccessLog";
import { identityFilters } from "../components/shared/apiKeyIdentity";
import { createConformanceValidator } from "./support/conformance";
import { findObject, renderConfig, testImage } from "./support/stacks";

const args = { gateway: { name: "maas-default-gateway", namespace: "openshift-ingress" }, collector: { host: "maas-access-log-collector.maas-billing.svc.cluster.local", port: 4317 } };

describe("the gateway's access-log attributes", () => {
  it("carry every attribute the billing service reads, identity from properties the platform's identity filter publishes", () => {
    // billing-service/src/accesslog/records.ts: tenant routing, identity, usage, response.
    for (const a of ["tenant", "user_id", "subscription", "groups", "key_id", "key_name", "model", "tokens_prompt", "tokens_completion", "tokens_total", "response_code", "response_type", "request_id"]) {
      expect(ACCESS_LOG_ATTRIBUTES[a], a).toBeDefined();
    }
    const published = Object.keys(identityFilters({ userid: { value: "" }, groups: { value: "" }, tier: { value: "" }, tenant: { value: "" } }).identity.json.properties);
    const read = Object.values(ACCESS_LOG_ATTRIBUTES).flatMap((v) => [...v.matchAll(/%FILTER_STATE\(wasm\.kuadrant\.auth\.identity\.([A-Za-z]+):PLAIN\)%/g)].map((m) => m[1]));
    expect(read.length).toBeGreaterThan(0);
    for (const property of read) expect(published, `identity property ${property}`).toContain(property);
    const usage = Object.values(ACCESS_LOG_ATTRIBUTES).filter((v) => v.startsWith("%DYNAMIC_METADATA("));
    expect(usage.every((v) => v.startsWith(`%DYNAMIC_METADATA(${USAGE_METADATA_NAMESPACE}:`))).toBe(true);
  });

  it("log inference POSTs only, and type a response as hit, rate_limit or error (CEL evaluated)", () => {
    const logged = (method: string, path: string) => evaluate(ACCESS_LOG_FILTER, { request: { method, path } });
    expect(logged("POST", "/tenant-a/granite/v1/chat/completions")).toBe(true);
    expect(logged("POST", "/v1/completions")).toBe(true);
    expect(logged("GET", "/tenant-a/granite/v1/chat/completions")).toBe(false);
    expect(logged("POST", "/v1/models")).toBe(false);
    expect(logged("POST", "/v1/chat/completions/extra")).toBe(false);
    const typeExpression = /^%CEL\((.*)\)%$/.exec(ACCESS_LOG_ATTRIBUTES.response_type)![1];
    const type = (code: number) => evaluate(typeExpression, { response: { code } });
    expect([200, 201, 429, 400, 401, 403, 500, 503].map(type)).toEqual(["hit", "hit", "rate_limit", "error", "error", "error", "error", "error"]);
  });
});

/** Runs the filter's Lua for one request/response against Envoy-shaped handles; the metadata it set. */
const runLua = async (path: string, contentType: string, chunks: readonly string[], failAt?: number): Promise<Record<string, string>> => {
  const lua = await new LuaFactory().createEngine();
  try {
    await lua.doString(SSE_USAGE_LUA);
    const long = (s: string) => `[==[${s}]==]`;
    const result = await lua.doString(`
      local md = {}
      local function stream_info()
        return { dynamicMetadata = function(_)
          return {
            set = function(_, ns, key, value) md[ns] = md[ns] or {}; md[ns][key] = value end,
            get = function(_, ns) return md[ns] end,
          }
        end }
      end
      local function headers(t) return { get = function(_, k) return t[k] end } end
      local chunks = { ${chunks.map(long).join(", ")} }
      local request = { headers = function(_) return headers({ [":path"] = ${long(path)} }) end, streamInfo = function(_) return stream_info() end }
      local response = {
        headers = function(_) return headers({ ["content-type"] = ${long(contentType)} }) end,
        streamInfo = function(_) return stream_info() end,
        bodyChunks = function(_)
          local i = 0
          return function()
            i = i + 1
            if i == ${failAt ?? -1} then error("connection reset") end
            local text = chunks[i]
            if text == nil then return nil end
            return { length = function(_) return #text end, getBytes = function(_, from, n) return string.sub(text, from + 1, from + n) end }
          end
        end,
      }
      envoy_on_request(request)
      envoy_on_response(response)
      return md[ ${long(USAGE_METADATA_NAMESPACE)} ] or {}`);
    return { ...(result as Record<string, string>) };
  } finally {
    lua.global.close();
  }
};

describe("the streaming usage Lua", () => {
  const sse = [
    'data: {"id":"c1","model":"granite-8b","choices":[{"delta":{"content":"Hel"}}]}\n\n',
    'data: {"id":"c1","model":"granite-8b","choices":[{"delta":{"content":"lo"}}]}\n\n',
    'data: {"id":"c1","model":"granite-8b","choices":[],"usage":{"prompt_tokens":123,"completion_tokens":45,"total_tokens":168}}\n\ndata: [DONE]\n\n',
  ];

  it("reads the usage of the last event of a streamed completion, and the model", async () => {
    expect(await runLua("/tenant-a/granite/v1/chat/completions", "text/event-stream; charset=utf-8", sse)).toEqual({
      inference: "true",
      tokens_total: "168",
      tokens_prompt: "123",
      tokens_completion: "45",
      model: "granite-8b",
    });
  });

  it('writes "0" when the stream carries no usage or breaks, and leaves JSON responses and other paths to json_to_metadata', async () => {
    expect(await runLua("/v1/completions", "text/event-stream", sse.slice(0, 2))).toMatchObject({ tokens_total: "0", tokens_prompt: "0", tokens_completion: "0" });
    expect(await runLua("/v1/completions", "text/event-stream", sse, 2)).toEqual({ inference: "true", tokens_total: "0", tokens_prompt: "0", tokens_completion: "0" });
    expect(await runLua("/v1/chat/completions", "application/json", ['{"usage":{"total_tokens":9}}'])).toEqual({ inference: "true" });
    expect(await runLua("/v1/models?x=/v1/completions", "text/event-stream", sse)).toEqual({});
  });
});

describe("platform.accessLogs.gatewayEnvoyFilter", () => {
  const platform = (gatewayEnvoyFilter?: boolean) => ({
    billing: { image: testImage, senders: [{ name: "access-logs", sources: ["//gateway/access-log"] }] },
    tenants: [{ name: "tenant-a" }],
    gateway: { name: "maas-gw", namespace: "gateways" },
    accessLogs: { sender: "access-logs", collectorImage: `docker.io/otel/opentelemetry-collector-contrib@sha256:${"4c".repeat(32)}`, ...(gatewayEnvoyFilter === undefined ? {} : { gatewayEnvoyFilter }) },
  });

  it("is off by default and, when on, sends the Gateway's access log to the Collector's gRPC port", async () => {
    const off = await renderConfig("unit-gateway-access-log-off", { flavor: "kubernetes", platform: platform() });
    expect(off.objects.some((o) => o.object.kind === "EnvoyFilter")).toBe(false);
    const on = await renderConfig("unit-gateway-access-log-on", { flavor: "kubernetes", platform: platform(true) });
    const filter = findObject(on, "EnvoyFilter", "maas-billing-access-logs").object as unknown as { metadata: { namespace: string }; spec: ReturnType<typeof gatewayAccessLogEnvoyFilter>["spec"] };
    expect(filter.metadata.namespace).toBe("gateways");
    expect(filter.spec).toEqual(gatewayAccessLogEnvoyFilter({ gateway: { name: "maas-gw", namespace: "gateways" }, collector: { host: "maas-access-log-collector.maas-billing.svc.cluster.local", port: 4317 } }).spec);
    const spec = filter.spec as { workloadSelector: unknown; configPatches: Array<{ applyTo: string; patch: { value: Record<string, unknown> } }> };
    expect(spec.workloadSelector).toEqual({ labels: { "gateway.networking.k8s.io/gateway-name": "maas-gw" } });
    const cluster = spec.configPatches.find((p) => p.applyTo === "CLUSTER")!.patch.value as { name: string; load_assignment: { endpoints: Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: unknown } } }> }> } };
    expect(cluster.name).toBe(ACCESS_LOG_CLUSTER);
    expect(cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({ address: "maas-access-log-collector.maas-billing.svc.cluster.local", port_value: 4317 });
    // The Gateway's namespace may reach the Collector (NetworkPolicy of accessLogCollector.ts).
    const ingress = findObject(on, "NetworkPolicy", "maas-access-log-collector-ingress").object as unknown as { spec: { ingress: Array<{ from: unknown[] }> } };
    expect(ingress.spec.ingress[0].from).toEqual([{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "gateways" } } }]);
    const errors = await createConformanceValidator().validateAll(on.objects);
    expect(errors).toEqual([{ object: "EnvoyFilter/gateways/maas-billing-access-logs", message: expect.stringContaining("no schema covers networking.istio.io/v1alpha3 EnvoyFilter") }]);
  });

  it("names every inference path the access-log filter logs in the body matcher too", () => {
    const spec = gatewayAccessLogEnvoyFilter(args).spec as { configPatches: Array<{ applyTo: string; patch: { operation: string; value: Record<string, unknown> } }> };
    const composite = JSON.stringify(spec.configPatches.find((p) => p.patch.operation === "INSERT_FIRST"));
    for (const suffix of ["/v1/chat/completions", "/v1/completions"]) expect(composite).toContain(`"suffix":"${suffix}"`);
    expect(JSON.stringify(spec)).toContain(ACCESS_LOG_FILTER.replace(/'/g, "'"));
  });
});
