/**
 * The messages of Prometheus' remote read API (POST /api/v1/read) that the collector uses, as
 * protobufjs types.
 *
 * Why the definitions are here: no package on the npm registry ships Prometheus' prompb remote-read
 * definitions or code generated from them (`prometheus-remote-write` ships the write messages only;
 * the buf.build SDKs are served from buf's own registry, which this project's builds cannot reach).
 * So this is the subset of prompb/types.proto and prompb/remote.proto (Apache-2.0, Copyright 2016-2017
 * Prometheus Team; https://github.com/prometheus/prometheus/tree/main/prompb, also published on
 * buf.build/prometheus/prometheus) needed for a SAMPLES read: same package, message names, field
 * numbers and types, without the gogoproto options (Go code generation only) and without the
 * messages the collector never sends or decodes through protobufjs types (write requests, hints).
 * protobufjs encodes the request; a SAMPLES answer is walked by decode.ts with protobufjs' Reader,
 * by these field numbers (ReadResponse.decode is the reference its test compares with), and a
 * STREAMED_XOR_CHUNKS answer (ChunkedReadResponse, ChunkedSeries, Chunk) by chunks.ts, by the field
 * numbers it lists (its test encodes those messages from their own definitions).
 */
import protobuf from "protobufjs";
export { MatchType, type LabelMatcher } from "./matchers";

const PROMPB_SUBSET = `
syntax = "proto3";
package prometheus;

message Sample {
  double value    = 1;
  int64 timestamp = 2;
}

message TimeSeries {
  repeated Label labels   = 1;
  repeated Sample samples = 2;
}

message Label {
  string name  = 1;
  string value = 2;
}

message LabelMatcher {
  enum Type {
    EQ  = 0;
    NEQ = 1;
    RE  = 2;
    NRE = 3;
  }
  Type type    = 1;
  string name  = 2;
  string value = 3;
}

message ReadRequest {
  repeated Query queries = 1;
  enum ResponseType {
    SAMPLES = 0;
    STREAMED_XOR_CHUNKS = 1;
  }
  repeated ResponseType accepted_response_types = 2;
}

message ReadResponse {
  repeated QueryResult results = 1;
}

message Query {
  int64 start_timestamp_ms = 1;
  int64 end_timestamp_ms = 2;
  repeated prometheus.LabelMatcher matchers = 3;
}

message QueryResult {
  repeated prometheus.TimeSeries timeseries = 1;
}
`;

const root = protobuf.parse(PROMPB_SUBSET, { keepCase: false }).root;

export const ReadRequest = root.lookupType("prometheus.ReadRequest");
export const ReadResponse = root.lookupType("prometheus.ReadResponse");

/** ReadRequest.ResponseType.SAMPLES */
export const RESPONSE_TYPE_SAMPLES = 0;
/** ReadRequest.ResponseType.STREAMED_XOR_CHUNKS (the answer is walked by chunks.ts). */
export const RESPONSE_TYPE_STREAMED_XOR_CHUNKS = 1;

/** A decoded TimeSeries: int64 timestamps come out as numbers or protobufjs Long objects. */
export interface DecodedSeries {
  labels: Array<{ name: string; value: string }>;
  samples: Array<{ value: number; timestamp: number | { toNumber(): number } }>;
}
