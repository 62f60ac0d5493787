/**
 * Access tokens for IMAP with XOAUTH2, where a mailbox cannot be reached with a password:
 * - an OAuth 2.0 client credentials grant (RFC 6749, section 4.4), e.g. from Microsoft Entra ID for an Exchange
 *   Online mailbox; the client's id and secret go in the form body (client_secret_post);
 * - a JWT bearer grant (RFC 7523) of a Google Cloud service account with domain-wide delegation, for a Google
 *   Workspace mailbox: an assertion signed with the account's private key names the mailbox as its subject.
 * A token is kept until a minute before it expires, or until `forget()` (the mail server refused it).
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';

export interface ClientCredentials {
  /** the token endpoint, https (http only on this machine, for tests) */
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope: string;
}

export interface AccessTokens {
  get(): Promise<string>;
  forget(): void;
}

const TIMEOUT_MS = 30_000;
/** a token this close to its expiry is not used any more */
const MARGIN_MS = 60_000;

/** Whether `url` may carry a client secret: https, or http to this machine. */
export function isSafeTokenUrl(url: string): boolean {
  const parsed = new URL(url);
  return (
    parsed.protocol === 'https:' ||
    (parsed.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(parsed.hostname))
  );
}

export function clientCredentialsTokens(credentials: ClientCredentials, now: () => number = Date.now): AccessTokens {
  return grantTokens(
    credentials.tokenUrl,
    () =>
      new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: credentials.clientId,
        client_secret: credentials.clientSecret,
        scope: credentials.scope,
      }),
    now,
  );
}

/** What Kantoor uses of a Google Cloud service account's JSON key file. */
export interface ServiceAccountKey {
  clientEmail: string;
  privateKey: KeyObject;
  privateKeyId?: string;
  tokenUri: string;
}

/** The scope that lets a token log in to Gmail's IMAP server. */
export const GMAIL_IMAP_SCOPE = 'https://mail.google.com/';
const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';
/** Google accepts assertions valid for at most an hour */
const ASSERTION_SECONDS = 3600;

/**
 * Reads a service account's JSON key file (as Google Cloud's console downloads it). What is wrong is named
 * without quoting the key.
 */
export function parseServiceAccountKey(json: string): ServiceAccountKey {
  let key: Record<string, unknown>;
  try {
    key = JSON.parse(json) as Record<string, unknown>;
  } catch {
    throw new Error('is not a JSON key file of a service account (it is not JSON)');
  }
  if (!key || typeof key !== 'object' || key.type !== 'service_account')
    throw new Error('is not a JSON key file of a service account ("type" is not "service_account")');
  if (typeof key.client_email !== 'string' || !key.client_email.includes('@')) throw new Error('has no "client_email"');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(String(key.private_key));
  } catch {
    throw new Error('has no readable "private_key" (PEM)');
  }
  if (privateKey.asymmetricKeyType !== 'rsa') throw new Error('has a "private_key" that is not an RSA key');
  const tokenUri = typeof key.token_uri === 'string' && key.token_uri ? key.token_uri : GOOGLE_TOKEN_URI;
  if (!URL.canParse(tokenUri) || !isSafeTokenUrl(tokenUri)) throw new Error('has a "token_uri" that is not https');
  return {
    clientEmail: key.client_email,
    privateKey,
    privateKeyId: typeof key.private_key_id === 'string' ? key.private_key_id : undefined,
    tokenUri,
  };
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Access tokens of a JWT bearer grant: the service account acts as `subject`, the mailbox's user. */
export function serviceAccountTokens(
  key: ServiceAccountKey,
  subject: string,
  scope: string = GMAIL_IMAP_SCOPE,
  now: () => number = Date.now,
): AccessTokens {
  return grantTokens(
    key.tokenUri,
    () => {
      const issuedAt = Math.floor(now() / 1000);
      const header = base64url({ alg: 'RS256', typ: 'JWT', ...(key.privateKeyId ? { kid: key.privateKeyId } : {}) });
      const claims = base64url({
        iss: key.clientEmail,
        sub: subject,
        scope,
        aud: key.tokenUri,
        iat: issuedAt,
        exp: issuedAt + ASSERTION_SECONDS,
      });
      const signature = sign('sha256', Buffer.from(`${header}.${claims}`), key.privateKey).toString('base64url');
      return new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion: `${header}.${claims}.${signature}`,
      });
    },
    now,
  );
}

/** Tokens from `tokenUrl`, asked for with the form `form()` makes: kept, shared by callers at the same moment. */
function grantTokens(tokenUrl: string, form: () => URLSearchParams, now: () => number): AccessTokens {
  let kept: { token: string; until: number } | undefined;
  let asking: Promise<string> | undefined;

  const ask = async (): Promise<string> => {
    const response = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form(),
      redirect: 'error',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const answer = (await response.json().catch(() => ({}))) as {
      access_token?: unknown;
      expires_in?: unknown;
      error?: unknown;
      error_description?: unknown;
    };
    if (!response.ok || typeof answer.access_token !== 'string' || !answer.access_token) {
      // the endpoint's error code and description name the problem (invalid_client, ...); never the secret
      const why = [answer.error, answer.error_description].filter((part) => typeof part === 'string').join(': ');
      throw new Error(
        `The token endpoint ${new URL(tokenUrl).host} answered ${response.status}` +
          (why ? ` (${why.slice(0, 300)})` : '') +
          (response.ok ? ' without an access token' : ''),
      );
    }
    const seconds = Number(answer.expires_in);
    kept = { token: answer.access_token, until: now() + (Number.isFinite(seconds) ? seconds * 1000 : 0) - MARGIN_MS };
    return answer.access_token;
  };

  return {
    async get() {
      if (kept && kept.until > now()) return kept.token;
      // callers at the same moment share one request
      asking ??= ask().finally(() => (asking = undefined));
      return asking;
    },
    forget() {
      kept = undefined;
    },
  };
}
