/**
 * The flat records of an OTLP ExportLogsServiceRequest read straight from its protobuf bytes: the
 * receiver's fast road, taken only when it gives exactly what the library road gives
 * (`flattenLogs(decodeLogsRequest(body))`, otlp.ts), which stays the definition.
 *
 * Why: decoding a batch with the generated code builds an object per record, per attribute and
 * per value, and a string of every key and value, and the flattening then keeps 1 in 26 of them:
 * 6.2 + 1.8 µs of serve's CPU per record of the OTLP bench's 13-18 (bench/otlp-profile.ts, session
 * 8). This reads the same bytes once, turns into text only the values of the attributes the
 * receiver reads (keys are compared as bytes), and builds nothing else.
 *
 * Same result, or none: the walk is strict where the library is lenient. It takes a body only if
 * every field of every message the library would decode (the same messages, down to values
 * nobody reads: bodies, scopes, key-value lists, entity refs) lies inside its parent, has the wire
 * type its field's type has, and uses varints the library reads the same way; anything else (a
 * group, a truncated or overlong field, a field with another wire type, nesting deeper than 32)
 * returns undefined and the caller decodes with the library, which then gives its own answer or
 * error. Within such a body the library's rules are followed: of a singular field the last copy
 * wins (a message field is replaced, not merged), repeated fields append, unknown fields are
 * skipped, a value's text is its string, else integer, bool, double, or array (valueText in otlp.ts).
 * test/accesslog-otlp-wire.test.ts checks both roads equal on random requests and random damage.
 */
import type { Attributes, FlatLogRecord } from "./otlp";

/** The walk gives up on this body (thrown inside, caught at the top). */
class NotForTheWire {}
const GIVE_UP = new NotForTheWire();

const MAX_DEPTH = 32;

/** The listed attribute keys as UTF-8 bytes, by byte length: compared without decoding a key. */
interface KeyTable {
  readonly byLength: Map<number, { bytes: Buffer; slot: number }[]>;
}
const keyTables = new WeakMap<readonly string[], KeyTable>();
const keyTable = (keys: readonly string[]): KeyTable => {
  let t = keyTables.get(keys);
  if (!t) {
    const byLength = new Map<number, { bytes: Buffer; slot: number }[]>();
    keys.forEach((k, slot) => {
      const bytes = Buffer.from(k, "utf8");
      byLength.set(bytes.length, [...(byLength.get(bytes.length) ?? []), { bytes, slot }]);
    });
    t = { byLength };
    keyTables.set(keys, t);
  }
  return t;
};

/** The read position and bounds of one walk. */
class Wire {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  /**
   * A tag, length or 32-bit value: at most 5 bytes, the fifth without bits above 2^32 (the
   * library's uint32 would drop them, or skip 5 bytes more, blindly).
   */
  uint32(end: number): number {
    const buf = this.buf;
    let value = 0;
    for (let i = 0; i < 5; i++) {
      if (this.pos >= end) throw GIVE_UP;
      const b = buf[this.pos++];
      if (i === 4) {
        if (b > 15) throw GIVE_UP;
        return (value | (b << 28)) >>> 0;
      }
      value |= (b & 127) << (7 * i);
      if (b < 128) return value >>> 0;
    }
    throw GIVE_UP;
  }

  /** A varint whose value nobody reads, as an int32/uint32 field: 1-5 bytes, or 10 (a sign-extended negative). */
  skipInt32(end: number): void {
    const start = this.pos;
    this.skipVarint(end);
    const n = this.pos - start;
    if (n > 5 && n !== 10) throw GIVE_UP;
  }

  /** A varint of up to 10 bytes (int64, enum-free skips), the tenth at most 1. */
  skipVarint(end: number): void {
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) throw GIVE_UP;
      const b = this.buf[this.pos++];
      if (b < 128) {
        if (i === 9 && b > 1) throw GIVE_UP;
        return;
      }
    }
    throw GIVE_UP;
  }

  /** A length-delimited field's end, inside `end`. */
  delimited(end: number): number {
    const length = this.uint32(end);
    const stop = this.pos + length;
    if (stop > end) throw GIVE_UP;
    return stop;
  }

  skip(wireType: number, end: number): void {
    if (wireType === 0) this.skipVarint(end);
    else if (wireType === 1) this.fixed(8, end);
    else if (wireType === 2) this.pos = this.delimited(end);
    else if (wireType === 5) this.fixed(4, end);
    else throw GIVE_UP; // groups (3, 4) and the invalid 6, 7
  }

  fixed(bytes: number, end: number): void {
    if (this.pos + bytes > end) throw GIVE_UP;
    this.pos += bytes;
  }

  /** The next tag, checked: field number >= 1. */
  tag(end: number): number {
    const tag = this.uint32(end);
    if (tag >>> 3 === 0) throw GIVE_UP;
    return tag;
  }
}

