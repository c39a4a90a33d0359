/*
 * The gateway side of the access-log pipeline (docs/usage-sources.md "The gateway side"): an Istio
 * `EnvoyFilter` for the Gateway's Envoy that emits one OpenTelemetry access-log record per
 * inference POST to the platform's Collector (accessLogCollector.ts), with the attributes the
 * billing service reads. It follows upstream MaaS's
 * deployment/components/observability/usage-logs/envoy-otel-access-log.yaml
 * (opendatahub-io/models-as-a-service at c0639b1b): the same four parts, the same Envoy command
 * operators and CEL expressions where the value comes from the same place:
 *   1. a STRICT_DNS cluster to the Collector's OTLP gRPC port;
 *   2. a Composite filter that runs json_to_metadata on inference paths only: the model from the
 *      request body, then usage.{total,prompt,completion}_tokens and the (authoritative) model
 *      from a JSON response body, "0" when missing or not JSON (keeping a value already set);
 *   3. a Lua filter before the router that reads usage from a streaming (SSE) response's chunks
 *      as they pass (no buffering) and writes the same metadata keys;
 *   4. the `envoy.access_loggers.open_telemetry` access log on the HTTP connection manager, with a
 *      CEL filter (POST to .../v1/chat/completions or .../v1/completions) and the attributes.
 * Where this platform differs from upstream MaaS, and why:
 *   - identity comes from the platform's own Authorino `identity` filter (platform/gatewayAuth.ts,
 *     shared/apiKeyIdentity.ts: userid, subscription, groups, tenant, keyId, keyName), which
 *     Kuadrant's wasm-shim keeps in Envoy filter state as `wasm.kuadrant.auth.identity.<name>`
 *     (Kuadrant/wasm-shim: the CEL path auth.identity.X is filter_state
 *     "wasm.kuadrant.auth.identity.X"), read with %FILTER_STATE(...:PLAIN)% as upstream reads
 *     keyId; upstream's X-MaaS-* request headers and their header_to_metadata capture are not
 *     set by this platform, so that part is left out;
 *   - `tenant` is added (the billing service routes a record by it, docs/usage-sources.md) and
 *     `request_id` (Envoy's x-request-id: makes every record id unique outright);
 *   - the cluster points at this platform's Collector, and `workloadSelector` at the Gateway's
 *     pods by the label Istio's Gateway API deployment puts on them.
 * Pure: no Pulumi, no I/O; test/gateway-access-log.test.ts checks it. Istio's CRDs are not in
 * ../shared/crds, so the object is checked against the EnvoyFilter fields this file relies on
 * only, and nothing here has run in an Envoy (docs/usage-sources.md says so).
 */

export interface GatewayAccessLogArgs {
  /** The Gateway whose Envoy logs: its pods carry `gateway.networking.k8s.io/gateway-name: <name>`. */
  readonly gateway: { readonly name: string; readonly namespace: string };
  /** The Collector's OTLP gRPC address (host name and port). */
  readonly collector: { readonly host: string; readonly port: number };
}

/** Metadata namespace json_to_metadata writes and the Lua filter and the access log read. */
export const USAGE_METADATA_NAMESPACE = "envoy.filters.http.json_to_metadata";
/** Name of the Envoy cluster of the Collector. */
export const ACCESS_LOG_CLUSTER = "maas_billing_otel_als";
/** Paths of the inference endpoints (suffixes: /<ns>/<model>/v1/chat/completions and /v1/chat/completions alike). */
export const INFERENCE_PATH_SUFFIXES = ["/v1/chat/completions", "/v1/completions"] as const;

/** %FILTER_STATE% of a property of the platform's Authorino identity filter. */
const identity = (property: string): string => `%FILTER_STATE(wasm.kuadrant.auth.identity.${property}:PLAIN)%`;
const usage = (key: string): string => `%DYNAMIC_METADATA(${USAGE_METADATA_NAMESPACE}:${key})%`;

/**
 * The attributes of every record (strings), as the billing service reads them
 * (billing-service/src/accesslog/records.ts). Envoy writes "-" for a value it does not have; the
 * Collector's transform (accessLogPipeline.ts) turns missing token counts into "0".
 */
