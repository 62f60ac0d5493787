/**
 * Bearer tokens from the firm's OpenID Connect provider (cluster mode). The keys come from the issuer's JWKS,
 * found through its discovery document unless OIDC_JWKS_URI names it; jose caches them and refetches when a
 * token names an unknown key (key rotation).
 */
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { isDomainError, permissionDenied, unavailable } from '@kantoor/errors';
import { callerFromClaims, type ResolveCaller } from './caller';
import { tokenRefusal, type TokenVerifier } from './token-verifier';

export interface OidcVerifierOptions {
  issuer: string;
  audience: string;
  jwksUri?: string;
  /** claims → caller; the directory will match staff by e-mail address. Default: callerFromClaims */
  resolveCaller?: ResolveCaller;
  /** seconds of clock difference with the provider that are tolerated; default 30 */
  clockTolerance?: number;
  timeoutMs?: number;
}

/** Asymmetric algorithms only: a shared-secret (HS*) or unsigned (`none`) token is never accepted. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

export function createOidcVerifier(options: OidcVerifierOptions): TokenVerifier {
  const resolveCaller = options.resolveCaller ?? callerFromClaims;
  const timeoutDuration = options.timeoutMs ?? 5000;
  let keys: Promise<JWTVerifyGetKey> | undefined;

  const keySet = (): Promise<JWTVerifyGetKey> => {
    if (keys) return keys;
    const pending = discoverJwksUri(options, timeoutDuration).then((uri) =>
      createRemoteJWKSet(new URL(uri), { timeoutDuration }),
    );
    // a failed discovery is retried by the next request rather than remembered
    pending.catch(() => keys === pending && (keys = undefined));
    return (keys = pending);
  };

  return {
    issuer: options.issuer,
    async verify(token) {
      let claims;
      try {
        ({ payload: claims } = await jwtVerify(token, await keySet(), {
          issuer: options.issuer,
          audience: options.audience,
          algorithms: ALGORITHMS,
          requiredClaims: ['exp', 'sub'],
          clockTolerance: options.clockTolerance ?? 30,
        }));
      } catch (error) {
        throw tokenRefusal(error);
      }
      const caller = await resolveCaller(claims);
      // the token is genuine, but its holder has no place in any firm: signing in again would not help
      if (!caller) throw permissionDenied('This account has no access to Kantoor.', { reason: 'unknown_account' });
      return caller;
    },
  };
}

async function discoverJwksUri(options: OidcVerifierOptions, timeoutMs: number): Promise<string> {
  if (options.jwksUri) return options.jwksUri;
  const url = `${options.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const refusal = (why: string, cause?: unknown) =>
    unavailable('The identity provider cannot be reached to check the access token.', {
      reason: 'identity_provider_unavailable',
      cause: cause ?? new Error(`${url}: ${why}`),
    });
  let document: { issuer?: unknown; jwks_uri?: unknown };
  try {
    const response = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: { accept: 'application/json' },
    });
    if (!response.ok) throw refusal(`answered ${response.status}`);
    document = (await response.json()) as typeof document;
  } catch (error) {
    throw isDomainError(error) ? error : refusal('unreachable', error);
  }
  // OpenID Connect Discovery 1.0 §4.3: the document must name exactly the issuer it was fetched for
  if (document.issuer !== options.issuer) throw refusal(`names issuer ${String(document.issuer)}`);
  if (typeof document.jwks_uri !== 'string') throw refusal('has no jwks_uri');
  return document.jwks_uri;
}
