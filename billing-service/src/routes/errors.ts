/**
 * Domain errors as HTTP answers, in one place: app.ts's error handler asks here before it falls
 * back to 400/500, so route handlers just throw.
 */
import { UnpricedUsageError } from "../invoices/pricing";
import { InvoiceNotFoundError, InvoiceStateError } from "../invoices/store";
import { StaleQuotaViewError } from "../quota/view";

export interface ErrorAnswer {
  readonly status: number;
  readonly body: { readonly error: string; readonly message: string };
}

const MAPPING: ReadonlyArray<readonly [abstract new (...args: never[]) => Error, number, string]> = [
  [InvoiceNotFoundError, 404, "not found"],
  [InvoiceStateError, 409, "conflict"],
  [UnpricedUsageError, 422, "unpriced usage"],
  // The in-memory quota state is older than the staleness limit: the gateway must not take an old "allowed".
  [StaleQuotaViewError, 503, "quota state stale"],
];

/** The answer for a domain error, or undefined for anything else. */
export const domainErrorAnswer = (error: unknown): ErrorAnswer | undefined => {
  for (const [type, status, label] of MAPPING) {
    if (error instanceof type) return { status, body: { error: label, message: error.message } };
  }
  return undefined;
};