export const ACCESS_LOG_ATTRIBUTES: Readonly<Record<string, string>> = {
  response_code: "%RESPONSE_CODE%",
  response_type: '%CEL(response.code >= 200 && response.code < 300 ? "hit" : (response.code == 429 ? "rate_limit" : "error"))%',
  request_id: "%REQ(X-REQUEST-ID)%",
  tenant: identity("tenant"),
  user_id: identity("userid"),
  subscription: identity("subscription"),
  groups: identity("groups"),
  key_id: identity("keyId"),
  key_name: identity("keyName"),
  tokens_total: usage("tokens_total"),
  tokens_prompt: usage("tokens_prompt"),
  tokens_completion: usage("tokens_completion"),
  model: usage("model"),
};

/** The access log's filter: inference POSTs only (the same CEL as upstream). */
export const ACCESS_LOG_FILTER = `request.method == 'POST' && (${INFERENCE_PATH_SUFFIXES.map((p) => `request.path.endsWith('${p}')`).join(" || ")})`;

const TOKEN_KEYS = [
  ["total_tokens", "tokens_total"],
  ["prompt_tokens", "tokens_prompt"],
  ["completion_tokens", "tokens_completion"],
] as const;

/** json_to_metadata rules: model from the request; tokens (default "0", keeping a value the Lua filter set) and model from a JSON response. */
const jsonToMetadata = () => ({
  "@type": "type.googleapis.com/envoy.extensions.filters.http.json_to_metadata.v3.JsonToMetadata",
  request_rules: { rules: [{ selectors: [{ key: "model" }], on_present: { key: "model" } }] },
  response_rules: {
    rules: [
      ...TOKEN_KEYS.map(([field, key]) => {
        const zero = { key, value: "0", preserve_existing_metadata_value: true };
        return { selectors: [{ key: "usage" }, { key: field }], on_present: { key }, on_missing: zero, on_error: zero };
      }),
      { selectors: [{ key: "model" }], on_present: { key: "model" } },
    ],
  },
});

const pathSuffix = (suffix: string) => ({
  single_predicate: {
    input: { name: "request-headers", typed_config: { "@type": "type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput", header_name: ":path" } },
    value_match: { suffix },
  },
});

/**
 * Lua for streaming responses: json_to_metadata only reads application/json bodies, so for
 * text/event-stream the usage (sent in the last event when the client asks for
 * stream_options.include_usage or the model server forces it) is read from the chunks as they
 * pass to the client. The last usage seen wins; any error leaves "0". The request side marks
 * inference requests, because the response side cannot read the request's path.
 */
export const SSE_USAGE_LUA = `local NS = "${USAGE_METADATA_NAMESPACE}"
local SUFFIXES = { ${INFERENCE_PATH_SUFFIXES.map((p) => `"${p}"`).join(", ")} }

local function is_inference(path)
  if path == nil then return false end
  local bare = string.match(path, "^[^?]*")
  for _, suffix in ipairs(SUFFIXES) do
    if string.sub(bare, -string.len(suffix)) == suffix then return true end
  end
  return false
end

function envoy_on_request(request_handle)
  if is_inference(request_handle:headers():get(":path")) then
    request_handle:streamInfo():dynamicMetadata():set(NS, "inference", "true")
  end
end

function envoy_on_response(response_handle)
  local meta = response_handle:streamInfo():dynamicMetadata():get(NS)
  if meta == nil or meta["inference"] ~= "true" then return end
  local content_type = response_handle:headers():get("content-type") or ""
  if not string.find(content_type, "text/event-stream", 1, true) then return end
  local usage = { tokens_total = "0", tokens_prompt = "0", tokens_completion = "0" }
  local model = nil
  local ok = pcall(function()
    -- Every chunk is read (the stream must be drained), none is held back.
    for chunk in response_handle:bodyChunks() do
      local text = chunk:getBytes(0, chunk:length())
      local total = string.match(text, '"total_tokens"%s*:%s*(%d+)')
      if total ~= nil then
        usage.tokens_total = total
        usage.tokens_prompt = string.match(text, '"prompt_tokens"%s*:%s*(%d+)') or "0"
        usage.tokens_completion = string.match(text, '"completion_tokens"%s*:%s*(%d+)') or "0"
      end
      model = string.match(text, '"model"%s*:%s*"([^"]+)"') or model
    end
  end)
  local metadata = response_handle:streamInfo():dynamicMetadata()
  for key, value in pairs(usage) do
    metadata:set(NS, key, ok and value or "0")
  end
  if ok and model ~= nil then metadata:set(NS, "model", model) end
end
`;

