/**
 * POST /v1/logs: an OTLP/HTTP logs receiver (protobuf or JSON, gzip or plain), so an
 * OpenTelemetry Collector adds the billing service as one more `otlp_http` exporter of the
 * gateway's access logs. Every record becomes an idempotent access-log row (src/accesslog).
 *
 * Who may post: sender credentials only (platform.billing.senders), under their bound source:
 * the one source of the sender, or `?source=` when it has several. A sender bound to a tenant
 * writes that tenant's usage whatever the records say; other senders route each record by its
 * tenant/namespace attributes (records.ts). Nobody else can write a sender's source (as for
 * /v1/events, docs/threat-model.md B1).
 *
 * Answers (OTLP/HTTP): 200 with an ExportLogsServiceResponse in the request's encoding, stored in
 * PostgreSQL or fsynced to the local spool (database down), with partial_success counting the
 * records that could not be rows (no tenant, bad token count: named in error_message, never
 * guessed); 400 for a body that is not OTLP (the sender must not retry it); 403 for a credential
 * that may not write a record's tenant (nothing stored); 503 + Retry-After when neither the
 * database nor the spool can take the batch (collectors retry).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AttributeSlots, decodeFlatLogs, encodeLogsResponse, inflateBody, OtlpDecodeError, type OtlpEncoding } from "../accesslog/otlp";
import { RECORD_ATTRIBUTES, toAccessLogRow, type AccessLogRow, type RecordContext } from "../accesslog/records";
import { z } from "zod";
import type { ServiceMetrics } from "../ops/metrics";
import { errorBody } from "../schemas";
import { IngestUnavailableError, type IngestOutcome } from "../spool";

/** How access-log rows are stored: straight to PostgreSQL or through the durable spool. */
export type AccessLogIngest = (rows: readonly AccessLogRow[]) => Promise<IngestOutcome>;

export interface LogsRouteOptions {
  readonly ingest: AccessLogIngest;
  /** Namespace -> tenant (the collector settings' tenant map); undefined: not a tenant's namespace. */
  readonly tenantOfNamespace: (namespace: string) => string | undefined;
  /** Whether access-log rows are billed (the platform's billable source, docs/usage-sources.md). */
  readonly billable: boolean;
}

const ENCODINGS: Record<string, OtlpEncoding> = { "application/x-protobuf": "protobuf", "application/protobuf": "protobuf", "application/json": "json" };

/** The attributes flattened per record: the ones toAccessLogRow reads. */
const SLOTS = new AttributeSlots(RECORD_ATTRIBUTES);

/** Records rejected per batch named in the answer; the rest are counted. */
const MAX_REASONS = 5;

export const registerLogRoutes = async (app: FastifyInstance, metrics: ServiceMetrics, options: LogsRouteOptions): Promise<void> => {
  // Own parsers in a child context: the raw body (maybe gzip) is decoded here, not by the JSON parser.
  await app.register(async (child) => {
    child.removeAllContentTypeParsers();
    child.addContentTypeParser(Object.keys(ENCODINGS), { parseAs: "buffer" }, (request, body, done) => {
      try {
        done(null, inflateBody(body as Buffer, request.headers["content-encoding"] as string | undefined));
      } catch (e) {
        done(e as Error, undefined);
      }
    });
    child.post(
      "/v1/logs",
      {
        config: { scope: { tenant: "none", action: "events.create" } },
        schema: {
          summary: "OTLP/HTTP logs receiver for the gateway's access logs (ExportLogsServiceRequest, protobuf or JSON)",
          description:
            "Sender credentials only. Each record (MaaS usage-log attributes) becomes an idempotent per-request ledger row; the answer is an ExportLogsServiceResponse with partial_success for records that could not be rows. See docs/usage-sources.md.",
          response: {
            200: z
              .object({ partialSuccess: z.object({ rejectedLogRecords: z.string(), errorMessage: z.string() }).optional() })
              .describe("ExportLogsServiceResponse in the request's encoding (this JSON shape for application/json; protobuf for application/x-protobuf)"),
            400: errorBody.describe("not an OTLP logs request: do not retry it"),
            403: errorBody.describe("not a sender credential, a foreign source, or a record of a tenant this sender may not write: nothing stored"),
            503: errorBody.describe("not stored (database down and spool full or unwritable): retry after Retry-After seconds"),
          },
        },
      },
      (request, reply) => handle(request, reply, metrics, options),
    );
  });
};

