import { decodeJwt, errors as joseErrors } from 'jose';
import { isDomainError, unauthenticated, unavailable } from '@kantoor/errors';
import { invalidToken, type Caller } from './caller';
import type { VerifiedTokenCache } from './verified-token-cache';

/** Verifies bearer tokens of one issuer. */
export interface TokenVerifier {
  readonly issuer: string;
  /** the caller the token stands for; throws an `unauthenticated` DomainError when it is refused */
  verify(token: string): Promise<Caller>;
}

/**
 * Picks the verifier by the token's (not yet verified) `iss` claim, so the embedded issuer and the firm's
 * identity provider can be accepted side by side; the chosen verifier then checks everything.
 */
export function verifyBearerToken(
  verifiers: readonly TokenVerifier[],
  token: string,
  cache?: VerifiedTokenCache,
): Promise<Caller> {
  const known = cache?.get(token);
  if (known) return Promise.resolve(known);
  let claims;
  try {
    claims = decodeJwt(token);
  } catch {
    return Promise.reject(invalidToken());
  }
  const verifier = verifiers.find((candidate) => candidate.issuer === claims.iss);
  if (!verifier) return Promise.reject(invalidToken('The access token was not issued by a trusted issuer.'));
  if (!cache) return verifier.verify(token);
  return verifier.verify(token).then((caller) => {
    // the verifier checked the signature, so the `exp` read above is the token's own
    cache.remember(token, caller, claims.exp);
    return caller;
  });
}

/**
 * jose's refusals become 401s with a stable reason; failures to reach the issuer's keys become 503s, so a
 * client does not throw away a good token because the identity provider is down.
 */
export function tokenRefusal(error: unknown): Error {
  if (isDomainError(error)) return error;
  if (error instanceof joseErrors.JWTExpired)
    return unauthenticated('The access token has expired.', { reason: 'token_expired' });
  const keysUnreachable =
    error instanceof joseErrors.JWKSTimeout ||
    error instanceof joseErrors.JWKSInvalid ||
    (error instanceof Error && !(error instanceof joseErrors.JOSEError));
  if (keysUnreachable) {
    return unavailable('The identity provider cannot be reached to check the access token.', {
      reason: 'identity_provider_unavailable',
      cause: error,
    });
  }
  return invalidToken();
}
