import { createHash } from 'node:crypto';

/**
 * The Message-ID of a mail, derived only from what caused it (the event, the kind, the recipient slot), so
 * that a mail sent again after a crash carries the same Message-ID and the receiving side can tell.
 */
export function messageIdFor(intent: { eventId: string; kind: string; slot: string }, domain: string): string {
  const digest = createHash('sha256').update(`${intent.eventId}\n${intent.kind}\n${intent.slot}`).digest('hex');
  return `<${digest.slice(0, 40)}@${domain}>`;
}
