/** The usage explorer's query: UTC days (the last one included) and group-by fields, with readable errors. */
import { GROUP_FIELDS, type GroupField } from "../usage/query";
import type { UsageForm } from "./views/usage";

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const MAX_DAYS = 366;

const isDay = (text: string): boolean => DAY.test(text) && new Date(`${text}T00:00:00Z`).toISOString().slice(0, 10) === text;

export interface ParsedUsageForm {
  readonly form: UsageForm;
  /** [from, to) in UTC; undefined when the form has a problem. */
  readonly range?: { from: Date; to: Date };
  readonly problem?: string;
}

/** Defaults to this month so far. */
export const parseUsageForm = (query: { from?: string; to?: string; groupBy?: string | string[] }, now = new Date()): ParsedUsageForm => {
  const today = now.toISOString().slice(0, 10);
  const fromDay = query.from?.trim() || `${today.slice(0, 7)}-01`;
  const toDay = query.to?.trim() || today;
  const requested = (Array.isArray(query.groupBy) ? query.groupBy : query.groupBy ? [query.groupBy] : []).flatMap((g) => g.split(",")).map((g) => g.trim()).filter(Boolean);
  const groupBy = GROUP_FIELDS.filter((g) => requested.includes(g));
  const unknown = requested.filter((g) => !(GROUP_FIELDS as readonly string[]).includes(g));
  const form: UsageForm = { fromDay: isDay(fromDay) ? fromDay : "", toDay: isDay(toDay) ? toDay : "", groupBy: groupBy as GroupField[] };
  const fail = (problem: string): ParsedUsageForm => ({ form, problem });
  if (!isDay(fromDay)) return fail(`"From" must be a day like 2026-05-01, got "${fromDay.slice(0, 40)}".`);
  if (!isDay(toDay)) return fail(`"To" must be a day like 2026-05-31, got "${toDay.slice(0, 40)}".`);
  if (unknown.length) return fail(`Group by accepts ${GROUP_FIELDS.join(", ")}; "${unknown[0].slice(0, 40)}" is not one of them.`);
  const from = new Date(`${fromDay}T00:00:00Z`);
  const to = new Date(new Date(`${toDay}T00:00:00Z`).getTime() + 86_400_000);
  if (to <= from) return fail(`"To" (${toDay}) is before "From" (${fromDay}): swap them.`);
  if (to.getTime() - from.getTime() > MAX_DAYS * 86_400_000) return fail(`Pick at most ${MAX_DAYS} days; download longer ranges month by month.`);
  return { form, range: { from, to } };
};
