/**
 * The first middleware: gives every request an id (the caller's X-Request-Id when it is sane), a logger that
 * carries it, an abort signal for downstream calls, and the W3C trace context of the caller, so that log
 * lines and gRPC calls made for the request belong to the caller's trace.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import {
  context,
  isSpanContextValid,
  metrics,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Histogram,
  type Span,
} from '@opentelemetry/api';
import type { RequestHandler } from 'express';
import type { Logger } from '@kantoor/logging';
import type { Caller } from '../auth/caller';
import type { Route } from '../openapi/route';

export interface RequestState {
  requestId: string;
  logger: Logger;
  /** aborted when the client leaves before the response is complete */
  signal: AbortSignal;
  /** set once a declared route matched */
  route?: Route;
  caller: Caller | null;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      gateway: RequestState;
    }
  }
}

/**
 * A class, not an object literal with a `get logger()`: a literal's getter is a new closure per request, and V8
 * gives every such object a hidden class of its own. Those hidden classes live in the old generation and keep
 * the request they point to alive through young-generation collections until the next full one, so every
 * request's objects were promoted (`--trace-gc-nvp`: 6.7 KB a request in a bare Express app, scavenge pauses
 * 20% of the time). Here the getter is on the prototype, shared by all requests.
 */
class GatewayRequestState implements RequestState {
  route?: Route;
  caller: Caller | null = null;
  #logger: Logger | undefined;

  constructor(
    readonly requestId: string,
    private readonly parentLogger: Logger,
    readonly signal: AbortSignal,
  ) {}

  /** made on first use: most requests log nothing but their closing line, which needs no child logger */
  get logger(): Logger {
    return (this.#logger ??= this.parentLogger.child({ request_id: this.requestId }));
  }
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._:+=/-]{1,128}$/;
/** Probes and scrapes every few seconds would drown the request log. */
const UNLOGGED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export function requestContext(logger: Logger): RequestHandler {
  return (request, response, next) => {
    const incoming = request.get('x-request-id');
    const requestId = incoming && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const aborts = new AbortController();
    request.gateway = new GatewayRequestState(requestId, logger, aborts.signal);
    response.setHeader('x-request-id', requestId);
    const started = process.hrtime.bigint();

    // With the http instrumentation running, its server span already continues the caller's trace (and has
    // bound request and response to it). Without it (instrumentation off, or express loaded before telemetry
    // started) the gateway opens the span itself.
    const active = trace.getActiveSpan()?.spanContext();
    const span = active && isSpanContextValid(active) ? undefined : startRequestSpan(request.method, request.headers);
    // Body parsers and uploads call back from the socket's context; binding keeps the request's trace there. It
    // wraps every listener, so a request without a body is left alone (a streamed answer binds its response).
    if (span && (request.headers['transfer-encoding'] !== undefined || request.headers['content-length'] !== undefined))
      context.bind(trace.setSpan(context.active(), span), request);
    response.on('close', () => {
      if (!response.writableFinished) aborts.abort(new Error('the client closed the connection'));
      if (!UNLOGGED_PATHS.has(request.path)) {
        recordDuration(request.method, request.gateway.route?.path, response.statusCode, started);
        logRequest(
          logger,
          request.gateway,
          request.method,
          request.path,
          response.statusCode,
          response.writableFinished,
          started,
        );
      }
      if (span) {
        if (request.gateway.route) span.updateName(`${request.method} ${request.gateway.route.path}`);
        span.setAttribute('http.response.status_code', response.statusCode);
        span.end();
      }
    });
    if (!span) return next();
    context.with(trace.setSpan(context.active(), span), next);
  };
}

function startRequestSpan(method: string, headers: IncomingHttpHeaders): Span {
  const callerContext = propagation.extract(ROOT_CONTEXT, headers);
  return gatewayTracer().startSpan(method, { kind: SpanKind.SERVER }, callerContext);
}

const gatewayTracer = () => trace.getTracer('kantoor-gateway');

let requestDuration: { meterProvider: unknown; histogram: Histogram } | undefined;

/**
 * `http.server.request.duration` (seconds) as OpenTelemetry's semantic conventions name it (Prometheus:
 * `http_server_request_duration`), by method, route template and status: the gateway measures its requests
 * itself, so the costly http auto-instrumentation is not needed for it.
 */
function recordDuration(method: string, route: string | undefined, status: number, started: bigint): void {
  const meterProvider = metrics.getMeterProvider();
  if (requestDuration?.meterProvider !== meterProvider) {
    requestDuration = {
      meterProvider,
      histogram: metrics.getMeter('kantoor-gateway').createHistogram('http.server.request.duration', {
        unit: 's',
        description: 'Duration of HTTP server requests',
        advice: {
          explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
        },
      }),
    };
  }
  requestDuration.histogram.record(Number(process.hrtime.bigint() - started) / 1e9, {
    'http.request.method': method,
    'http.route': route ?? 'unmatched',
    'http.response.status_code': status,
  });
}

function logRequest(
  logger: Logger,
  state: RequestState,
  method: string,
  path: string,
  status: number,
  finished: boolean,
  started: bigint,
) {
  const level = status >= 500 ? 'error' : 'info';
  if (!logger.isLevelEnabled(level)) return;
  const durationMs = Number((process.hrtime.bigint() - started) / 1000n) / 1000;
  const fields = {
    request_id: state.requestId,
    method,
    route: state.route ? state.route.path : path,
    operation: state.route?.operationId,
    status,
    duration_ms: durationMs,
    caller: state.caller ? `${state.caller.kind}:${state.caller.subjectId}` : undefined,
    ...(finished ? {} : { aborted: true }),
  };
  logger[level](fields, 'request answered');
}
