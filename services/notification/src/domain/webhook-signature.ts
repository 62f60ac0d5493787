/**
 * Standard Webhooks (https://www.standardwebhooks.com): the secret's format and the signature of each attempt, so
 * that receivers can check with any of the standard's libraries.
 */
import { createHmac, randomBytes } from 'node:crypto';

const PREFIX = 'whsec_';

/** `whsec_` and the base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return PREFIX + randomBytes(32).toString('base64');
}

/** What lists show of a secret: enough to tell two apart, far too little to sign with. */
export const secretHint = (secret: string): string => PREFIX + secret.slice(PREFIX.length, PREFIX.length + 4);

/** The headers that sign one attempt: `webhook-signature` holds one `v1,<signature>` per secret, current first. */
export function signatureHeaders(
  attempt: { deliveryId: string; timestamp: Date; body: string },
  secrets: readonly string[],
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  const seconds = String(Math.floor(attempt.timestamp.getTime() / 1000));
  const signed = `${attempt.deliveryId}.${seconds}.${attempt.body}`;
  const signatures = secrets.map(
    (secret) =>
      `v1,${createHmac('sha256', Buffer.from(secret.slice(PREFIX.length), 'base64'))
        .update(signed)
        .digest('base64')}`,
  );
  return { 'webhook-id': attempt.deliveryId, 'webhook-timestamp': seconds, 'webhook-signature': signatures.join(' ') };
}
