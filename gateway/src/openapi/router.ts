/**
 * Turns the route table into express routes. For every request, in this order: authenticate, rate-limit,
 * refuse bad credentials, require a caller and authorise (authenticated routes), read the body (JSON with a
 * limit, or a metered stream for uploads), validate, then run the handler under the Idempotency-Key and
 * answer. Any refusal along the way becomes a problem+json answer.
 */
import type { Hash } from 'node:crypto';
import { context } from '@opentelemetry/api';
import express, { type Request, type RequestHandler, type Response } from 'express';
import { conflict, invalidArgument } from '@kantoor/errors';
import type { Authorize } from '../auth/authorize';
import type { Caller } from '../auth/caller';
import type { GatewayDeps } from '../app';
import type { Logger } from '@kantoor/logging';
import { authenticate, authenticationRequired, type CredentialCheckers } from '../middleware/authenticate';
import {
  checkIdempotencyKey,
  keyInProgress,
  keyReused,
  requestHasher,
  type IdempotencyStore,
  type StoredResponse,
} from '../middleware/idempotency';
import {
  payloadTooLarge,
  problemFor,
  PROBLEM_CONTENT_TYPE,
  unsupportedMediaType,
  type Problem,
} from '../middleware/problem';
import { enforceRateLimits, type RateLimitBuckets, type RateLimits } from '../middleware/rate-limit';
import { discardUnreadBody, meterUpload, pipeToResponse, type MeteredUpload } from '../middleware/streaming';
import type { RequestState } from '../middleware/request-context';
import { Reply, StreamReply, type Route, type RouteContext } from './route';
import { checkRequest, checkResponse, compileValidators, type RouteValidators } from './validation';

export interface RouterRuntime {
  deps: GatewayDeps;
  checkers: CredentialCheckers;
  authorize: Authorize;
  buckets: RateLimitBuckets;
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
    for (const identity of [
      `operation ${route.operationId}`,
      `${route.method.toUpperCase()} ${route.path.replace(/\{[^}]+\}/g, '{}')}`,
    ]) {
      if (seen.has(identity)) throw new Error(`the route table declares ${identity} twice`);
      seen.add(identity);
    }
  }
}

export function buildRouter(routes: readonly Route[], runtime: RouterRuntime): RequestHandler {
  checkRouteTable(routes);
  const validators = compileValidators(routes, { responses: runtime.validateResponses });
  const table = new RouteTable();
  for (const route of routes) {
    if (route.streaming === 'upload' && route.bodyLimit === null)
      throw new Error(
        `route ${route.operationId}: its body limit ${route.bodyLimitSetting} was not read from the config`,
      );
    const routeValidators = validators.get(route)!;
    const bodyLimit = route.bodyLimit ?? runtime.jsonBodyLimit;
    const jsonParser = express.json({
      limit: bodyLimit,
      type: () => true, // the media type is checked before, so every body that gets here is JSON
      verify: (request, _response, raw) => void ((request as Request & { rawBody?: Buffer }).rawBody = raw),
    });
    table.add(route.method.toUpperCase(), route.path, (request, response, next) => {
      // a client that left while the request waited for its turn gets nothing: no work is begun for it
      if (request.gateway.signal.aborted) return;
      const inFlight = runtime.deps.inFlight;
      inFlight?.begin();
      answer(route, routeValidators, jsonParser, request, response, runtime).then(
        () => inFlight?.end(),
        (error: unknown) => {
          try {
            next(error);
          } finally {
            inFlight?.end();
          }
        },
      );
    });
  }
  return (request, response, next) => {
    const match = table.match(request.method, request.path);
    if (!match) return next();
    request.params = match.params;
    match.handle(request, response, next);
  };
}

type RouteHandle = (request: Request, response: Response, next: (error?: unknown) => void) => void;

/**
 * The routes by method and number of path segments, each a list of literal segments and parameters, tried in
 * the table's order. As express matches them (case-insensitive literals, an optional trailing slash, HEAD
 * answered by GET, parameters URL-decoded), without testing every route's regular expression on every request.
 */
class RouteTable {
  private readonly byMethod = new Map<
    string,
    Map<number, Array<{ segments: Array<string | null>; names: string[]; handle: RouteHandle }>>
  >();

