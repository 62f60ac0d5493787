import type { Request } from 'express';
import { unauthenticated } from '@kantoor/errors';
import type { ApiKeyVerifier } from '../auth/api-keys';
import type { Caller } from '../auth/caller';
import { verifyBearerToken, type TokenVerifier } from '../auth/token-verifier';
import type { VerifiedTokenCache } from '../auth/verified-token-cache';

export interface CredentialCheckers {
  tokenVerifiers: readonly TokenVerifier[];
  apiKeys?: ApiKeyVerifier;
  verifiedTokens?: VerifiedTokenCache;
}

/**
 * The caller behind `Authorization: Bearer <jwt>` or `X-Api-Key`, or null when the request carries neither.
 * Credentials that are present but wrong are refused even on public routes: a client with a broken token
 * should learn it rather than be served as anonymous.
 */
export async function authenticate(request: Request, checkers: CredentialCheckers): Promise<Caller | null> {
  const authorization = request.get('authorization');
  const apiKey = request.get('x-api-key');
  if (authorization && apiKey) {
    throw unauthenticated('Send either a bearer token or an API key, not both.', { reason: 'ambiguous_credentials' });
  }
  if (authorization) {
    const bearer = /^Bearer +([A-Za-z0-9._~+/-]+=*)$/i.exec(authorization.trim());
    if (!bearer)
      throw unauthenticated('Only bearer tokens are accepted in the Authorization header.', {
        reason: 'unsupported_authorization',
      });
    return verifyBearerToken(checkers.tokenVerifiers, bearer[1], checkers.verifiedTokens);
  }
  if (apiKey) {
    const caller = checkers.apiKeys ? await checkers.apiKeys.verify(apiKey) : null;
    if (!caller) throw unauthenticated('The API key is not valid or has been revoked.', { reason: 'invalid_api_key' });
    return caller;
  }
  return null;
}

export const authenticationRequired = () =>
  unauthenticated('This operation needs a bearer token or an API key.', { reason: 'authentication_required' });
