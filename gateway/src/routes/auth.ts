/**
 * Signing in (embedded mode) and the public keys of the gateway's own tokens. A route module declares its
 * routes with defineRoute and exports them; routes/index.ts puts them in the table.
 */
import { isDomainError, notFound, unauthenticated } from '@kantoor/errors';
import type { LoginCredentials, LoginIdentity } from '../auth/password-login';
import { ProblemSchema } from '../openapi/document';
import { defineRoute, namedSchema, reply } from '../openapi/route';

export const LoginRequestSchema = namedSchema('LoginRequest', {
  type: 'object',
  additionalProperties: false,
  required: ['email', 'password'],
  properties: {
    email: { type: 'string', format: 'email', maxLength: 320 },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
  },
});

export const AccessTokenSchema = namedSchema('AccessToken', {
  type: 'object',
  additionalProperties: false,
  required: ['accessToken', 'tokenType', 'expiresIn'],
  properties: {
    accessToken: { type: 'string', description: 'send as `Authorization: Bearer <accessToken>`' },
    tokenType: { const: 'Bearer' },
    expiresIn: { type: 'integer', description: 'seconds until the token expires' },
  },
});

export const JwkSetSchema = namedSchema('JwkSet', {
  type: 'object',
  required: ['keys'],
  properties: {
    keys: {
      type: 'array',
      items: { type: 'object', required: ['kty'], properties: { kty: { type: 'string' }, kid: { type: 'string' } } },
    },
  },
});

const wrongCredentials = () =>
  unauthenticated('The e-mail address or password is not correct.', { reason: 'invalid_credentials' });

export const login = defineRoute<{ body: LoginCredentials }>({
  method: 'post',
  path: '/v1/auth/login',
  operationId: 'login',
  summary: 'Sign in with e-mail address and password',
  description:
    "Embedded mode only; in cluster mode people sign in with the firm's identity provider. Attempts are limited per address (`RATE_LIMIT_LOGIN_PER_IP`).",
  tags: ['auth'],
  auth: 'public',
  mutates: false,
  throttle: 'login',
  request: { body: LoginRequestSchema },
  responses: {
    200: { description: 'Signed in', schema: AccessTokenSchema },
    401: {
      description: 'Wrong e-mail address or password (which of the two is not told)',
      schema: ProblemSchema,
      contentType: 'application/problem+json',
    },
    404: {
      description: 'Password login is not available (cluster mode)',
      schema: ProblemSchema,
      contentType: 'application/problem+json',
    },
  },
  async handler({ body, deps }) {
    const { tokenIssuer, passwordLogin } = deps;
    if (!tokenIssuer || !passwordLogin) {
      throw notFound("Password login is not available here; sign in with the firm's identity provider.", {
        reason: 'login_not_available',
      });
    }
    let identity: LoginIdentity | null;
    try {
      identity = await passwordLogin({ email: body.email, password: body.password });
    } catch (error) {
      if (isDomainError(error) && (error.kind === 'unauthenticated' || error.kind === 'not_found'))
        throw wrongCredentials();
      throw error;
    }
    if (!identity) throw wrongCredentials();
    return tokenIssuer.issue(identity);
  },
});

export const jwks = defineRoute({
  method: 'get',
  path: '/.well-known/jwks.json',
  operationId: 'getJwks',
  summary: "Public keys of the gateway's own tokens",
  description: 'Empty when the gateway issues no tokens (cluster mode).',
  tags: ['auth'],
  auth: 'public',
  responses: { 200: { description: 'JSON Web Key Set', schema: JwkSetSchema } },
  handler: ({ deps }) =>
    reply(200, deps.tokenIssuer?.jwks() ?? { keys: [] }, { 'cache-control': 'public, max-age=300' }),
});

export const authRoutes = [login, jwks];