  add(method: string, path: string, handle: RouteHandle): void {
    const parts = path.split('/').slice(1);
    const segments = parts.map((part) => (part.startsWith('{') ? null : part.toLowerCase()));
    const names = parts.filter((part) => part.startsWith('{')).map((part) => part.slice(1, -1));
    let bySize = this.byMethod.get(method);
    if (!bySize) this.byMethod.set(method, (bySize = new Map()));
    const list = bySize.get(segments.length) ?? [];
    list.push({ segments, names, handle });
    bySize.set(segments.length, list);
  }

  match(method: string, path: string): { handle: RouteHandle; params: Record<string, string> } | undefined {
    const parts = path.split('/').slice(1);
    if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
    return this.find(method, parts) ?? (method === 'HEAD' ? this.find('GET', parts) : undefined);
  }

  private find(method: string, parts: string[]) {
    const candidates = this.byMethod.get(method)?.get(parts.length);
    if (!candidates) return undefined;
    const lowered = parts.map((part) => part.toLowerCase());
    for (const { segments, names, handle } of candidates) {
      if (segments.some((segment, index) => (segment === null ? parts[index] === '' : segment !== lowered[index])))
        continue;
      const params: Record<string, string> = {};
      for (let index = 0, name = 0; index < segments.length; index++)
        if (segments[index] === null) params[names[name++]] = decodeParameter(parts[index]);
      return { handle, params };
    }
    return undefined;
  }
}

/** A path parameter as express decodes it; a malformed escape is the client's mistake. */
function decodeParameter(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    throw invalidArgument(`The path segment "${value}" is not valid URL encoding.`, {
      reason: 'malformed_path',
      violations: [{ field: 'path', message: 'is not valid URL encoding' }],
    });
  }
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
  const caller = await admit(route, request, response, runtime);
  const idempotencyKey = takeIdempotencyKey(route, request, caller);
  // only a request under an Idempotency-Key is compared with an earlier one
  const hash = idempotencyKey === undefined ? undefined : requestHasher(request.method, request.originalUrl);

  let upload: MeteredUpload | undefined;
  if (route.streaming === 'upload') upload = acceptUpload(route, request, hash);
  else await readJsonBody(route, request, response, jsonParser);
  const params = { ...request.params };
  const query = { ...(request.query as Record<string, unknown>) };
  const body = upload ? undefined : request.body;
  checkRequest(validators, { params, query, body, hasBody: body !== undefined });

  const context: RouteContext = new HandlerContext(
    params as Record<string, string>,
    query,
    body as RouteContext['body'],
    caller,
    idempotencyKey,
    state,
    runtime.deps,
    upload?.stream as RouteContext['upload'],
    request,
  );
  const run = () => execute(route, validators, context, runtime.validateResponses);
  if (idempotencyKey === undefined || hash === undefined || !caller) return send(response, await run());
  const rawBody = (request as Request & { rawBody?: Buffer }).rawBody;
  const once = { store: runtime.idempotency, subject: `${caller.kind}:${caller.subjectId}`, key: idempotencyKey };
  return send(
    response,
    await runOnce(
      once,
      upload ? { upload, hash } : { requestHash: hash.update(rawBody ?? '').digest('hex') },
      run,
      response,
      route.idempotency ? route.idempotency.answerNotKept : undefined,
    ),
  );
}

/**
 * What a handler gets. A class rather than an object literal with `get logger()`: a literal's getter is a new
 * closure per request, which gives each context a hidden class of its own in V8's old generation, and that
 * kept every request's objects alive until the next full collection (see middleware/request-context.ts).
 */
class HandlerContext implements RouteContext {
  readonly requestId: string;
  readonly signal: AbortSignal;
  readonly services: RouteContext['services'];

  constructor(
    readonly params: Record<string, string>,
    readonly query: Record<string, unknown>,
    readonly body: RouteContext['body'],
    readonly caller: Caller | null,
    readonly idempotencyKey: string | undefined,
    private readonly state: RequestState,
    readonly deps: GatewayDeps,
    readonly upload: RouteContext['upload'],
    readonly request: Request,
  ) {
    this.requestId = state.requestId;
    this.signal = state.signal;
    this.services = deps.services ?? {};
  }

  /** on first use, as the request's own: most handlers log nothing, and a child logger per request adds up */
  get logger(): Logger {
    return this.state.logger;
  }
}

