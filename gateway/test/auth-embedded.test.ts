import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { createLocalJWKSet, importJWK, jwtVerify, SignJWT, UnsecuredJWT } from 'jose';
import request from 'supertest';
import { unauthenticated } from '@kantoor/errors';
import { temporaryFolder } from '@kantoor/testing';
import {
  EMBEDDED_ISSUER,
  loadEmbeddedTokenIssuer,
  routeTable,
  type EmbeddedTokenIssuer,
  type LoginIdentity,
  type PasswordLogin,
} from '../src';
import { noDatabase, problemType, testApp, whoAmI } from './helpers';
import { tokenVerifierContract } from './token-verifier-contract';

const anne: LoginIdentity = {
  kind: 'staff',
  subjectId: 'staff-anne',
  firmId: 'firm-1',
  role: 'employee',
  email: 'anne@firm.example',
};

/** Anne's password is "correct horse"; the directory would say so over gRPC. */
const passwordLogin: PasswordLogin = async ({ email, password }) => {
  if (email === 'nobody@firm.example') throw unauthenticated('no such user');
  return email === anne.email && password === 'correct horse' ? anne : null;
};

let folder: Awaited<ReturnType<typeof temporaryFolder>>;
let keyFile: string;
let now = Date.now();
let issuer: EmbeddedTokenIssuer;

beforeAll(async () => {
  folder = await temporaryFolder('gateway-keys-');
  keyFile = path.join(folder.path, 'gateway', 'token-signing-key.json');
  issuer = await loadEmbeddedTokenIssuer({ keyFile, ttlSeconds: 3600, clock: () => now });
});
afterAll(() => folder.remove());
beforeEach(() => (now = Date.now()));

const appWith = (env: Record<string, string> = {}) =>
  testApp(
    { db: noDatabase, tokenIssuer: issuer, tokenVerifiers: [issuer], passwordLogin },
    [...routeTable, whoAmI],
    env,
  ).app;

tokenVerifierContract('the embedded issuer', async () => {
  // the key pair the issuer keeps in the data folder
  const { kid, privateJwk } = JSON.parse(await readFile(keyFile, 'utf8'));
  const privateKey = await importJWK(privateJwk, 'ES256');
  return {
    verifier: issuer,
    alg: 'ES256',
    kid,
    publicJwk: issuer.jwks().keys[0],
    audience: 'kantoor',
    sign: (payload) => new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' }).sign(privateKey),
    personClaims: { sub: anne.subjectId, firm_id: anne.firmId, kind: 'staff', role: anne.role, email: anne.email },
    caller: { ...anne, scopes: [] },
  };
});

