import { randomBytes } from 'node:crypto';
import { generateKeyPair, SignJWT, UnsecuredJWT, type JWK, type JWTPayload, type KeyLike } from 'jose';
import { verifyBearerToken, type Caller, type TokenVerifier } from '../src';

/** What the contract needs of an adapter: the verifier, and its issuer's own signing key to make tokens with. */
export interface TokenVerifierSubject {
  verifier: TokenVerifier;
  /** the issuer's signing algorithm and key id, as its genuine tokens name them */
  alg: string;
  kid: string;
  /** the issuer's public key as published (JWKS), for the algorithm-confusion forgery */
  publicJwk: JWK;
  /** signs a payload with the issuer's genuine key and header */
  sign(payload: JWTPayload): Promise<string>;
  /** the claims of a genuine token for a person the platform knows (without iss, aud, iat, exp) */
  personClaims: JWTPayload;
  /** the caller those claims stand for */
  caller: Caller;
  audience: string;
}

const seconds = () => Math.floor(Date.now() / 1000);

/**
 * The behaviour every bearer-token verifier (the embedded issuer, OpenID Connect) must show: a genuine token is
 * its person; an expired, misaddressed, forged, altered or unsigned one is refused as unauthenticated, with
 * `token_expired` or `invalid_token`, so that the gateway answers 401 alike whichever issuer made it.
 */
export function tokenVerifierContract(name: string, makeSubject: () => Promise<TokenVerifierSubject>): void {
  describe(`token verifier contract: ${name}`, () => {
    let subject: TokenVerifierSubject;
    beforeAll(async () => {
      subject = await makeSubject();
    });

    /** a genuine token's claims, issued a minute ago for an hour, with `changes` applied (undefined removes) */
    const claims = (changes: JWTPayload = {}): JWTPayload => {
      const now = seconds();
      const all: JWTPayload = {
        ...subject.personClaims,
        iss: subject.verifier.issuer,
        aud: subject.audience,
        iat: now - 60,
        exp: now + 3600,
        jti: randomBytes(8).toString('base64url'),
        ...changes,
      };
      for (const [claim, value] of Object.entries(all)) if (value === undefined) delete all[claim];
      return all;
    };
    const refusal = (reason: string) => ({ kind: 'unauthenticated', reason });

    it('takes a genuine token for the person it names', async () => {
      await expect(subject.verifier.verify(await subject.sign(claims()))).resolves.toEqual(subject.caller);
      // and so does the gateway, which picks the verifier by the token's issuer
      await expect(verifyBearerToken([subject.verifier], await subject.sign(claims()))).resolves.toEqual(
        subject.caller,
      );
    });

    it('refuses an expired token as token_expired', async () => {
      const expired = await subject.sign(claims({ iat: seconds() - 7200, exp: seconds() - 3600 }));
      await expect(subject.verifier.verify(expired)).rejects.toMatchObject(refusal('token_expired'));
    });

    it.each([
      ['without an expiry', { exp: undefined }],
      ['without a subject', { sub: undefined }],
      ['for another audience', { aud: 'another-application' }],
      ['from another issuer', { iss: 'https://idp.elsewhere.example/' }],
      ['not valid before an hour from now', { nbf: seconds() + 3600 }],
    ] as Array<[string, JWTPayload]>)('refuses a token signed by the issuer %s', async (_why, changes) => {
      const token = await subject.sign(claims(changes));
      await expect(subject.verifier.verify(token)).rejects.toMatchObject(refusal('invalid_token'));
    });

    it('refuses a token signed by another key under the same key id', async () => {
      const { privateKey } = await generateKeyPair(subject.alg);
      const forged = await new SignJWT(claims())
        .setProtectedHeader({ alg: subject.alg, kid: subject.kid })
        .sign(privateKey as KeyLike);
      await expect(subject.verifier.verify(forged)).rejects.toMatchObject(refusal('invalid_token'));
    });

    it('refuses a genuine token whose claims were changed after signing', async () => {
      const [header, , signature] = (await subject.sign(claims())).split('.');
      const promoted = Buffer.from(JSON.stringify(claims({ role: 'admin', firm_id: 'another-firm' }))).toString(
        'base64url',
      );
      await expect(subject.verifier.verify(`${header}.${promoted}.${signature}`)).rejects.toMatchObject(
        refusal('invalid_token'),
      );
    });

    it('refuses an unsigned token and one signed with the public key as a shared secret', async () => {
      const unsigned = new UnsecuredJWT(claims()).encode();
      await expect(subject.verifier.verify(unsigned)).rejects.toMatchObject(refusal('invalid_token'));
      const confused = await new SignJWT(claims())
        .setProtectedHeader({ alg: 'HS256', kid: subject.kid })
        .sign(new TextEncoder().encode(JSON.stringify(subject.publicJwk)));
      await expect(subject.verifier.verify(confused)).rejects.toMatchObject(refusal('invalid_token'));
    });

    it('refuses what is not a token at all', async () => {
      for (const garbage of ['', 'not-a-jwt', 'a.b.c', `${Buffer.from('{}').toString('base64url')}..`])
        await expect(verifyBearerToken([subject.verifier], garbage)).rejects.toMatchObject(refusal('invalid_token'));
    });
  });
}
