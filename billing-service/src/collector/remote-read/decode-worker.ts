/**
 * Worker thread decoding remote-read answers (chunks.ts for XOR chunks, decode.ts for SAMPLES) off
 * the collector's thread, which meanwhile turns the previous answer into usage. Messages:
 * { id, body, streamed, windows } in, { id, columns } or
 * { id, error } out; the columns' buffers are transferred, not copied.
 */
import { parentPort } from "node:worker_threads";
import protobuf from "protobufjs";

// This thread decodes remote-read answers only, and its protobufjs is its own (a worker has its
// own modules): int64 fields come out as numbers instead of Long objects (decode.ts reads the usual
// timestamps itself and leaves only unusual ones to protobufjs). Millisecond timestamps are far
// below 2^53, so the numbers are exact.
protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();
// Loaded after the switch: the prompb types must be built without Long.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { decodeSampleColumns } = require("./decode") as typeof import("./decode");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { decodeChunkedColumns } = require("./chunks") as typeof import("./chunks");

parentPort?.on("message", (m: { id: number; body: Uint8Array; streamed: boolean; windows: Array<{ fromMs: number; toMs: number }> }) => {
  try {
    const columns = m.streamed ? decodeChunkedColumns(m.body, m.windows) : decodeSampleColumns(m.body, m.windows);
    const transfer = columns.flatMap((c) => [c.t.buffer, c.v.buffer, c.offsets.buffer]);
    parentPort!.postMessage({ id: m.id, columns }, transfer as ArrayBuffer[]);
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: (e as Error).message });
  }
});
