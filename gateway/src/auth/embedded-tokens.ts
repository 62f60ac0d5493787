/**
 * Tokens the gateway issues itself in embedded mode, so the platform works without an identity provider.
 * ES256, signed with a key pair generated on first start and kept in the data folder: a restart keeps every
 * session valid. The public key is published at /.well-known/jwks.json.
 */
import { randomBytes } from 'node:crypto';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  type JWK,
  type KeyLike,
} from 'jose';
import { readOrCreateOwnerOnlyFile } from '@kantoor/config';
import { callerFromClaims, claimsForCaller, invalidToken, type Caller } from './caller';
import { tokenRefusal, type TokenVerifier } from './token-verifier';

export const EMBEDDED_ISSUER = 'kantoor-embedded';
export const TOKEN_AUDIENCE = 'kantoor';
const ALGORITHM = 'ES256';

export interface IssuedToken {
  accessToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

export interface EmbeddedTokenIssuer extends TokenVerifier {
  readonly ttlSeconds: number;
  /** a token for a person (or a system job); API keys are never turned into tokens */
  issue(caller: Omit<Caller, 'scopes'>): Promise<IssuedToken>;
  /** the public keys, for /.well-known/jwks.json */
  jwks(): { keys: JWK[] };
}

export interface EmbeddedTokenOptions {
  /** JSON file holding the private key; created (mode 0600) when absent */
  keyFile: string;
  ttlSeconds: number;
  /** milliseconds since the epoch; tests move it */
  clock?: () => number;
}

interface StoredKey {
  kid: string;
  privateJwk: JWK;
}

export async function loadEmbeddedTokenIssuer(options: EmbeddedTokenOptions): Promise<EmbeddedTokenIssuer> {
  const clock = options.clock ?? Date.now;
  const stored = await readOrCreateKey(options.keyFile);
  const privateKey = (await importJWK(stored.privateJwk, ALGORITHM)) as KeyLike;
  const { d: _private, ...publicJwk } = stored.privateJwk;
  const publicKey = (await importJWK(publicJwk, ALGORITHM)) as KeyLike;
  const published: JWK = { ...publicJwk, kid: stored.kid, alg: ALGORITHM, use: 'sig' };

  return {
    issuer: EMBEDDED_ISSUER,
    ttlSeconds: options.ttlSeconds,
    async issue(caller) {
      const now = Math.floor(clock() / 1000);
      const accessToken = await new SignJWT(claimsForCaller(caller))
        .setProtectedHeader({ alg: ALGORITHM, kid: stored.kid, typ: 'JWT' })
        .setIssuer(EMBEDDED_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setIssuedAt(now)
        .setExpirationTime(now + options.ttlSeconds)
        .setJti(randomBytes(12).toString('base64url'))
        .sign(privateKey);
      return { accessToken, tokenType: 'Bearer', expiresIn: options.ttlSeconds };
    },
    async verify(token) {
      let claims;
      try {
        ({ payload: claims } = await jwtVerify(token, publicKey, {
          issuer: EMBEDDED_ISSUER,
          audience: TOKEN_AUDIENCE,
          algorithms: [ALGORITHM],
          requiredClaims: ['exp', 'sub'],
          currentDate: new Date(clock()),
        }));
      } catch (error) {
        throw tokenRefusal(error);
      }
      const caller = await callerFromClaims(claims);
      if (!caller) throw invalidToken();
      return caller;
    },
    jwks: () => ({ keys: [published] }),
  };
}

async function readOrCreateKey(file: string): Promise<StoredKey> {
  // owner-only, and when several starts race the first writer wins and everyone reads its key
  const stored = await readOrCreateOwnerOnlyFile(file, async () => {
    const { privateKey } = await generateKeyPair(ALGORITHM, { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint({
      kty: privateJwk.kty,
      crv: privateJwk.crv,
      x: privateJwk.x,
      y: privateJwk.y,
    });
    return JSON.stringify({ kid, privateJwk } satisfies StoredKey);
  });
  return JSON.parse(stored) as StoredKey;
}