const HCM = "envoy.filters.network.http_connection_manager";

/** The EnvoyFilter object (networking.istio.io/v1alpha3), in the Gateway's namespace. */
export function gatewayAccessLogEnvoyFilter(args: GatewayAccessLogArgs): Record<string, unknown> {
  return {
    apiVersion: "networking.istio.io/v1alpha3",
    kind: "EnvoyFilter",
    metadata: { name: "maas-billing-access-logs", namespace: args.gateway.namespace, labels: { "app.kubernetes.io/part-of": "maas-billing", "app.kubernetes.io/component": "access-logs" } },
    spec: {
      workloadSelector: { labels: { "gateway.networking.k8s.io/gateway-name": args.gateway.name } },
      configPatches: [
        {
          applyTo: "CLUSTER",
          patch: {
            operation: "ADD",
            value: {
              name: ACCESS_LOG_CLUSTER,
              type: "STRICT_DNS",
              connect_timeout: "5s",
              http2_protocol_options: {},
              load_assignment: {
                cluster_name: ACCESS_LOG_CLUSTER,
                endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: args.collector.host, port_value: args.collector.port } } } }] }],
              },
            },
          },
        },
        {
          applyTo: "HTTP_FILTER",
          match: { context: "GATEWAY", listener: { filterChain: { filter: { name: HCM } } } },
          patch: {
            operation: "INSERT_FIRST",
            value: {
              name: "maas-billing.usage-from-body",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.common.matching.v3.ExtensionWithMatcher",
                extension_config: { name: "composite", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.composite.v3.Composite" } },
                xds_matcher: {
                  matcher_list: {
                    matchers: [
                      {
                        predicate: { or_matcher: { predicate: INFERENCE_PATH_SUFFIXES.map(pathSuffix) } },
                        on_match: {
                          action: {
                            name: "json-to-metadata",
                            typed_config: {
                              "@type": "type.googleapis.com/envoy.extensions.filters.http.composite.v3.ExecuteFilterAction",
                              typed_config: { name: "envoy.filters.http.json_to_metadata", typed_config: jsonToMetadata() },
                            },
                          },
                        },
                      },
                    ],
                  },
                },
              },
            },
          },
        },
        {
          applyTo: "HTTP_FILTER",
          match: { context: "GATEWAY", listener: { filterChain: { filter: { name: HCM, subFilter: { name: "envoy.filters.http.router" } } } } },
          patch: {
            operation: "INSERT_BEFORE",
            value: {
              name: "maas-billing.sse-usage",
              typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua", default_source_code: { inline_string: SSE_USAGE_LUA } },
            },
          },
        },
        {
          applyTo: "NETWORK_FILTER",
          match: { context: "GATEWAY", listener: { filterChain: { filter: { name: HCM } } } },
          patch: {
            operation: "MERGE",
            value: {
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                access_log: [
                  {
                    name: "envoy.access_loggers.open_telemetry",
                    filter: {
                      extension_filter: {
                        name: "envoy.access_loggers.extension_filters.cel",
                        typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter", expression: ACCESS_LOG_FILTER },
                      },
                    },
                    typed_config: {
                      "@type": "type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig",
                      common_config: { log_name: "maas-billing-usage", transport_api_version: "V3", grpc_service: { envoy_grpc: { cluster_name: ACCESS_LOG_CLUSTER } } },
                      body: { string_value: "%RESPONSE_CODE% %REQ(:PATH)%" },
                      attributes: { values: Object.entries(ACCESS_LOG_ATTRIBUTES).map(([key, v]) => ({ key, value: { string_value: v } })) },
                      resource_attributes: {
                        values: [
                          { key: "service.name", value: { string_value: "models-as-a-service" } },
                          { key: "service.namespace", value: { string_value: args.gateway.namespace } },
                        ],
                      },
                    },
                  },
                ],
              },
            },
          },
        },
      ],
    },
  };
}
