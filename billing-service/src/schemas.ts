/**
 * The zod building blocks of the HTTP API and of the usage event, written once: every text that
 * reaches PostgreSQL refuses NUL (PostgreSQL text cannot hold it: a 400 here instead of a failed
 * insert, a 500, or a spooled batch that could never be replayed), counts are safe integers, and
 * the path parameters of the tenant routes have one shape.
 */
import { z } from "zod";

/** Non-empty text without NUL, at most `max` characters. */
export const pgText = (max = 256) => z.string().min(1).max(max).regex(/^[^\u0000]*$/, "must not contain NUL characters");

/** A whole number 0..2^53-1 (tokens, requests, minor units). */
export const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** A billing period (calendar month, UTC). */
export const period = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, "expected YYYY-MM");

/** `/v1/tenants/:tenant/...` */
export const tenantParams = z.object({ tenant: pgText() });

/** `/v1/tenants/:tenant/invoices/:invoice...` */
export const invoiceParams = tenantParams.extend({ invoice: pgText(200).describe("invoice id or number") });
