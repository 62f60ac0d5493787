/** A delivery checked as a partner's receiver checks it: with the Standard Webhooks library, not the service's code. */
import { Webhook } from 'standardwebhooks';
import type { ReceivedRequest } from './webhook-receiver';

/**
 * Whether `secret` signed the request: one `v1,` signature of `webhook-signature` is the HMAC-SHA256 of
 * `<webhook-id>.<webhook-timestamp>.<body>` keyed with the secret after `whsec_`, and the timestamp is within 5 minutes.
 */
export function verifiedWith(secret: string, request: ReceivedRequest): boolean {
  const headers = Object.fromEntries(
    ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((name) => [name, String(request.headers[name])]),
  );
  try {
    new Webhook(secret).verify(request.body, headers);
    return true;
  } catch {
    return false;
  }
}