describe('embedded tokens', () => {
  it('signs in with e-mail and password and uses the token as the caller', async () => {
    const app = appWith();
    const login = await request(app).post('/v1/auth/login').send({ email: anne.email, password: 'correct horse' });
    expect(login.status).toBe(200);
    expect(login.body).toEqual({ accessToken: expect.any(String), tokenType: 'Bearer', expiresIn: 3600 });
    expect(login.headers['cache-control']).toBe('no-store');

    const whoami = await request(app).get('/v1/test/whoami').set('authorization', `Bearer ${login.body.accessToken}`);
    expect(whoami.status).toBe(200);
    expect(whoami.body).toEqual({ ...anne, scopes: [] });
  });

  it('publishes its public key, which verifies the tokens (ES256, issuer kantoor-embedded, audience kantoor)', async () => {
    const app = appWith();
    const { body: keys } = await request(app).get('/.well-known/jwks.json').expect(200);
    expect(keys.keys).toEqual([
      expect.objectContaining({ kty: 'EC', crv: 'P-256', alg: 'ES256', kid: expect.any(String) }),
    ]);
    expect(keys.keys[0]).not.toHaveProperty('d');
    const { accessToken } = await issuer.issue(anne);
    const { payload, protectedHeader } = await jwtVerify(accessToken, createLocalJWKSet(keys), {
      issuer: 'kantoor-embedded',
      audience: 'kantoor',
    });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload).toMatchObject({
      sub: 'staff-anne',
      firm_id: 'firm-1',
      role: 'employee',
      email: anne.email,
      kind: 'staff',
    });
    expect(payload.exp! - payload.iat!).toBe(3600);
  });

  it('keeps sessions valid across a restart: the key pair is kept in the data folder, readable by the gateway only', async () => {
    const { accessToken } = await issuer.issue(anne);
    const restarted = await loadEmbeddedTokenIssuer({ keyFile, ttlSeconds: 3600 });
    await expect(restarted.verify(accessToken)).resolves.toMatchObject({ subjectId: 'staff-anne' });
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);

    const other = await temporaryFolder('gateway-keys-');
    const elsewhere = await loadEmbeddedTokenIssuer({ keyFile: path.join(other.path, 'key.json'), ttlSeconds: 3600 });
    await expect(elsewhere.verify(accessToken)).rejects.toMatchObject({
      kind: 'unauthenticated',
      reason: 'invalid_token',
    });
    await other.remove();
  });

  it('refuses a wrong password and an unknown address with the same answer', async () => {
    const app = appWith();
    const answers = await Promise.all(
      [
        { email: anne.email, password: 'wrong' },
        { email: 'stranger@firm.example', password: 'correct horse' },
        { email: 'nobody@firm.example', password: 'x' },
      ].map((credentials) => request(app).post('/v1/auth/login').send(credentials)),
    );
    for (const answer of answers) {
      expect(answer.status).toBe(401);
      expect({ ...answer.body, requestId: undefined }).toEqual({
        type: problemType('invalid-credentials'),
        title: 'Authentication is required',
        status: 401,
        detail: 'The e-mail address or password is not correct.',
      });
    }
  });

  it('limits login attempts per address', async () => {
    const app = appWith({ RATE_LIMIT_LOGIN_PER_IP: '3' });
    const statuses = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      statuses.push(
        (
          await request(app)
            .post('/v1/auth/login')
            .send({ email: anne.email, password: `guess-${attempt}` })
        ).status,
      );
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    const blocked = await request(app).post('/v1/auth/login').send({ email: anne.email, password: 'correct horse' });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('refuses expired, tampered, unsigned and foreign tokens with 401', async () => {
    const app = appWith();
    now = Date.now() - 2 * 3600 * 1000;
    const expired = (await issuer.issue(anne)).accessToken;
    now = Date.now();
    const good = (await issuer.issue(anne)).accessToken;
    const [header, payload, signature] = good.split('.');
    const promoted = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), role: 'admin' }),
    ).toString('base64url');
    const unsigned = new UnsecuredJWT({ sub: 'staff-anne', firm_id: 'firm-1', kind: 'staff', role: 'admin' })
      .setIssuer(EMBEDDED_ISSUER)
      .setAudience('kantoor')
      .setExpirationTime('1h')
      .encode();
    const sharedSecret = await new SignJWT({ firm_id: 'firm-1', kind: 'staff', role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('x')
      .setIssuer(EMBEDDED_ISSUER)
      .setAudience('kantoor')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('a guessed secret of at least 32 bytes!'));

    const refusals: Array<[string, string]> = [
      [expired, 'token-expired'],
      [`${header}.${promoted}.${signature}`, 'invalid-token'],
      [unsigned, 'invalid-token'],
      [sharedSecret, 'invalid-token'],
      ['not-a-jwt', 'invalid-token'],
    ];
    for (const [token, type] of refusals) {
      const response = await request(app).get('/v1/test/whoami').set('authorization', `Bearer ${token}`);
      expect({ token, status: response.status, type: response.body.type }).toEqual({
        token,
        status: 401,
        type: problemType(type),
      });
      expect(response.headers['www-authenticate']).toBe('Bearer realm="kantoor", error="invalid_token"');
    }
    const basic = await request(app).get('/v1/test/whoami').set('authorization', 'Basic YW5uZTpwdw==');
    expect(basic.body.type).toBe(problemType('unsupported-authorization'));
  });

  it('says password login is not available where the gateway issues no tokens', async () => {
    const { app } = testApp({ db: noDatabase }, routeTable);
    const response = await request(app).post('/v1/auth/login').send({ email: anne.email, password: 'correct horse' });
    expect(response.status).toBe(404);
    expect(response.body.type).toBe(problemType('login-not-available'));
    expect((await request(app).get('/.well-known/jwks.json')).body).toEqual({ keys: [] });
  });
});
