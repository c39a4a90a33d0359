/**
 * Which errors mean "the database is not reachable right now" (spool and retry) as opposed to
 * "this write is wrong" (answer an error, never spool: replaying it would fail forever).
 */
const UNAVAILABLE_ERRNO = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);

export class DatabaseTimeoutError extends Error {}

export const isDatabaseUnavailable = (e: unknown): boolean => {
  if (e instanceof DatabaseTimeoutError) return true;
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === "string") {
    if (UNAVAILABLE_ERRNO.has(code)) return true;
    // SQLSTATE: 08 connection exception, 57P01-57P03 shutdown / cannot connect now, 53 insufficient resources.
    if (/^(08|53)/.test(code) || /^57P0[1-3]$/.test(code)) return true;
  }
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down)/i.test(e.message);
};