/** Who is calling, whether they may call this route at all, and whether they are within their rate limit. */
async function admit(
  route: Route,
  request: Request,
  response: Response,
  runtime: RouterRuntime,
): Promise<Caller | null> {
  let authFailure: unknown;
  try {
    request.gateway.caller = await authenticate(request, runtime.checkers);
  } catch (error) {
    authFailure = error;
  }
  // counted before refusing bad credentials, so guessing tokens or keys is rate-limited too
  const limited = enforceRateLimits(runtime.buckets, runtime.rateLimits, request, response, {
    throttle: route.throttle,
  });
  if (limited) await limited;
  if (authFailure) throw authFailure;
  const caller = request.gateway.caller;
  if (route.auth === 'authenticated') {
    if (!caller) throw authenticationRequired();
    // the path parameters let the access policy decide on the dossier a request names, before any service sees it
    await runtime.authorize(route, caller, { params: request.params as Record<string, string> });
  }
  return caller;
}

function takeIdempotencyKey(route: Route, request: Request, caller: Caller | null): string | undefined {
  const key = route.mutates ? request.get('idempotency-key') : undefined;
  if (key === undefined) return undefined;
  checkIdempotencyKey(key);
  if (!route.acceptsIdempotencyKey)
    throw idempotencyNotSupported('Its body is a credential, which is never kept, not even as a hash.');
  if (!caller) throw idempotencyNotSupported('It needs an authenticated caller.');
  return key;
}

async function readJsonBody(
  route: Route,
  request: Request,
  response: Response,
  jsonParser: RequestHandler,
): Promise<void> {
  if (!hasBody(request)) return;
  if (!route.request?.body) {
    throw invalidArgument('This operation takes no request body.', {
      reason: 'unexpected_body',
      violations: [{ field: 'body', message: 'is not allowed' }],
    });
  }
  if (!request.is(['application/json', '+json'])) throw unsupportedMediaType(['application/json']);
  await new Promise<void>((resolve, reject) =>
    jsonParser(request, response, (error?: unknown) => (error ? reject(error) : resolve())),
  );
}

/**
 * Runs the request at most once per Idempotency-Key (see middleware/idempotency.ts). A JSON request's hash
 * is known up front; an upload's is known only once it streamed through, or, for a repeat, once it was read.
 * `answerNotKept`: the route's successful answer holds a secret; a 409 problem is stored in its place.
 */
async function runOnce(
  once: { store: IdempotencyStore; subject: string; key: string },
  request: { requestHash: string } | { upload: MeteredUpload; hash: Hash },
  run: () => Promise<Outcome>,
  response: Response,
  answerNotKept?: (answer: never) => string,
): Promise<Outcome> {
  const { store, subject, key } = once;
  const knownHash = 'requestHash' in request ? request.requestHash : null;
  const claim = await store.claim(subject, key, knownHash);
  if (claim.outcome === 'in_progress') {
    response.set('retry-after', '1');
    throw keyInProgress();
  }
  if (claim.outcome === 'completed') {
    const repeatHash = 'upload' in request ? await drainedHash(request.upload, request.hash) : knownHash;
    if (repeatHash !== claim.requestHash) throw keyReused();
    response.set('idempotent-replayed', 'true');
    return { kind: 'buffered', response: claim.response };
  }

  const release = () => store.release(subject, key, claim.claimedAt);
  const outcome = await run().catch(async (error: unknown) => {
    await release();
    throw error;
  });
  try {
    const uploadComplete = !('upload' in request) || request.upload.complete;
    if (outcome.kind === 'buffered' && outcome.response.status < 500 && uploadComplete) {
      const requestHash = 'upload' in request ? request.hash.digest('hex') : request.requestHash;
      const kept =
        answerNotKept && outcome.response.status < 300
          ? answerNotKeptProblem(answerNotKept, outcome.response, response.req.gateway)
          : outcome.response;
      await store.complete(subject, key, claim.claimedAt, requestHash, kept);
    } else {
      await release();
    }
  } catch (error) {
    // the work is done: its answer matters more than the bookkeeping (the claim lapses as abandoned)
    response.req.gateway.logger.error({ err: error }, 'could not record the idempotent response');
  }
  return outcome;
}