/** Wire types: varint, 64-bit, length-delimited, 32-bit. */
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/** Expects wire type `want` for a known field (the library would read it as its type regardless). */
const expect = (tag: number, want: number): void => {
  if ((tag & 7) !== want) throw GIVE_UP;
};

/**
 * An AnyValue in [pos, end): validated as the library decodes it; its text as valueText (otlp.ts)
 * gives it when `text` is set, else undefined.
 */
const anyValue = (w: Wire, end: number, depth: number, text: boolean): string | undefined => {
  if (depth > MAX_DEPTH) throw GIVE_UP;
  const buf = w.buf;
  let str = -1;
  let strEnd = 0;
  let intStart = -1;
  let intEnd = 0;
  let boolStart = -1;
  let doubleAt = -1;
  let arrayStart = -1;
  let arrayEnd = 0;
  while (w.pos < end) {
    const tag = w.tag(end);
    switch (tag >>> 3) {
      case 1:
        expect(tag, LEN);
        strEnd = w.delimited(end);
        str = w.pos;
        w.pos = strEnd;
        break;
      case 2:
        expect(tag, VARINT);
        boolStart = w.pos;
        w.uint32(end); // the library reads a bool as uint32 !== 0
        break;
      case 3:
        expect(tag, VARINT);
        intStart = w.pos;
        w.skipVarint(end);
        intEnd = w.pos;
        break;
      case 4:
        expect(tag, I64);
        doubleAt = w.pos;
        w.fixed(8, end);
        break;
      case 5: {
        expect(tag, LEN);
        const stop = w.delimited(end);
        arrayStart = w.pos;
        arrayEnd = stop;
        arrayValue(w, stop, depth + 1, false);
        break;
      }
      case 6: {
        expect(tag, LEN);
        const stop = w.delimited(end);
        keyValueList(w, stop, depth + 1);
        break;
      }
      case 7:
        expect(tag, LEN);
        w.pos = w.delimited(end);
        break;
      default:
        w.skip(tag & 7, end);
    }
  }
  if (w.pos !== end) throw GIVE_UP;
  if (!text) return undefined;
  if (str >= 0) return utf8(buf, str, strEnd);
  if (intStart >= 0) return int64Text(buf, intStart, intEnd);
  if (boolStart >= 0) {
    const at = w.pos;
    w.pos = boolStart;
    const v = w.uint32(end);
    w.pos = at;
    return String(v !== 0);
  }
  if (doubleAt >= 0) return String(buf.readDoubleLE(doubleAt));
  if (arrayStart >= 0) {
    const at = w.pos;
    w.pos = arrayStart;
    const joined = arrayValue(w, arrayEnd, depth + 1, true);
    w.pos = at;
    return joined;
  }
  return undefined;
};

/** UTF-8 text of bytes, as the library reads a string (Buffer's utf8Slice, without toString's argument checks). */
const utf8 = (buf: Buffer, start: number, end: number): string => (buf as Buffer & { utf8Slice(start: number, end: number): string }).utf8Slice(start, end);

/** An int64 varint's signed decimal text (the library's Long.toString()): the low 64 bits, two's complement. */
const int64Text = (buf: Buffer, start: number, end: number): string => {
  let v = 0n;
  for (let i = end - 1; i >= start; i--) v = (v << 7n) | BigInt(buf[i] & 127);
  return BigInt.asIntN(64, v).toString();
};

/** An ArrayValue: its values' texts (those that have one) joined by "," when `text`, as valueText does. */
const arrayValue = (w: Wire, end: number, depth: number, text: boolean): string | undefined => {
  if (depth > MAX_DEPTH) throw GIVE_UP;
  const parts: string[] = [];
  while (w.pos < end) {
    const tag = w.tag(end);
    if (tag >>> 3 === 1) {
      expect(tag, LEN);
      const stop = w.delimited(end);
      const t = anyValue(w, stop, depth + 1, text);
      if (t !== undefined) parts.push(t);
    } else w.skip(tag & 7, end);
  }
  if (w.pos !== end) throw GIVE_UP;
  return text ? parts.join(",") : undefined;
};

const keyValueList = (w: Wire, end: number, depth: number): void => {
  if (depth > MAX_DEPTH) throw GIVE_UP;
  while (w.pos < end) {
    const tag = w.tag(end);
    if (tag >>> 3 === 1) {
      expect(tag, LEN);
      keyValue(w, w.delimited(end), depth + 1, undefined, undefined);
    } else w.skip(tag & 7, end);
  }
  if (w.pos !== end) throw GIVE_UP;
};

/**
 * A KeyValue; with `values`, the text of a listed key's value goes into its slot (setSlots in
 * otlp.ts: the last copy of a field wins, an empty key or a value without text changes nothing).
 */
