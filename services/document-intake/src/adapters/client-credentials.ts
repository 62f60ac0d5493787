/**
 * Access tokens of an OAuth 2.0 client credentials grant (RFC 6749, section 4.4), e.g. from Microsoft Entra ID for
 * an Exchange Online mailbox, where IMAP with a password is switched off. The client's id and secret go in the form
 * body (client_secret_post). A token is kept until a minute before it expires, or until `forget()` (the mail server
 * refused it).
 */

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
  let kept: { token: string; until: number } | undefined;
  let asking: Promise<string> | undefined;

  const ask = async (): Promise<string> => {
    const response = await fetch(credentials.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: credentials.clientId,
        client_secret: credentials.clientSecret,
        scope: credentials.scope,
      }),
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
        `The token endpoint ${new URL(credentials.tokenUrl).host} answered ${response.status}` +
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
