/**
 * Turns the route table into express routes. For every request, in this order: authenticate, rate-limit,
 * refuse bad credentials, require a caller and authorise (authenticated routes), read the body (JSON with a
 * limit, or a metered stream for uploads), validate, then run the handler under the Idempotency-Key and
 * answer. Any refusal along the way becomes a problem+json answer.
 */
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { invalidArgument } from '@kantoor/errors';
import type { Authorize } from '../auth/authorize';
import type { GatewayDeps } from '../app';
import { authenticate, authenticationRequired, type CredentialCheckers } from '../middleware/authenticate';
import {
  checkIdempotencyKey,
  keyInProgress,
  keyReused,
  requestHasher,
  type IdempotencyStore,
  type StoredResponse,
} from '../middleware/idempotency';
import { payloadTooLarge, problemFor, PROBLEM_CONTENT_TYPE, unsupportedMediaType } from '../middleware/problem';
import { enforceRateLimits, type RateLimits, type TokenBuckets } from '../middleware/rate-limit';
import { meterUpload, pipeToResponse, type MeteredUpload } from '../middleware/streaming';
import { expressPath, Reply, StreamReply, type Route, type RouteContext } from './route';
import { checkRequest, checkResponse, compileValidators, type RouteValidators } from './validation';

export interface RouterRuntime {
  deps: GatewayDeps;
  checkers: CredentialCheckers;
  authorize: Authorize;
  buckets: TokenBuckets;
  rateLimits: RateLimits;
  idempotency: IdempotencyStore;
  jsonBodyLimit: number;
  validateResponses: boolean;
}

/** A finished answer, or a stream still to be piped. */
type Outcome = { kind: 'buffered'; response: StoredResponse } | { kind: 'stream'; reply: StreamReply };

const JSON_TYPE = 'application/json; charset=utf-8';

const hasBody = (request: Request) =>
  request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;

/** Refuses a table with two routes on one method and path, or two routes with one operationId. */
export function checkRouteTable(routes: readonly Route[]): void {
  const seen = new Set<string>();
  for (const route of routes) {
    for (const identity of [`operation ${route.operationId}`, `${route.method.toUpperCase()} ${route.path.replace(/\{[^}]+\}/g, '{}')}`]) {
      if (seen.has(identity)) throw new Error(`the route table declares ${identity} twice`);
      seen.add(identity);
    }
  }
}

export function buildRouter(routes: readonly Route[], runtime: RouterRuntime): Router {
  checkRouteTable(routes);
  const validators = compileValidators(routes);
  const router = express.Router();
  for (const route of routes) {
    const routeValidators = validators.get(route)!;
    const bodyLimit = route.bodyLimit ?? runtime.jsonBodyLimit;
    const jsonParser = express.json({
      limit: bodyLimit,
      type: () => true, // the media type is checked before, so every body that gets here is JSON
      verify: (request, _response, raw) => void ((request as Request & { rawBody?: Buffer }).rawBody = raw),
    });
    const handle: RequestHandler = (request, response) => answer(route, routeValidators, jsonParser, request, response, runtime);
    router[route.method](expressPath(route.path), handle);
  }
  return router;
}

async function answer(
  route: Route,
  validators: RouteValidators,
  jsonParser: RequestHandler,
  request: Request,
  response: Response,
  runtime: RouterRuntime,
): Promise<void> {
  const state = request.gateway;
  state.route = route;

  let authFailure: unknown;
  try {
    state.caller = await authenticate(request, runtime.checkers);
  } catch (error) {
    authFailure = error;
  }
  // counted before refusing bad credentials, so guessing tokens or keys is rate-limited too
  enforceRateLimits(runtime.buckets, runtime.rateLimits, request, response, { throttle: route.throttle });
  if (authFailure) throw authFailure;
  const caller = state.caller;
  if (route.auth === 'authenticated') {
    if (!caller) throw authenticationRequired();
    await runtime.authorize(route, caller);
  }

  const idempotencyKey = route.mutates ? request.get('idempotency-key') : undefined;
  if (idempotencyKey !== undefined) {
    checkIdempotencyKey(idempotencyKey);
    if (!route.acceptsIdempotencyKey) throw idempotencyNotSupported('Its answer holds a secret that is never stored.');
    if (!caller) throw idempotencyNotSupported('It needs an authenticated caller.');
  }
  const hash = requestHasher(request.method, request.originalUrl);

  let upload: MeteredUpload | undefined;
  if (route.streaming === 'upload') {
    upload = acceptUpload(route, request, idempotencyKey ? hash : undefined);
  } else if (route.request?.body) {
    if (hasBody(request)) {
      if (!request.is(['application/json', '+json'])) throw unsupportedMediaType(['application/json']);
      await new Promise<void>((resolve, reject) => jsonParser(request, response, (error?: unknown) => (error ? reject(error) : resolve())));
    }
  } else if (hasBody(request)) {
    throw invalidArgument('This operation takes no request body.', { reason: 'unexpected_body', violations: [{ field: 'body', message: 'is not allowed' }] });
  }

  const params = { ...request.params };
  const query = { ...(request.query as Record<string, unknown>) };
  const body = route.streaming === 'upload' ? undefined : request.body;
  checkRequest(validators, { params, query, body, hasBody: body !== undefined });

  const context: RouteContext = {
    params: params as Record<string, string>,
    query,
    body: body as RouteContext['body'],
    caller,
    requestId: state.requestId,
    idempotencyKey,
    signal: state.signal,
    logger: state.logger,
    deps: runtime.deps,
    upload: upload?.stream as RouteContext['upload'],
    request,
  };
  const run = () => execute(route, validators, context, runtime.validateResponses);

  if (idempotencyKey === undefined || !caller) return send(response, await run());

  const subject = `${caller.kind}:${caller.subjectId}`;
  const knownHash = upload ? null : hash.update((request as Request & { rawBody?: Buffer }).rawBody ?? '').digest('hex');
  const claim = await runtime.idempotency.claim(subject, idempotencyKey, knownHash);
  if (claim.outcome === 'in_progress') {
    response.set('retry-after', '1');
    throw keyInProgress();
  }
  if (claim.outcome === 'completed') {
    const repeatHash = upload ? await drainedHash(upload, hash) : knownHash;
    if (repeatHash !== claim.requestHash) throw keyReused();
    response.set('idempotent-replayed', 'true');
    return send(response, { kind: 'buffered', response: claim.response });
  }

  const outcome = await run().catch(async (error: unknown) => {
    await runtime.idempotency.release(subject, idempotencyKey, claim.claimedAt);
    throw error;
  });
  const storable = outcome.kind === 'buffered' && outcome.response.status < 500 && (!upload || upload.complete);
  if (storable) {
    const requestHash = knownHash ?? hash.digest('hex');
    await runtime.idempotency.complete(subject, idempotencyKey, claim.claimedAt, requestHash, outcome.response);
  } else {
    await runtime.idempotency.release(subject, idempotencyKey, claim.claimedAt);
  }
  return send(response, outcome);
}

