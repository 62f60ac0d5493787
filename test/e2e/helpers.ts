import { eventually } from '@kantoor/testing';

/** Talking to a running platform as a person would: through the gateway, with a token. */
export async function login(url: string, email: string, password: string): Promise<string> {
  const response = await fetch(`${url}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (response.status !== 200) throw new Error(`login answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { accessToken: string }).accessToken;
}

export async function call(
  url: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    body: text ? JSON.parse(text) : undefined,
  };
}

export async function mailsTo(
  url: string,
  token: string,
  address: string,
): Promise<Array<{ id: string; subject: string; messageId: string }>> {
  const mails: Array<{ id: string; to: string[]; subject: string; messageId: string }> = [];
  let cursor = '';
  do {
    const query = cursor ? `?pageSize=200&cursor=${encodeURIComponent(cursor)}` : '?pageSize=200';
    const { body } = await call(url, token, 'GET', `/v1/mailbox/messages${query}`);
    mails.push(...body.items);
    cursor = body.nextCursor;
  } while (cursor);
  return mails.filter((mail) => mail.to.includes(address));
}

/**
 * What a person invited by mail does: waits for the activation mail to `address` (read by the admin holding
 * `token`), follows its link's token to `activation` with a password of their own, and gives the answer's status.
 */
export async function activateFromMail(
  url: string,
  token: string,
  address: string,
  activation: '/v1/activations/staff' | '/v1/activations/portal-users',
  password: string,
): Promise<number> {
  const [mail] = await eventually(
    () => mailsTo(url, token, address),
    (found) => found.length > 0,
    10_000,
  );
  const { body: message } = await call(url, token, 'GET', `/v1/mailbox/messages/${mail.id}`);
  const activationToken = decodeURIComponent(/[?&]token=([^\s"&<>]+)/.exec(message.text as string)![1]);
  const activated = await fetch(`${url}${activation}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: activationToken, password }),
  });
  return activated.status;
}
