/**
 * Line-level diff for multi-line strings inside objects (a Prometheus config or a dashboard JSON
 * in a ConfigMap), so a reviewer sees the lines that moved rather than two whole files.
 */

export interface LineChange {
  readonly kind: "added" | "removed" | "context";
  readonly text: string;
}

/** Above this many lines per side the quadratic table is skipped and the whole text is replaced. */
const MAX_LINES = 4000;
/** Unchanged lines kept around each change; the rest collapse into one "..." line. */
const CONTEXT_LINES = 2;

/** Longest-common-subsequence diff of two texts by line, trimmed to the changes and some context. */
export function lineDiff(before: string, after: string): LineChange[] {
  return withContext(fullLineDiff(before, after));
}

/** Every line of both texts, marked; context lines plus removed ones give `before`, plus added ones `after`. */
export function fullLineDiff(before: string, after: string): LineChange[] {
  const a = before.split("\n");
  const b = after.split("\n");
  return a.length > MAX_LINES || b.length > MAX_LINES ? replaceAll(a, b) : lcsDiff(a, b);
}

function replaceAll(a: string[], b: string[]): LineChange[] {
  return [
    ...a.map((text) => ({ kind: "removed" as const, text })),
    ...b.map((text) => ({ kind: "added" as const, text })),
  ];
}

function lcsDiff(a: string[], b: string[]): LineChange[] {
  // lengths[i][j] = length of the LCS of a[i..] and b[j..]
  const lengths = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i -= 1) {
    for (let j = b.length - 1; j >= 0; j -= 1) {
      lengths[i][j] = a[i] === b[j] ? lengths[i + 1][j + 1] + 1 : Math.max(lengths[i + 1][j], lengths[i][j + 1]);
    }
  }
  const out: LineChange[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push({ kind: "context", text: a[i] });
      i += 1;
      j += 1;
    } else if (lengths[i + 1][j] >= lengths[i][j + 1]) {
      out.push({ kind: "removed", text: a[i] });
      i += 1;
    } else {
      out.push({ kind: "added", text: b[j] });
      j += 1;
    }
  }
  for (; i < a.length; i += 1) out.push({ kind: "removed", text: a[i] });
  for (; j < b.length; j += 1) out.push({ kind: "added", text: b[j] });
  return out;
}

function withContext(full: LineChange[]): LineChange[] {
  const keep = full.map((line) => line.kind !== "context");
  full.forEach((line, index) => {
    if (line.kind === "context") return;
    for (let d = 1; d <= CONTEXT_LINES; d += 1) {
      if (index - d >= 0) keep[index - d] = true;
      if (index + d < full.length) keep[index + d] = true;
    }
  });
  const out: LineChange[] = [];
  let inGap = false;
  full.forEach((line, index) => {
    if (keep[index]) {
      out.push(line);
      inGap = false;
    } else if (!inGap) {
      out.push({ kind: "context", text: "..." });
      inGap = true;
    }
  });
  return out;
}
