/*
 * The events route's body check per event, in one process: JSON.parse alone, the zod schema
 * (events/schema.ts, the route's check before session 8), ajv's compiled JSON schema of the same
 * schema (z.toJSONSchema; the time refinement as one Date.parse), and the fast path the route uses
 * (routes/events-body.ts), on the ingest bench's batches of 1,000.
 *   npx tsx billing-service/bench/ingest-validate.ts
 */
import Ajv from "ajv";
import addFormats from "ajv-formats";
import { z } from "zod";
import { eventBatchSchema } from "../src/events/schema";
import { plainBatch } from "../src/routes/events-body";
import { event } from "./ingest";

const BATCH = 1000;
const body = JSON.stringify({ events: Array.from({ length: BATCH }, (_, i) => event(i)) });

/** Microseconds per event of each check (one batch a call): rounds interleave the checks (the machine is shared); the median round. */
const perEvent = (checks: Record<string, () => unknown>, calls = 100, rounds = 15): Record<string, number> => {
  const times: Record<string, number[]> = {};
  for (const [name, f] of Object.entries(checks)) {
    for (let i = 0; i < 30; i++) f();
    times[name] = [];
  }
  for (let r = 0; r < rounds; r++) {
    for (const [name, f] of Object.entries(checks)) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < calls; i++) f();
      times[name].push(Number(process.hrtime.bigint() - t0) / 1e3 / calls / BATCH);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([name, t]) => [name, t.sort((a, b) => a - b)[Math.floor(rounds / 2)]]));
};

const ajv = new Ajv({ allErrors: false });
addFormats(ajv);
const jsonSchema = z.toJSONSchema(eventBatchSchema, { io: "input", target: "draft-7" }) as Record<string, unknown>;
delete jsonSchema.$schema;
const ajvCheck = ajv.compile(jsonSchema);
const ajvWithRange = (data: unknown): boolean => {
  if (!ajvCheck(data)) return false;
  for (const e of (data as { events: { time: string }[] }).events) {
    const ms = Date.parse(e.time);
    if (!(ms >= 0 && ms < Date.UTC(10000, 0, 1))) return false;
  }
  return true;
};

const figures = perEvent({
  "JSON.parse": () => JSON.parse(body),
  "JSON.parse + zod": () => eventBatchSchema.parse(JSON.parse(body)),
  "JSON.parse + ajv (+ Date.parse)": () => ajvWithRange(JSON.parse(body)),
  "JSON.parse + fast path": () => plainBatch(JSON.parse(body)),
});
for (const [name, us] of Object.entries(figures)) console.log(`${name.padEnd(34)} ${us.toFixed(2)} us/event`);
