import { invalidArgument } from '@kantoor/errors';

/**
 * The event types a partner may subscribe a webhook to, with what each tells. Another type is one line here and a
 * consumer in entry-points/events/webhook-events.ts.
 */
export const WEBHOOK_EVENT_TYPES = {
  'documents.sent': 'documents were sent to the firm (by a client, or automatically for a whitelisted sender)',
} as const satisfies Record<string, string>;

export type WebhookEventType = keyof typeof WEBHOOK_EVENT_TYPES;

/** Sent only by PingWebhook, to whatever the webhook subscribes to; nobody subscribes to it. */
export const PING_EVENT_TYPE = 'webhook.ping';

export const isWebhookEventType = (type: string): type is WebhookEventType =>
  Object.prototype.hasOwnProperty.call(WEBHOOK_EVENT_TYPES, type);

export const MAX_EVENT_TYPES = 20;

/** A subscription's event types: 1–20 known types, each once. */
export function checkEventTypes(types: readonly string[], field = 'eventTypes'): WebhookEventType[] {
  const unknown = types.filter((type) => !isWebhookEventType(type));
  if (unknown.length > 0) {
    throw invalidArgument(
      `Unknown event type ${unknown.map((type) => JSON.stringify(type)).join(', ')}; the known types are ${Object.keys(
        WEBHOOK_EVENT_TYPES,
      ).join(', ')}.`,
      { reason: 'unknown_event_type', violations: [{ field, message: `holds unknown types: ${unknown.join(', ')}` }] },
    );
  }
  const problem =
    types.length === 0 || types.length > MAX_EVENT_TYPES
      ? `must hold 1 to ${MAX_EVENT_TYPES} event types`
      : new Set(types).size !== types.length
        ? 'must name each event type once'
        : undefined;
  if (problem)
    throw invalidArgument(`${field} ${problem}.`, {
      reason: 'invalid_event_types',
      violations: [{ field, message: problem }],
    });
  return types as WebhookEventType[];
}

/** An event as a webhook receives it. */
export interface WebhookEvent {
  /** the event's id (the envelope's; a ping's own): the same for every webhook it goes to */
  id: string;
  type: WebhookEventType | typeof PING_EVENT_TYPE;
  occurredAt: Date;
  firmId: string;
  dossierId?: string;
  data: Record<string, unknown>;
}

/** The JSON body, written once when the event is queued: every attempt sends (and signs) the same bytes. */
export const webhookBody = (event: WebhookEvent): string =>
  JSON.stringify({
    id: event.id,
    type: event.type,
    timestamp: event.occurredAt.toISOString(),
    firmId: event.firmId,
    dossierId: event.dossierId || null,
    data: event.data,
  });