const idempotencyNotSupported = (why: string) =>
  invalidArgument(`This operation does not accept an Idempotency-Key. ${why}`, {
    reason: 'idempotency_not_supported',
    violations: [{ field: 'header.Idempotency-Key', message: 'is not accepted here' }],
  });

function acceptUpload(route: Route, request: Request, hash: ReturnType<typeof requestHasher> | undefined): MeteredUpload {
  const accepted = route.request?.contentTypes ?? ['application/octet-stream'];
  if (!request.is(accepted)) throw unsupportedMediaType(accepted);
  const limit = route.bodyLimit!;
  const declaredLength = Number(request.get('content-length') ?? 0);
  if (declaredLength > limit) throw payloadTooLarge(limit);
  return meterUpload(request, limit, hash);
}

/** A repeated upload is read to its end (and thrown away) to learn whether it is the same as the first. */
async function drainedHash(upload: MeteredUpload, hash: ReturnType<typeof requestHasher>): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    upload.stream.on('end', resolve).on('error', reject).resume();
  });
  return hash.digest('hex');
}

/** Runs the handler; its refusals become problem answers here, so that they can be stored for replay. */
async function execute(route: Route, validators: RouteValidators, context: RouteContext, validateResponses: boolean): Promise<Outcome> {
  try {
    const result = await route.handler(context);
    if (result instanceof StreamReply) return { kind: 'stream', reply: result };
    const reply = result instanceof Reply ? result : new Reply(successStatus(route), result);
    const body = reply.body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(reply.body));
    if (validateResponses) checkResponse(route, validators, reply.status, body.length ? JSON.parse(body.toString()) : undefined);
    const headers: Record<string, string> = { ...(body.length > 0 && { 'content-type': JSON_TYPE }) };
    for (const [name, value] of Object.entries(reply.headers)) headers[name.toLowerCase()] = value;
    return { kind: 'buffered', response: { status: reply.status, headers, body } };
  } catch (error) {
    const problem = problemFor(error, context.requestId, context.logger);
    const headers = { ...problem.headers, 'content-type': PROBLEM_CONTENT_TYPE };
    return { kind: 'buffered', response: { status: problem.details.status, headers, body: Buffer.from(JSON.stringify(problem.details)) } };
  }
}

function successStatus(route: Route): number {
  const statuses = Object.keys(route.responses).map(Number).filter((status) => status >= 200 && status < 300);
  return statuses.length > 0 ? Math.min(...statuses) : 200;
}

async function send(response: Response, outcome: Outcome): Promise<void> {
  response.set('cache-control', 'no-store');
  if (outcome.kind === 'buffered') {
    const { status, headers, body } = outcome.response;
    response.status(status).set(headers);
    if (body.length === 0) response.end();
    else response.end(body);
    return;
  }
  const { body, contentType, status = 200, contentLength, filename, headers = {} } = outcome.reply.options;
  response.status(status).set(headers).set('content-type', contentType);
  if (contentLength !== undefined) response.set('content-length', String(contentLength));
  if (filename) response.attachment(filename);
  try {
    await pipeToResponse(body, response);
  } catch (error) {
    // the status line is out already and pipeToResponse cut the connection: the client sees a failed download
    response.req.gateway.logger.warn({ err: error }, 'streamed response failed');
  }
}