/** What a repeat of a request whose answer held a secret gets instead of that answer. */
function answerNotKeptProblem(
  answerNotKept: (answer: never) => string,
  answer: StoredResponse,
  state: RequestState,
): StoredResponse {
  const detail = answerNotKept(JSON.parse(answer.body.toString('utf8')) as never);
  const refusal = conflict(`This request was already carried out with this Idempotency-Key. ${detail}`, {
    reason: 'idempotent_answer_not_kept',
  });
  return problemResponse(problemFor(refusal, state.requestId, state.logger));
}

const problemResponse = (problem: Problem): StoredResponse => ({
  status: problem.details.status,
  headers: { ...problem.headers, 'content-type': PROBLEM_CONTENT_TYPE },
  body: Buffer.from(JSON.stringify(problem.details)),
});

const idempotencyNotSupported = (why: string) =>
  invalidArgument(`This operation does not accept an Idempotency-Key. ${why}`, {
    reason: 'idempotency_not_supported',
    violations: [{ field: 'header.Idempotency-Key', message: 'is not accepted here' }],
  });

function acceptUpload(route: Route, request: Request, hash: Hash | undefined): MeteredUpload {
  const accepted = route.request?.contentTypes ?? ['application/octet-stream'];
  if (!request.is([...accepted])) throw unsupportedMediaType(accepted);
  const limit = route.bodyLimit!;
  const declaredLength = Number(request.get('content-length') ?? 0);
  if (declaredLength > limit) throw payloadTooLarge(limit);
  return meterUpload(request, limit, hash);
}

/** A repeated upload is read to its end (and thrown away) to learn whether it is the same as the first. */
async function drainedHash(upload: MeteredUpload, hash: Hash): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    upload.stream.on('end', resolve).on('error', reject).resume();
  });
  return hash.digest('hex');
}

/** Runs the handler; its refusals become problem answers here, so that they can be stored for replay. */
async function execute(
  route: Route,
  validators: RouteValidators,
  context: RouteContext,
  validateResponses: boolean,
): Promise<Outcome> {
  try {
    const result = await route.handler(context);
    if (result instanceof StreamReply) return { kind: 'stream', reply: result };
    const reply = result instanceof Reply ? result : new Reply(successStatus(route), result);
    const body = reply.body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(reply.body));
    if (validateResponses)
      checkResponse(route, validators, reply.status, body.length ? JSON.parse(body.toString()) : undefined);
    const headers: Record<string, string> = { ...(body.length > 0 && { 'content-type': JSON_TYPE }) };
    for (const [name, value] of Object.entries(reply.headers)) headers[name.toLowerCase()] = value;
    return { kind: 'buffered', response: { status: reply.status, headers, body } };
  } catch (error) {
    const problem = problemFor(error, context.requestId, context.logger, context.signal.aborted);
    return { kind: 'buffered', response: problemResponse(problem) };
  }
}

function successStatus(route: Route): number {
  const statuses = Object.keys(route.responses)
    .map(Number)
    .filter((status) => status >= 200 && status < 300);
  return statuses.length > 0 ? Math.min(...statuses) : 200;
}

async function send(response: Response, outcome: Outcome): Promise<void> {
  response.set('cache-control', 'no-store');
  if (outcome.kind === 'buffered') {
    const { status, headers, body } = outcome.response;
    response.status(status).set(headers);
    if (body.length === 0) response.end();
    else response.end(body);
    discardUnreadBody(response.req);
    return;
  }
  const { body, contentType, status = 200, contentLength, filename, disposition, headers = {} } = outcome.reply.options;
  // the download's callbacks ('drain', 'close') come from the socket: they stay in the request's trace
  context.bind(context.active(), response);
  response.status(status).set(headers).set('content-type', contentType);
  if (contentLength !== undefined) response.set('content-length', String(contentLength));
  if (filename) {
    response.attachment(filename);
    // express writes only `attachment`; its encoding of the name (ASCII fallback and filename*) is kept
    if (disposition === 'inline')
      response.set('content-disposition', response.get('content-disposition')!.replace(/^attachment/, 'inline'));
  }
  try {
    await pipeToResponse(body, response);
  } catch (error) {
    if (!response.headersSent) {
      // refused before the first byte: still time for a proper problem answer
      for (const name of ['content-length', 'content-disposition', ...Object.keys(headers)])
        response.removeHeader(name);
      throw error;
    }
    // the status line is out already and pipeToResponse cut the connection: the client sees a failed download
    response.req.gateway.logger.warn({ err: error }, 'streamed response failed');
  }
}
