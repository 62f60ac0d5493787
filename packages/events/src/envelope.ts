import { fromBinary, toBinary, type Message, type Registry } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { protoRegistry } from '@kantoor/proto';
import { EventEnvelopeSchema, type EventEnvelope } from '@kantoor/proto/kantoor/events/v1/envelope_pb';
import { invalidArgument } from '@kantoor/errors';

export type { EventEnvelope };

const SERVICE_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const EVENT_TYPE = /^kantoor\.([a-z][a-z0-9_]*)\.(v[0-9]+)\.[A-Za-z][A-Za-z0-9_]*$/;

/** The topic a service publishes on: `kantoor.<service>.v1`, the service name with dashes (`document-intake`). */
export function topicOf(source: string): string {
  if (!SERVICE_NAME.test(source)) throw invalidArgument(`"${source}" is not a service name (lowercase, dashes)`);
  return `kantoor.${source}.v1`;
}

/**
 * The topic that carries events of a payload type: events are defined in their publisher's proto package,
 * so `kantoor.document_intake.v1.DocumentReceived` travels on `kantoor.document-intake.v1`.
 */
export function topicOfEventType(typeName: string): string {
  const match = EVENT_TYPE.exec(typeName);
  if (!match) throw invalidArgument(`event type ${typeName} is not in a kantoor.<service>.v<N> package`);
  return `kantoor.${match[1].replace(/_/g, '-')}.${match[2]}`;
}

export function encodeEnvelope(envelope: EventEnvelope): Uint8Array {
  return toBinary(EventEnvelopeSchema, envelope);
}

export function decodeEnvelope(bytes: Uint8Array): EventEnvelope {
  return fromBinary(EventEnvelopeSchema, bytes);
}

/** The envelope's payload as its own message type, or undefined when the registry does not know the type. */
export function unpackPayload(envelope: EventEnvelope, registry: Registry = protoRegistry): Message | undefined {
  return envelope.payload ? anyUnpack(envelope.payload, registry) : undefined;
}

/** The envelope's trace context in header form, as `extractTraceContext` reads it. */
export function traceHeadersOf(envelope: EventEnvelope): Record<string, string> {
  const headers: Record<string, string> = {};
  if (envelope.traceContext?.traceparent) headers.traceparent = envelope.traceContext.traceparent;
  if (envelope.traceContext?.tracestate) headers.tracestate = envelope.traceContext.tracestate;
  return headers;
}
