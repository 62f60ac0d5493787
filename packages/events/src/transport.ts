/**
 * The event transport port. The outbox relay publishes records; consumers subscribe with a group id.
 * Adapters: in-process (embedded) and Kafka through kafkajs (cluster). Delivery is at least once: a record
 * is acknowledged (Kafka: offset committed) only after its handler resolved, so a crash between handling and
 * acknowledging redelivers it; consumers make that harmless with their inbox of handled event ids.
 * Every adapter is held to the same promises by one contract suite (`eventTransportContract`), which also
 * names where adapters legitimately differ (see `EventTransportCapabilities`).
 */
export interface EventRecord {
  /** one topic per source service, e.g. `kantoor.directory.v1` */
  topic: string;
  /** partition key: the dossier id (or the firm id for firm-wide events), keeps one dossier's events in order */
  key: string;
  /** the serialized `kantoor.events.v1.EventEnvelope` */
  value: Uint8Array;
  /** W3C trace context (`traceparent`, `tracestate`) and the event id/type for routing without decoding */
  headers: Record<string, string>;
}

export type RecordHandler = (record: EventRecord) => Promise<void>;

export interface SubscribeOptions {
  /** consumer group: every group receives every record once; within a group records are shared out */
  groupId: string;
  topics: string[];
  handler: RecordHandler;
  /**
   * where a group without committed offsets begins, where the transport keeps offsets (Kafka); the transport's
   * own setting when left out
   */
  newGroupStartsAt?: 'earliest' | 'latest';
}

export interface Subscription {
  /** stops fetching, waits for the handler in flight, and acknowledges what was handled */
  stop(): Promise<void>;
}

export interface EventTransport {
  publish(records: EventRecord[]): Promise<void>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** closes producers and every subscription */
  close(): Promise<void>;
}
