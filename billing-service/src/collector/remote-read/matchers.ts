/**
 * The collector's selectors (`metric{label="value",...}`, from the meters and the `gatewayMatchers`
 * / `modelServerMatchers` settings) as remote-read label matchers.
 *
 * The PromQL query API parses a selector itself; remote read takes the matchers as data. Only what
 * a selector of the collector can hold is accepted: a metric name and `name op "value"` matchers
 * with op `=`, `!=`, `=~`, `!~` and a double-quoted value. Anything else is refused with the text
 * that did not parse (settings are checked with the same function when they are read, so this
 * file imports nothing: the contract module loads it in the Pulumi program too).
 */

/** LabelMatcher.Type of prompb (remote-read/prompb.ts). */
export const MatchType = { EQ: 0, NEQ: 1, RE: 2, NRE: 3 } as const;

export interface LabelMatcher {
  readonly type: (typeof MatchType)[keyof typeof MatchType];
  readonly name: string;
  readonly value: string;
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const MATCHER = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*(,|(?=\}))/y;
const OPS: Record<string, LabelMatcher["type"]> = { "=": MatchType.EQ, "!=": MatchType.NEQ, "=~": MatchType.RE, "!~": MatchType.NRE };

/**
 * A PromQL double-quoted string's value: its escapes are JSON's (Go's `\a`, `\v`, octal and `\x`
 * are refused with a clear error); raw control characters stand for themselves, as in PromQL.
 */
const unquote = (quoted: string, selector: string): string => {
  try {
    return JSON.parse(quoted.replace(/[\u0000-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)) as string;
  } catch {
    throw new Error(`selector ${selector}: cannot read the string ${quoted} (use plain characters and \\" \\\\ \\n \\t escapes)`);
  }
};

/** `{a="x", b=~"y"}` (braces included) as matchers. */
export const parseMatcherList = (braces: string): LabelMatcher[] => {
  const s = braces.trim();
  if (!s.startsWith("{") || !s.endsWith("}")) throw new Error(`selector ${braces}: expected matchers in braces, e.g. {job="limitador"}`);
  const out: LabelMatcher[] = [];
  const body = s.slice(1, -1);
  // The lookahead for the closing brace needs it in the text scanned.
  const text = `${body}}`;
  let pos = 0;
  while (pos < body.length && /\s/.test(body[pos])) pos++;
  while (pos < body.length) {
    MATCHER.lastIndex = pos;
    const m = MATCHER.exec(text);
    if (!m) throw new Error(`selector ${braces}: cannot read the matcher at "${body.slice(pos, pos + 40)}" (expected name="value", name!="value", name=~"regex" or name!~"regex")`);
    out.push({ type: OPS[m[2]], name: m[1], value: unquote(m[3], braces) });
    pos = MATCHER.lastIndex;
    while (pos < body.length && /\s/.test(body[pos])) pos++;
  }
  return out;
};

/** `metric{...}` (or a bare metric name) as matchers, the name first as `__name__="metric"`. */
export const selectorMatchers = (selector: string): LabelMatcher[] => {
  const name = METRIC.exec(selector)?.[0];
  if (!name) throw new Error(`selector ${selector}: expected a metric name first`);
  const rest = selector.slice(name.length);
  return [{ type: MatchType.EQ, name: "__name__", value: name }, ...(rest.trim() === "" ? [] : parseMatcherList(rest))];
};
