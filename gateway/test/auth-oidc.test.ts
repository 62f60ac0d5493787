import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type JWK, type KeyLike } from 'jose';
import request from 'supertest';
import { createOidcVerifier, type Caller, type ResolveCaller } from '../src';
import { noDatabase, problemType, testApp } from './helpers';
import { tokenVerifierContract } from './token-verifier-contract';

/** A stand-in identity provider on loopback: discovery document and JWKS, counting what is fetched. */
let server: Server;
let issuer: string;
let signingKey: KeyLike;
let publishedKey: JWK;
const fetched: string[] = [];
let discoveryIssuer: (issuer: string) => string = (own) => own;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  signingKey = pair.privateKey;
  publishedKey = { ...(await exportJWK(pair.publicKey)), kid: 'idp-key-1', alg: 'RS256', use: 'sig' };
  server = createServer((incoming, outgoing) => {
    fetched.push(incoming.url ?? '');
    outgoing.setHeader('content-type', 'application/json');
    if (incoming.url === '/realms/firm/.well-known/openid-configuration') {
      outgoing.end(
        JSON.stringify({ issuer: discoveryIssuer(issuer), jwks_uri: `${issuer}/protocol/openid-connect/certs` }),
      );
    } else if (incoming.url === '/realms/firm/protocol/openid-connect/certs') {
      outgoing.end(JSON.stringify({ keys: [publishedKey] }));
    } else {
      outgoing.statusCode = 404;
      outgoing.end('{}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/realms/firm`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));
beforeEach(() => {
  fetched.length = 0;
  discoveryIssuer = (own) => own;
});

/** The directory would look the person up by e-mail address; here one staff member is known. */
const pieter: Caller = {
  kind: 'staff',
  subjectId: 'staff-pieter',
  firmId: 'firm-1',
  role: 'admin',
  email: 'pieter@firm.example',
  scopes: [],
};
const resolveCaller: ResolveCaller = (claims) => (claims.email === pieter.email ? { ...pieter, scopes: [] } : null);

const token = (
  overrides: {
    issuer?: string;
    audience?: string;
    expires?: string | number;
    email?: string;
    key?: KeyLike;
    kid?: string;
  } = {},
) =>
  new SignJWT({ email: overrides.email ?? 'pieter@firm.example' })
    .setProtectedHeader({ alg: 'RS256', kid: overrides.kid ?? 'idp-key-1' })
    .setSubject('idp-subject-123')
    .setIssuer(overrides.issuer ?? issuer)
    .setAudience(overrides.audience ?? 'kantoor')
    .setIssuedAt()
    .setExpirationTime(overrides.expires ?? '5m')
    .sign(overrides.key ?? signingKey);

const appFor = (options: { jwksUri?: string; issuer?: string } = {}) => {
  const verifier = createOidcVerifier({
    issuer: options.issuer ?? issuer,
    audience: 'kantoor',
    jwksUri: options.jwksUri,
    resolveCaller,
    timeoutMs: 1000,
  });
  return testApp({ db: noDatabase, tokenVerifiers: [verifier] }).app;
};

tokenVerifierContract('OpenID Connect', async () => ({
  verifier: createOidcVerifier({ issuer, audience: 'kantoor', resolveCaller, timeoutMs: 1000 }),
  alg: 'RS256',
  kid: 'idp-key-1',
  publicJwk: publishedKey,
  audience: 'kantoor',
  sign: (payload) => new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'idp-key-1' }).sign(signingKey),
  personClaims: { sub: 'idp-subject-123', email: pieter.email },
  caller: pieter,
}));

describe('OpenID Connect bearer tokens', () => {
  it("accepts a token of the firm's provider and maps it to a caller, finding the keys through discovery once", async () => {
    const app = appFor();
    const first = await request(app)
      .get('/v1/test/whoami')
      .set('authorization', `Bearer ${await token()}`);
    expect(first.status).toBe(200);
    expect(first.body).toEqual<Caller>(pieter);
    await request(app)
      .get('/v1/test/whoami')
      .set('authorization', `Bearer ${await token()}`)
      .expect(200);
    expect(fetched).toEqual([
      '/realms/firm/.well-known/openid-configuration',
      '/realms/firm/protocol/openid-connect/certs',
    ]);
  });

  it('uses OIDC_JWKS_URI without discovery when it is set', async () => {
    const app = appFor({ jwksUri: `${issuer}/protocol/openid-connect/certs` });
    await request(app)
      .get('/v1/test/whoami')
      .set('authorization', `Bearer ${await token()}`)
      .expect(200);
    expect(fetched).toEqual(['/realms/firm/protocol/openid-connect/certs']);
  });

  it('refuses expired, foreign, misaddressed, forged and unsigned tokens with 401', async () => {
    const app = appFor();
    const { privateKey: otherKey } = await generateKeyPair('RS256');
    const refusals: Array<[string, string, string]> = [
      ['expired', await token({ expires: Math.floor(Date.now() / 1000) - 120 }), 'token-expired'],
      ['wrong issuer', await token({ issuer: 'https://evil.example/realms/firm' }), 'invalid-token'],
      ['wrong audience', await token({ audience: 'another-app' }), 'invalid-token'],
      ['bad signature', await token({ key: otherKey }), 'invalid-token'],
      ['unknown key', await token({ key: otherKey, kid: 'idp-key-2' }), 'invalid-token'],
      [
        'alg none',
        new UnsecuredJWT({ email: 'pieter@firm.example' })
          .setSubject('x')
          .setIssuer(issuer)
          .setAudience('kantoor')
          .setExpirationTime('5m')
          .encode(),
        'invalid-token',
      ],
    ];
    for (const [why, jwt, type] of refusals) {
      const response = await request(app).get('/v1/test/whoami').set('authorization', `Bearer ${jwt}`);
      expect({ why, status: response.status, type: response.body.type }).toEqual({
        why,
        status: 401,
        type: problemType(type),
      });
    }
  });

  it('refuses a genuine token of someone the platform does not know with 403', async () => {
    const response = await request(appFor())
      .get('/v1/test/whoami')
      .set('authorization', `Bearer ${await token({ email: 'stranger@firm.example' })}`);
    expect(response.status).toBe(403);
    expect(response.body.type).toBe(problemType('unknown-account'));
  });

  it('answers 503, not 401, when the provider cannot be reached or its discovery names another issuer', async () => {
    const unreachable = 'http://127.0.0.1:9/realms/firm';
    const down = await request(appFor({ issuer: unreachable }))
      .get('/v1/test/whoami')
      .set('authorization', `Bearer ${await token({ issuer: unreachable })}`);
    expect(down.status).toBe(503);
    expect(down.body.type).toBe(problemType('identity-provider-unavailable'));

    discoveryIssuer = () => 'https://impostor.example';
    const app = appFor();
    const mismatch = await request(app)
      .get('/v1/test/whoami')
      .set('authorization', `Bearer ${await token()}`);
    expect(mismatch.status).toBe(503);
    discoveryIssuer = (own) => own;
    // a failed discovery is not remembered: the next request tries again and succeeds
    await request(app)
      .get('/v1/test/whoami')
      .set('authorization', `Bearer ${await token()}`)
      .expect(200);
  });
});
