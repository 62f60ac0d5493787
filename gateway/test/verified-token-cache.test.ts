import { UnsecuredJWT } from 'jose';
import { unauthenticated } from '@kantoor/errors';
import { callerFromClaims, claimsForCaller, type Caller } from '../src/auth/caller';
import { verifyBearerToken, type TokenVerifier } from '../src/auth/token-verifier';
import { VerifiedTokenCache } from '../src/auth/verified-token-cache';
import { staff } from './helpers';

let now = Date.UTC(2026, 0, 5, 9);
const clock = () => now;

/** Checks `exp` against the same clock as the cache, and counts how often it is asked. */
function countingVerifier() {
  const verifier: TokenVerifier & { calls: number } = {
    issuer: 'test',
    calls: 0,
    async verify(token) {
      verifier.calls += 1;
      const [, payload] = token.split('.');
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      if (typeof claims.exp === 'number' && claims.exp * 1000 <= now)
        throw unauthenticated('The access token has expired.', { reason: 'token_expired' });
      return (await callerFromClaims(claims)) as Caller;
    },
  };
  return verifier;
}

const tokenFor = (caller: Caller, expiresInSeconds?: number) => {
  const jwt = new UnsecuredJWT(claimsForCaller(caller)).setIssuer('test');
  if (expiresInSeconds !== undefined) jwt.setExpirationTime(Math.floor(now / 1000) + expiresInSeconds);
  return jwt.encode();
};

describe('verified bearer tokens', () => {
  it('checks a token once and serves its caller from the cache until it expires, then refuses it', async () => {
    const verifier = countingVerifier();
    const cache = new VerifiedTokenCache(100, clock);
    const token = tokenFor(staff({ subjectId: 'staff-anne' }), 60);

    for (let i = 0; i < 3; i++)
      await expect(verifyBearerToken([verifier], token, cache)).resolves.toMatchObject({ subjectId: 'staff-anne' });
    expect(verifier.calls).toBe(1);

    now += 61_000;
    await expect(verifyBearerToken([verifier], token, cache)).rejects.toMatchObject({ reason: 'token_expired' });
    expect(verifier.calls).toBe(2);
  });

  it('never keeps a refused token or one without an expiry', async () => {
    const verifier = countingVerifier();
    const cache = new VerifiedTokenCache(100, clock);
    const expired = tokenFor(staff(), -5);
    const endless = tokenFor(staff());
    for (let i = 0; i < 2; i++) {
      await expect(verifyBearerToken([verifier], expired, cache)).rejects.toMatchObject({ reason: 'token_expired' });
      await verifyBearerToken([verifier], endless, cache);
    }
    expect(verifier.calls).toBe(4);
    expect(cache.size).toBe(0);
  });

  it('refuses a token of an untrusted issuer even when a trusted one with the same claims is cached', async () => {
    const cache = new VerifiedTokenCache(100, clock);
    const trusted = tokenFor(staff(), 60);
    await verifyBearerToken([countingVerifier()], trusted, cache);
    const foreign = new UnsecuredJWT(claimsForCaller(staff()))
      .setIssuer('elsewhere')
      .setExpirationTime(Math.floor(now / 1000) + 60)
      .encode();
    await expect(verifyBearerToken([countingVerifier()], foreign, cache)).rejects.toMatchObject({
      reason: 'invalid_token',
    });
  });

  it('keeps at most its capacity, dropping the oldest token first', async () => {
    const verifier = countingVerifier();
    const cache = new VerifiedTokenCache(2, clock);
    const [first, second, third] = ['a', 'b', 'c'].map((id) => tokenFor(staff({ subjectId: `staff-${id}` }), 60));
    for (const token of [first, second, third]) await verifyBearerToken([verifier], token, cache);
    expect(cache.size).toBe(2);
    await verifyBearerToken([verifier], third, cache);
    expect(verifier.calls).toBe(3);
    await verifyBearerToken([verifier], first, cache);
    expect(verifier.calls).toBe(4);
  });

  it('hands out a copy, so a handler changing its caller does not change the next request', async () => {
    const cache = new VerifiedTokenCache(100, clock);
    const token = tokenFor(staff({ role: 'employee' }), 60);
    const first = await verifyBearerToken([countingVerifier()], token, cache);
    const second = await verifyBearerToken([countingVerifier()], token, cache);
    second.role = 'admin';
    second.scopes.push('firm:write');
    const third = await verifyBearerToken([countingVerifier()], token, cache);
    expect(third).toEqual(first);
    expect(third).toMatchObject({ role: 'employee', scopes: [] });
  });
});
