/** Renders a StackDiff as the text `npm run preview` prints (plain text, one line per change). */
import type { FieldChange, StackDiff } from "./object-diff";

/** Longest value printed inline; longer ones are cut with a note of their full length. */
const MAX_VALUE_CHARS = 160;

export function summaryLine(diff: StackDiff): string {
  return (
    `${diff.added.length} to add, ${diff.changed.length} to change, ` +
    `${diff.deleted.length} to delete, ${diff.unchanged} unchanged`
  );
}

export function formatStackDiff(diff: StackDiff): string {
  const lines: string[] = [];
  for (const key of diff.added) lines.push(`+ ${key}`);
  for (const object of diff.changed) {
    lines.push(`~ ${object.key}`);
    for (const field of object.fields) lines.push(...formatField(field));
  }
  for (const key of diff.deleted) lines.push(`- ${key}`);
  lines.push(summaryLine(diff));
  return lines.join("\n");
}

function formatField(field: FieldChange): string[] {
  switch (field.kind) {
    case "added":
      return [`    + ${field.path}: ${formatValue(field.after)}`];
    case "removed":
      return [`    - ${field.path}: ${formatValue(field.before)}`];
    case "changed":
      if (field.lines) {
        const marks = { added: "+", removed: "-", context: " " } as const;
        return [`    ~ ${field.path}:`, ...field.lines.map((line) => `        ${marks[line.kind]} ${line.text}`)];
      }
      return [`    ~ ${field.path}: ${formatValue(field.before)} => ${formatValue(field.after)}`];
  }
}

export function formatValue(value: unknown): string {
  const text = value === undefined ? "undefined" : JSON.stringify(value);
  return text.length <= MAX_VALUE_CHARS ? text : `${text.slice(0, MAX_VALUE_CHARS)}... (${text.length} chars)`;
}
