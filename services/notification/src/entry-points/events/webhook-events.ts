/**
 * Events partners subscribe to with webhooks (domain/webhook-event.ts lists the types). Each handler queues a
 * delivery for every subscribed webhook of the event's firm, in the consumer's inbox transaction: a redelivered
 * event queues nothing twice. The webhook worker sends.
 */
import { timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import type { Queryable } from '@kantoor/database';
import { handlerFor, injectTraceHeaders, type EventEnvelope, type EventHandlers } from '@kantoor/events';
import { DocumentsSentSchema } from '@kantoor/proto/kantoor/document_intake/v1/events_pb';
import { queueWebhookEvent } from '../../data-access/webhook-delivery-repository';
import { webhookBody, type WebhookEvent, type WebhookEventType } from '../../domain/webhook-event';

const isoDate = (timestamp: Timestamp | undefined): string | undefined =>
  timestamp ? timestampDate(timestamp).toISOString() : undefined;

/** The envelope's id and time make the event's; `payload` its firm, dossier and data. */
async function queue(
  tx: Queryable,
  type: WebhookEventType,
  envelope: EventEnvelope,
  payload: Pick<WebhookEvent, 'firmId' | 'dossierId' | 'data'>,
): Promise<void> {
  const event: WebhookEvent = {
    id: envelope.id,
    type,
    occurredAt: envelope.occurredAt ? timestampDate(envelope.occurredAt) : new Date(),
    ...payload,
  };
  await queueWebhookEvent(tx, event, webhookBody(event), injectTraceHeaders().traceparent);
}

export function webhookEventHandlers(): EventHandlers {
  return handlerFor(DocumentsSentSchema, async ({ envelope, payload, tx }) => {
    await queue(tx, 'documents.sent', envelope, {
      firmId: payload.firmId,
      dossierId: payload.dossierId,
      data: {
        documentIds: payload.documentIds,
        sentBy: payload.actorId,
        automatic: payload.automatic,
        sentAt: isoDate(payload.sentAt),
      },
    });
  });
}
