export type { EventRecord, EventTransport, RecordHandler, SubscribeOptions, Subscription } from './transport';
export {
  eventTransportContract,
  type EventTransportAdapter,
  type EventTransportCapabilities,
  type EventTransportSetup,
} from './contract';
export {
  KafkaTransport,
  kafkaClientConfig,
  type KafkaTransportLogger,
  type KafkaTransportOptions,
  type TopicSettings,
} from './kafka-transport';
export { InProcessTransport, type InProcessTransportOptions } from './in-process-transport';
export { extractTraceContext, injectTraceHeaders } from './trace-headers';
export { eventsSchemaSql, migrations } from './schema';
export {
  decodeEnvelope,
  encodeEnvelope,
  topicOf,
  topicOfEventType,
  traceHeadersOf,
  unpackPayload,
  type EventEnvelope,
} from './envelope';
export { appendEvent, type NewEvent } from './append-event';
export { OutboxRelay, type BatchOutcome, type OutboxRelayOptions } from './outbox-relay';
export {
  EventConsumer,
  handlerFor,
  listDeadLetters,
  retryDelaysMs,
  subscribeHandlers,
  type DeadLetter,
  type EventConsumerOptions,
  type EventHandler,
  type EventHandlers,
  type HandledEvent,
  type HandlingOutcome,
  type RetryPolicy,
} from './event-consumer';
export type { EventLogger } from './event-logger';
export { ThreadTransport, serveThreadTransport } from './thread-transport';
