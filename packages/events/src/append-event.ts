import { randomUUID } from 'node:crypto';
import { create, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { anyPack, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { EventEnvelopeSchema } from '@kantoor/proto/kantoor/events/v1/envelope_pb';
import type { Queryable } from '@kantoor/database';
import { invalidArgument } from '@kantoor/errors';
import { activeRequestId } from '@kantoor/logging';
import { encodeEnvelope, topicOf } from './envelope';
import { injectTraceHeaders } from './trace-headers';

export interface NewEvent<Desc extends DescMessage = DescMessage> {
  /** the publishing service, e.g. `directory`; it names the topic */
  source: string;
  firmId: string;
  /** absent for firm-wide events; then the firm id is the partition key */
  dossierId?: string;
  payload: { schema: Desc; value: MessageInitShape<Desc> };
}

/**
 * Writes an event into the outbox within the caller's transaction, so it is published if and only if the
 * change it describes commits. The envelope carries the active trace context, so consumers continue the
 * trace of the request that made the change, and its request id (contextWithRequestId in @kantoor/logging).
 * Returns the event id. Call the relay's `wake()` after the transaction committed for delivery without waiting
 * for its next poll.
 */
export async function appendEvent<Desc extends DescMessage>(tx: Queryable, event: NewEvent<Desc>): Promise<string> {
  const topic = topicOf(event.source);
  if (!event.firmId) throw invalidArgument(`an event of ${event.source} names no firm`);
  const id = randomUUID();
  const type = event.payload.schema.typeName;
  const traceHeaders = injectTraceHeaders();
  const requestId = activeRequestId() ?? '';
  const envelope = create(EventEnvelopeSchema, {
    id,
    type,
    source: event.source,
    occurredAt: timestampFromDate(new Date()),
    firmId: event.firmId,
    dossierId: event.dossierId ?? '',
    traceContext: { traceparent: traceHeaders.traceparent ?? '', tracestate: traceHeaders.tracestate ?? '' },
    payload: anyPack(event.payload.schema, create(event.payload.schema, event.payload.value)),
    requestId,
  });
  await tx.query('INSERT INTO outbox (id, topic, key, type, payload, headers) VALUES ($1, $2, $3, $4, $5, $6)', [
    id,
    topic,
    event.dossierId || event.firmId,
    type,
    Buffer.from(encodeEnvelope(envelope)),
    JSON.stringify({
      ...traceHeaders,
      'event-id': id,
      'event-type': type,
      ...(requestId && { 'request-id': requestId }),
    }),
  ]);
  return id;
}
