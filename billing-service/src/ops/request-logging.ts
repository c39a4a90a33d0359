/**
 * fastify's per-request log lines, without the success lines of one busy URL (the gateway's
 * quota check: two info lines per check cost more CPU than the check, bench/quota.ts profile).
 *
 * fastify's own `disableRequestLogging` cannot do this: it silences every line fastify writes for
 * the request, its error lines too (a 5xx answer, a stream or serializer error). Here only
 * "incoming request" and a successful "request completed" are left out for that URL; a 5xx
 * answer, or a response that errored, is written as one error line naming the request (there was
 * no "incoming request" line to name it), and every other fastify line is written as on any route.
 */
import { LogController, type FastifyReply, type FastifyRequest } from "fastify";

export class QuietSuccessLogController extends LogController {
  /** @param quiet the request URL whose success lines are not written (exact match, as routed). */
  constructor(private readonly quiet: string) {
    super();
  }

  override incomingRequest(request: FastifyRequest, reply: FastifyReply): void {
    if (request.url !== this.quiet) super.incomingRequest(request, reply);
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (request.url !== this.quiet) return super.requestCompleted(error, request, reply);
    if (!error && reply.statusCode < 500) return;
    reply.log.error({ req: request, res: reply, err: error ?? undefined, responseTime: reply.elapsedTime }, error ? "request errored" : "request completed");
  }
}