interface MappedBatch {
  readonly rows: AccessLogRow[];
  /** Records in the request. */
  readonly records: number;
  /** Rejection reason -> records. */
  readonly reasons: Map<string, number>;
}

/**
 * The request's rows. Synchronous on purpose: the decoded request and its flat records are garbage
 * once it returns, before the batch waits for the database (objects that outlive that wait are
 * moved to the old generation, which costs the collector more than the mapping itself).
 */
const mapBatch = (body: Buffer, encoding: OtlpEncoding, ctx: RecordContext): MappedBatch => {
  const records = decodeFlatLogs(body, encoding, SLOTS);
  const rows: AccessLogRow[] = [];
  const reasons = new Map<string, number>();
  for (let i = 0; i < records.length; i++) {
    const outcome = toAccessLogRow(records[i], ctx);
    if (outcome.ok) rows.push(outcome.row);
    else reasons.set(outcome.reason, (reasons.get(outcome.reason) ?? 0) + 1);
  }
  return { rows, records: records.length, reasons };
};

const encodingOf = (request: FastifyRequest): OtlpEncoding => ENCODINGS[(request.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase()] ?? "json";

const handle = async (request: FastifyRequest, reply: FastifyReply, metrics: ServiceMetrics, options: LogsRouteOptions): Promise<FastifyReply> => {
  const principal = request.principal;
  const sender = principal?.sender;
  if (!principal || !sender) return reply.code(403).send({ error: "forbidden", message: "POST /v1/logs takes sender credentials only (platform.billing.senders): use the sender's token" });
  const wanted = (request.query as Record<string, unknown> | undefined)?.source;
  const source = typeof wanted === "string" && wanted !== "" ? wanted : sender.sources.length === 1 ? sender.sources[0] : undefined;
  if (source === undefined) return reply.code(400).send({ error: "invalid request", message: `this sender has several sources (${sender.sources.join(", ")}): name one with ?source=` });
  if (!sender.sources.includes(source)) return reply.code(403).send({ error: "forbidden", message: `source "${source}" is not one of this sender's sources` });

  const encoding = encodingOf(request);
  if (!Buffer.isBuffer(request.body)) return reply.code(415).send({ error: "unsupported media type", message: "send Content-Type application/x-protobuf or application/json (OTLP/HTTP)" });
  let mapped: MappedBatch;
  try {
    mapped = mapBatch(request.body, encoding, { source, senderTenant: sender.tenant, tenantOfNamespace: options.tenantOfNamespace, billable: options.billable });
  } catch (e) {
    if (e instanceof OtlpDecodeError) return reply.code(400).send({ error: "invalid request", message: e.message });
    throw e;
  }
  const { rows, reasons } = mapped;
  // The same check as /v1/events: every tenant written must be one this sender may write.
  for (const tenant of new Set(rows.map((r) => r.tenant))) {
    if (principal.maySend?.(tenant, source) !== true) {
      metrics.authDenied.inc({ reason: "sender-tenant" });
      request.log.warn({ event: "auth.denied", status: 403, principal: principal.name, tenant, source, route: "/v1/logs" }, "denied");
      return reply.code(403).send({ error: "forbidden", message: `this sender may not write usage of tenant ${tenant} (source ${source}); nothing was stored` });
    }
  }

  let result: IngestOutcome;
  try {
    result = await options.ingest(rows);
  } catch (e) {
    if (!(e instanceof IngestUnavailableError)) throw e;
    return reply.code(503).header("retry-after", String(e.retryAfterSeconds)).send({ error: "unavailable", message: e.message });
  }
  const rejected = mapped.records - rows.length;
  if (result.stored === "spool") metrics.eventsIngested.inc({ result: "spooled" }, result.spooled);
  else {
    metrics.eventsIngested.inc({ result: "accepted" }, result.accepted);
    metrics.eventsIngested.inc({ result: "duplicate" }, result.duplicates);
  }
  if (rejected > 0) {
    metrics.eventsIngested.inc({ result: "rejected" }, rejected);
    request.log.warn({ event: "accesslog.rejected", principal: principal.name, source, rejected, reasons: Object.fromEntries(reasons) }, "access-log records rejected");
  }
  const message = [...reasons].slice(0, MAX_REASONS).map(([reason, n]) => `${n} record(s): ${reason}`).join("; ");
  return reply
    .code(200)
    .type(encoding === "protobuf" ? "application/x-protobuf" : "application/json")
    .send(encodeLogsResponse(encoding, rejected, message));
};
