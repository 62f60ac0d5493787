/**
 * The gateway's express application, without a listening socket: main.ts listens, tests use supertest.
 * Everything it needs comes in through GatewayDeps, so tests swap in fakes for what is not under test.
 */
import express, { type Express, type RequestHandler } from 'express';
import type { Database } from '@kantoor/database';
import type { Logger } from '@kantoor/logging';
import { ApiKeyStore, type ApiKeyVerifier } from './auth/api-keys';
import { authorizeByScopes, type Authorize } from './auth/authorize';
import type { EmbeddedTokenIssuer } from './auth/embedded-tokens';
import type { PasswordLogin } from './auth/password-login';
import type { TokenVerifier } from './auth/token-verifier';
import { VerifiedTokenCache } from './auth/verified-token-cache';
import type { GatewayConfig } from './config';
import { cors } from './middleware/cors';
import { IdempotencyStore } from './middleware/idempotency';
import { answerUnknownRoute, problemResponder } from './middleware/problem';
import { TokenBuckets, type RateLimitBuckets, type RateLimits } from './middleware/rate-limit';
import { SharedTokenBuckets } from './middleware/shared-rate-limit';
import { requestContext } from './middleware/request-context';
import type { RequestsInFlight } from './middleware/requests-in-flight';
import { requestsPerTurn } from './middleware/requests-per-turn';
import { documentationRouter } from './openapi/docs-page';
import { buildOpenApiDocument, type DocumentInfo } from './openapi/document';
import { pathPattern, withConfiguredLimits, type Route } from './openapi/route';
import { buildRouter } from './openapi/router';
import { routeTable } from './routes';
import { operationsRouter, type ReadinessCheck } from './routes/operations';

/**
 * The gRPC clients route handlers call, one field per service (`directory: DirectoryClient`, ...); main.ts
 * passes them in and handlers reach them as `ctx.services`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface ServiceClients {}

export interface GatewayDeps {
  config: GatewayConfig;
  logger: Logger;
  /** the gateway's own database (API keys, idempotency keys), already migrated */
  db: Database;
  services?: ServiceClients;
  /** default: the table in routes/index.ts; tests pass their own */
  routes?: readonly Route[];
  /** default: the embedded issuer alone, when there is one */
  tokenVerifiers?: readonly TokenVerifier[];
  /** embedded mode: signs the tokens of POST /v1/auth/login and publishes their keys */
  tokenIssuer?: EmbeddedTokenIssuer;
  /** default: an ApiKeyStore over `db` */
  apiKeys?: ApiKeyVerifier;
  passwordLogin?: PasswordLogin;
  /** default: authorizeByScopes */
  authorize?: Authorize;
  /** checked by /readyz, e.g. each service's gRPC health */
  readinessChecks?: Record<string, ReadinessCheck>;
  /** a check that takes longer counts as failed; default 2000 */
  readinessTimeoutMs?: number;
  /** true once shutdown began: /readyz answers 503 so the load balancer stops sending requests */
  shuttingDown?: () => boolean;
  /** counts the running route handlers, for shutdown to wait for them (start-gateway.ts) */
  inFlight?: RequestsInFlight;
  /** milliseconds since the epoch, for rate limits and idempotency expiry; tests move it */
  clock?: () => number;
  documentInfo?: DocumentInfo;
}

/** express 'trust proxy' from the setting: a hop count, true/false, or addresses and subnet names. */
function trustProxy(setting: string): boolean | number | string {
  if (/^\d+$/.test(setting)) return Number(setting);
  if (/^(true|false)$/i.test(setting)) return setting.toLowerCase() === 'true';
  return setting;
}

/** ~2 KB each: a few MB for as many people as a large firm has signed in at once */
const VERIFIED_TOKENS_KEPT = 10_000;

const baseHeaders: RequestHandler = (_request, response, next) => {
  // setHeader, not express's set(): plain values need none of its content-type handling on every request
  response.setHeader('x-content-type-options', 'nosniff');
  response.setHeader('referrer-policy', 'no-referrer');
  next();
};

/** Every bucket in memory, or those of people and keys in the database as well when the limits are shared. */
function rateLimitBuckets(input: GatewayDeps, clock: () => number): RateLimitBuckets {
  const local = new TokenBuckets(clock);
  const shared = input.config.RATE_LIMIT_SHARED ?? input.config.KANTOOR_MODE === 'cluster';
  return shared ? { local, shared: new SharedTokenBuckets(input.db, local, input.logger, clock) } : { local };
}

export function createApp(input: GatewayDeps): Express {
  const { config, logger } = input;
  const clock = input.clock ?? Date.now;
  const apiKeys = input.apiKeys ?? new ApiKeyStore(input.db, clock);
  const deps: GatewayDeps = { ...input, apiKeys, services: input.services ?? {} };
  const routes = withConfiguredLimits(input.routes ?? routeTable, config);
  const window = config.RATE_LIMIT_WINDOW_SECONDS;
  const rateLimits: RateLimits = {
    perUser: { limit: config.RATE_LIMIT_PER_USER, windowSeconds: window },
    perApiKey: { limit: config.RATE_LIMIT_PER_API_KEY, windowSeconds: window },
    perAddress: { limit: config.RATE_LIMIT_PER_IP, windowSeconds: window },
    loginPerAddress: { limit: config.RATE_LIMIT_LOGIN_PER_IP, windowSeconds: window },
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', trustProxy(config.TRUST_PROXY));
  app.set('etag', false);
  if (config.REQUESTS_PER_LOOP_TURN > 0) app.use(requestsPerTurn(config.REQUESTS_PER_LOOP_TURN));
  app.use(requestContext(logger));
  app.use(baseHeaders);
  app.use(cors(config.CORS_ORIGINS));
  app.use(
    operationsRouter({
      readinessChecks: input.readinessChecks ?? {},
      shuttingDown: input.shuttingDown ?? (() => false),
      logger,
      checkTimeoutMs: input.readinessTimeoutMs,
      metrics: config.KANTOOR_MODE === 'embedded',
    }),
  );
  app.use(documentationRouter(buildOpenApiDocument(routes, input.documentInfo)));
  app.use(
    buildRouter(routes, {
      deps,
      checkers: {
        tokenVerifiers: input.tokenVerifiers ?? (input.tokenIssuer ? [input.tokenIssuer] : []),
        apiKeys,
        verifiedTokens: new VerifiedTokenCache(VERIFIED_TOKENS_KEPT, clock),
      },
      authorize: input.authorize ?? authorizeByScopes,
      buckets: rateLimitBuckets(input, clock),
      rateLimits,
      idempotency: new IdempotencyStore(input.db, { ttlHours: config.IDEMPOTENCY_TTL_HOURS, clock }),
      jsonBodyLimit: config.JSON_BODY_LIMIT_BYTES,
      validateResponses: config.VALIDATE_RESPONSES,
    }),
  );
  app.use(
    answerUnknownRoute(
      routes.map((route) => ({ method: route.method.toUpperCase(), pattern: pathPattern(route.path) })),
    ),
  );
  app.use(problemResponder());
  return app;
}
