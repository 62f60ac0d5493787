/**
 * Every error leaves the gateway as application/problem+json (RFC 9457) with a stable `type`, the request id
 * and, for invalid input, one entry per field. Unknown errors become a bare 500: no message, no stack.
 */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import {
  DomainError,
  isDomainError,
  notFound,
  PROBLEM_TYPE_BASE,
  toProblem,
  type ProblemDetails,
} from '@kantoor/errors';
import type { Logger } from '@kantoor/logging';
import { HttpProblem, payloadTooLarge, unsupportedMediaType } from './http-problem';
import { discardUnreadBody } from './streaming';

export { HttpProblem, payloadTooLarge, unsupportedMediaType };

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The errors body-parser raises, by its `type`. */
const BODY_PARSER_PROBLEMS: Record<string, (error: { limit?: number }) => Error> = {
  'entity.parse.failed': () =>
    new DomainError('invalid_argument', 'The body is not valid JSON.', { reason: 'malformed_json' }),
  'entity.too.large': (error) => payloadTooLarge(error.limit ?? 0),
  'encoding.unsupported': () => unsupportedMediaType(['identity', 'gzip', 'deflate', 'br']),
  'charset.unsupported': () => unsupportedMediaType(['application/json; charset=utf-8']),
  'request.aborted': () =>
    new DomainError('invalid_argument', 'The request body was not received completely.', { reason: 'incomplete_body' }),
  'request.size.invalid': () =>
    new DomainError('invalid_argument', 'The request body does not match its Content-Length.', {
      reason: 'incomplete_body',
    }),
};

/** RFC 6750 §3: tells a client whether to get a new token or to send one at all. */
const bearerChallenge = (reason: string) =>
  reason === 'invalid_token' || reason === 'token_expired'
    ? 'Bearer realm="kantoor", error="invalid_token"'
    : 'Bearer realm="kantoor"';

export interface Problem {
  details: ProblemDetails;
  headers: Record<string, string>;
}

/**
 * The problem an error is answered with; errors the caller cannot act on are logged here. Once the client has
 * left (`clientLeft`) its calls were cancelled with it: a service's unavailability is then no news, while a
 * defect (internal, unknown) is still logged.
 */
export function problemFor(error: unknown, requestId: string, logger: Logger, clientLeft = false): Problem {
  const bodyParserType = (error as { type?: unknown } | null)?.type;
  if (typeof bodyParserType === 'string' && BODY_PARSER_PROBLEMS[bodyParserType]) {
    return problemFor(BODY_PARSER_PROBLEMS[bodyParserType](error as { limit?: number }), requestId, logger, clientLeft);
  }
  if (error instanceof HttpProblem) {
    return {
      details: {
        type: PROBLEM_TYPE_BASE + error.reason.replace(/_/g, '-'),
        title: error.title,
        status: error.status,
        detail: error.message,
        requestId,
      },
      headers: error.headers,
    };
  }
  if (isDomainError(error)) {
    if (error.kind === 'internal') logger.error({ err: error }, 'request failed');
    else if ((error.kind === 'unavailable' || error.kind === 'deadline_exceeded') && !clientLeft)
      logger.warn({ err: error }, 'a dependency failed');
    const headers: Record<string, string> =
      error.kind === 'unauthenticated' ? { 'www-authenticate': bearerChallenge(error.reason) } : {};
    return { details: toProblem(error, requestId), headers };
  }
  logger.error({ err: error }, 'request failed');
  return { details: toProblem(new DomainError('internal', 'unexpected error'), requestId), headers: {} };
}

export function sendProblem(response: Response, problem: Problem): void {
  response.status(problem.details.status).set(problem.headers).set('cache-control', 'no-store');
  response.type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem.details));
}

/** The last middleware: answers what no route took. */
export function answerUnknownRoute(knownRoutes: Array<{ method: string; pattern: RegExp }>): RequestHandler {
  return (request, _response, next) => {
    const methods = [
      ...new Set(knownRoutes.filter((route) => route.pattern.test(request.path)).map((route) => route.method)),
    ];
    if (methods.length === 0)
      return next(notFound(`There is no operation at ${request.path}.`, { reason: 'route_not_found' }));
    const allow = methods.flatMap((method) => (method === 'GET' ? ['GET', 'HEAD'] : [method])).join(', ');
    next(
      new HttpProblem(
        405,
        'method_not_allowed',
        'Method not allowed',
        `${request.method} is not allowed here; use ${allow}.`,
        { allow },
      ),
    );
  };
}

export function problemResponder(): ErrorRequestHandler {
  return (error, request, response, _next) => {
    const { requestId, logger } = request.gateway;
    if (response.headersSent) {
      // a stream failed half-way: the status is already out, so the only honest signal left is a cut connection
      logger.warn({ err: error }, 'response failed after it started');
      response.destroy();
      return;
    }
    sendProblem(response, problemFor(error, requestId, logger, request.gateway.signal.aborted));
    discardUnreadBody(request);
  };
}
