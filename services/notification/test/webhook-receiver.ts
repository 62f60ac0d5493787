/**
 * A partner application's webhook receiver on 127.0.0.1, and the signature check as the gateway's documentation
 * tells a partner to write it (Standard Webhooks), written here without the platform's code.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eventually } from '@kantoor/testing';

export interface ReceivedDelivery {
  /** the path it was POSTed to */
  path: string;
  headers: IncomingHttpHeaders;
  /** the body's bytes as received */
  raw: Buffer;
  body: { type?: string; [field: string]: unknown };
}

export interface WebhookReceiver {
  /** a URL of the receiver of its own, to subscribe one webhook */
  url(): string;
  /** waits until `count` deliveries arrived at `url` (or the time is up) and returns them in arrival order */
  deliveriesTo(url: string, count: number, timeoutMs?: number): Promise<ReceivedDelivery[]>;
  /** the status every delivery from now on is answered with (204 at first) */
  answerWith(status: number): void;
  stop(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedDelivery[] = [];
  let status = 204;
  let urls = 0;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks);
      let body: ReceivedDelivery['body'] = {};
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        // kept as received: the test sees an empty body
      }
      received.push({ path: request.url ?? '', headers: request.headers, raw, body });
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const to = (url: string) => received.filter((delivery) => `${origin}${delivery.path}` === url);
  return {
    url: () => `${origin}/hooks/${++urls}`,
    deliveriesTo: (url, count, timeoutMs = 10_000) =>
      eventually(
        async () => to(url),
        (found) => found.length >= count,
        timeoutMs,
      ),
    answerWith: (next) => void (status = next),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const FIVE_MINUTES_S = 5 * 60;

/**
 * Whether one of the delivery's `webhook-signature` signatures is the HMAC-SHA256, with the base64-decoded part
 * of `secret` after `whsec_`, of `<webhook-id>.<webhook-timestamp>.<body>`, and its timestamp is recent.
 */
export function signedWith(secret: string, delivery: ReceivedDelivery): boolean {
  const id = String(delivery.headers['webhook-id'] ?? '');
  const timestamp = String(delivery.headers['webhook-timestamp'] ?? '');
  if (!id || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > FIVE_MINUTES_S) return false;
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key)
    .update(Buffer.concat([Buffer.from(`${id}.${timestamp}.`), delivery.raw]))
    .digest();
  return String(delivery.headers['webhook-signature'] ?? '')
    .split(' ')
    .filter((signature) => signature.startsWith('v1,'))
    .map((signature) => Buffer.from(signature.slice(3), 'base64'))
    .some((signature) => signature.length === expected.length && timingSafeEqual(signature, expected));
}
