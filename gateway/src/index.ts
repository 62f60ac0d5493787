export { createApp, type GatewayDeps, type ServiceClients } from './app';
export {
  gatewaySettings,
  readGatewayConfig,
  readServiceAddresses,
  SERVICE_ADDRESS_SETTINGS,
  tokenSigningKeyFile,
  GATEWAY_MIGRATIONS_DIR,
  type GatewayConfig,
} from './config';

export {
  defineRoute,
  namedSchema,
  reply,
  streamReply,
  Reply,
  StreamReply,
  type HttpMethod,
  type JsonSchema,
  type Permission,
  type ResponseSpec,
  type Route,
  type RouteContext,
  type RouteSpec,
  type RouteTypes,
  type StreamReplyOptions,
  withConfiguredLimits,
} from './openapi/route';
export { buildOpenApiDocument, ProblemSchema, type DocumentInfo } from './openapi/document';
export { DOCUMENTATION_PATHS } from './openapi/docs-page';
export { checkRouteTable } from './openapi/router';
export { routeTable } from './routes';
export { OPERATIONAL_PATHS, type ReadinessCheck } from './routes/operations';

export { callerFromClaims, claimsForCaller, type Caller, type ResolveCaller, type StaffRole } from './auth/caller';
export { verifyBearerToken, type TokenVerifier } from './auth/token-verifier';
export {
  loadEmbeddedTokenIssuer,
  EMBEDDED_ISSUER,
  TOKEN_AUDIENCE,
  type EmbeddedTokenIssuer,
  type EmbeddedTokenOptions,
  type IssuedToken,
} from './auth/embedded-tokens';
export { createOidcVerifier, type OidcVerifierOptions } from './auth/oidc';
export {
  ApiKeyStore,
  managesApiKeys,
  type ApiKey,
  type ApiKeyManagement,
  type ApiKeyVerifier,
  type CreatedApiKey,
} from './auth/api-keys';
export { authorizeByScopes, scopeGrants, type Authorize } from './auth/authorize';
export { authorizeWithPolicy, directoryAccessFacts, resolveCallerByEmail } from './auth/dossier-policy';
export type { LoginCredentials, LoginIdentity, PasswordLogin } from './auth/password-login';

export { IdempotencyStore, purgeExpiredKeys } from './middleware/idempotency';
export { TokenBuckets, type RateLimits, type RateLimitPolicy } from './middleware/rate-limit';
export { pipeToResponse } from './middleware/streaming';
export { HttpProblem } from './middleware/problem';

import { migrate, readMigrations, type Database, type MigrationReport } from '@kantoor/database';
import { GATEWAY_MIGRATIONS_DIR } from './config';

/** Brings the gateway's own database (API keys, idempotency keys) up to date. */
export async function migrateGatewayDatabase(db: Database): Promise<MigrationReport> {
  return migrate(db, await readMigrations(GATEWAY_MIGRATIONS_DIR));
}
export { startGateway, type RunningGateway, type StartGatewayOptions } from './start-gateway';