const keyValue = (w: Wire, end: number, depth: number, keys: KeyTable | undefined, values: (string | undefined)[] | undefined): void => {
  if (depth > MAX_DEPTH) throw GIVE_UP;
  let keyStart = -1;
  let keyEnd = 0;
  let valueStart = -1;
  let valueEnd = 0;
  /** Where the value whose text was taken in the first pass starts (-1: none taken). */
  let textOf = -1;
  let text: string | undefined;
  while (w.pos < end) {
    const tag = w.tag(end);
    const field = tag >>> 3;
    if (field === 1) {
      expect(tag, LEN);
      keyEnd = w.delimited(end);
      keyStart = w.pos;
      w.pos = keyEnd;
    } else if (field === 2) {
      expect(tag, LEN);
      valueEnd = w.delimited(end);
      valueStart = w.pos;
      // The usual order (key, then value, once each): the text in the same pass.
      if (keys && values && keyStart >= 0 && keyEnd > keyStart && textOf === -1) {
        textOf = valueStart;
        text = anyValue(w, valueEnd, depth + 1, slotOf(keys, w.buf, keyStart, keyEnd) !== undefined);
      } else anyValue(w, valueEnd, depth + 1, false);
    } else w.skip(tag & 7, end);
  }
  if (w.pos !== end) throw GIVE_UP;
  if (!keys || !values || keyStart < 0 || valueStart < 0 || keyEnd === keyStart) return;
  const slot = slotOf(keys, w.buf, keyStart, keyEnd);
  if (slot === undefined) return;
  if (textOf !== valueStart || keyStart > valueStart) {
    // Another order, or a field given twice: the last key and the last value, read again.
    const at = w.pos;
    w.pos = valueStart;
    text = anyValue(w, valueEnd, depth + 1, true);
    w.pos = at;
  }
  if (text !== undefined) values[slot] = text;
};

const slotOf = (keys: KeyTable, buf: Buffer, start: number, end: number): number | undefined => {
  const candidates = keys.byLength.get(end - start);
  if (!candidates) return undefined;
  // Byte by byte in JS: keys are a few bytes, cheaper than a call into Buffer.compare.
  next: for (let c = 0; c < candidates.length; c++) {
    const bytes = candidates[c].bytes;
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== buf[start + i]) continue next;
    return candidates[c].slot;
  }
  return undefined;
};

/** Fields of a message whose values nobody reads: strings (LEN) and varints, checked as the library reads them. */
const plainMessage = (w: Wire, end: number, strings: readonly number[], varints: readonly number[], keyValues: number | undefined, depth: number): void => {
  while (w.pos < end) {
    const tag = w.tag(end);
    const field = tag >>> 3;
    if (field === keyValues) {
      expect(tag, LEN);
      keyValue(w, w.delimited(end), depth + 1, undefined, undefined);
    } else if (strings.includes(field)) {
      expect(tag, LEN);
      w.pos = w.delimited(end);
    } else if (varints.includes(field)) {
      expect(tag, VARINT);
      w.skipInt32(end);
    } else w.skip(tag & 7, end);
  }
  if (w.pos !== end) throw GIVE_UP;
};

/** Resource: attributes (1) into `values`, dropped_attributes_count (2), entity_refs (3: strings 1-4). */
const resource = (w: Wire, end: number, keys: KeyTable, values: (string | undefined)[]): void => {
  while (w.pos < end) {
    const tag = w.tag(end);
    const field = tag >>> 3;
    if (field === 1) {
      expect(tag, LEN);
      keyValue(w, w.delimited(end), 1, keys, values);
    } else if (field === 2) {
      expect(tag, VARINT);
      w.skipInt32(end);
    } else if (field === 3) {
      expect(tag, LEN);
      plainMessage(w, w.delimited(end), [1, 2, 3, 4], [], undefined, 1);
    } else w.skip(tag & 7, end);
  }
  if (w.pos !== end) throw GIVE_UP;
};

/** ScopeLogs' records, each with `resourceValues` under its own attributes. */
const scopeLogs = (w: Wire, end: number, keys: KeyTable, resourceValues: readonly (string | undefined)[], wrap: (values: (string | undefined)[]) => Attributes, out: FlatLogRecord[]): void => {
  while (w.pos < end) {
    const tag = w.tag(end);
    const field = tag >>> 3;
    if (field === 1) {
      // InstrumentationScope: name, version, attributes, dropped_attributes_count.
      expect(tag, LEN);
      plainMessage(w, w.delimited(end), [1, 2], [4], 3, 1);
    } else if (field === 2) {
      expect(tag, LEN);
      out.push(logRecord(w, w.delimited(end), keys, resourceValues, wrap));
    } else if (field === 3) {
      expect(tag, LEN);
      w.pos = w.delimited(end);
    } else w.skip(tag & 7, end);
  }
  if (w.pos !== end) throw GIVE_UP;
};

/** A fixed64 as otlp.ts int64() writes a decoded one: "0", or its unsigned decimal. */
const fixed64Text = (buf: Buffer, at: number): string => {
  const low = buf.readUInt32LE(at);
  const high = buf.readUInt32LE(at + 4);
  return low === 0 && high === 0 ? "0" : ((BigInt(high) << 32n) | BigInt(low)).toString();
};

const logRecord = (w: Wire, end: number, keys: KeyTable, resourceValues: readonly (string | undefined)[], wrap: (values: (string | undefined)[]) => Attributes): FlatLogRecord => {
  const buf = w.buf;
  const values = resourceValues.slice();
  let time = -1;
  let observed = -1;
  let traceStart = -1;
  let traceEnd = 0;
  let spanStart = -1;
  let spanEnd = 0;
  while (w.pos < end) {
    const tag = w.tag(end);
    switch (tag >>> 3) {
      case 1:
        expect(tag, I64);
        time = w.pos;
        w.fixed(8, end);
        break;
      case 11:
        expect(tag, I64);
        observed = w.pos;
        w.fixed(8, end);
        break;
      case 2: // severity_number
      case 7: // dropped_attributes_count
        expect(tag, VARINT);
        w.skipInt32(end);
        break;
      case 3: // severity_text
      case 12: // event_name
        expect(tag, LEN);
        w.pos = w.delimited(end);
        break;
      case 5: {
        expect(tag, LEN);
        anyValue(w, w.delimited(end), 1, false);
        break;
      }
      case 6:
        expect(tag, LEN);
        keyValue(w, w.delimited(end), 1, keys, values);
        break;
      case 8: // flags
        expect(tag, I32);
        w.fixed(4, end);
        break;
      case 9:
        expect(tag, LEN);
        traceEnd = w.delimited(end);
        traceStart = w.pos;
        w.pos = traceEnd;
        break;
      case 10:
        expect(tag, LEN);
        spanEnd = w.delimited(end);
        spanStart = w.pos;
        w.pos = spanEnd;
        break;
      default:
        w.skip(tag & 7, end);
    }
  }
  if (w.pos !== end) throw GIVE_UP;
  return {
    timeUnixNano: time >= 0 ? fixed64Text(buf, time) : "0",
    observedTimeUnixNano: observed >= 0 ? fixed64Text(buf, observed) : "0",
    attributes: wrap(values),
    traceId: traceStart >= 0 ? buf.toString("hex", traceStart, traceEnd) : "",
    spanId: spanStart >= 0 ? buf.toString("hex", spanStart, spanEnd) : "",
  };
};

/** One ResourceLogs: its (last) resource's values first, wherever it stands, then its scopes' records. */
const resourceLogs = (w: Wire, end: number, keys: KeyTable, width: number, wrap: (values: (string | undefined)[]) => Attributes, out: FlatLogRecord[]): void => {
  const start = w.pos;
  let values = new Array<string | undefined>(width).fill(undefined);
  while (w.pos < end) {
    const tag = w.tag(end);
    const field = tag >>> 3;
    if (field === 1) {
      expect(tag, LEN);
      values = new Array<string | undefined>(width).fill(undefined);
      resource(w, w.delimited(end), keys, values);
    } else if (field === 2 || field === 3) {
      expect(tag, LEN);
      w.pos = w.delimited(end);
    } else w.skip(tag & 7, end);
  }
  if (w.pos !== end) throw GIVE_UP;
  w.pos = start;
  while (w.pos < end) {
    const tag = w.tag(end);
    if (tag >>> 3 === 2) scopeLogs(w, w.delimited(end), keys, values, wrap, out);
    else w.skip(tag & 7, end);
  }
};

/**
 * The flat records of the request in `body` (protobuf, inflated), as flattenLogs(decodeLogsRequest())
 * gives them for the attribute keys `keys`, each record's slot values wrapped by `wrap`; or
 * undefined when this road does not take the body (then decode it with the library).
 */
export const flattenLogsWire = (body: Buffer, keys: readonly string[], wrap: (values: (string | undefined)[]) => Attributes): FlatLogRecord[] | undefined => {
  const w = new Wire(body);
  const table = keyTable(keys);
  const out: FlatLogRecord[] = [];
  const end = body.length;
  try {
    while (w.pos < end) {
      const tag = w.tag(end);
      if (tag >>> 3 === 1) {
        expect(tag, LEN);
        resourceLogs(w, w.delimited(end), table, keys.length, wrap, out);
      } else w.skip(tag & 7, end);
    }
    return out;
  } catch (e) {
    if (e === GIVE_UP) return undefined;
    throw e;
  }
};
