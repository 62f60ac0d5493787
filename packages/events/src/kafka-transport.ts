/**
 * The event transport in cluster mode, over Kafka through kafkajs.
 *
 * Publishing uses one idempotent producer (acks from all in-sync replicas, one request in flight), so a
 * retried send neither duplicates nor reorders records of a partition. Consuming uses `eachMessage` with
 * auto-commit off: kafkajs hands one partition's messages over strictly one after the other, and the offset
 * after a message is committed only once its handler resolved. A failing handler is not skipped: its partition
 * is paused and sought back to the failed message, which kafkajs fetches again after the back-off. Throwing
 * from `eachMessage` instead would make kafkajs crash and restart the consumer (a rebalance for the whole
 * group) after its own retries; `eachBatch` would give nothing here that per-message commits do not.
 */
import type {
  Kafka,
  Admin,
  Consumer,
  IHeaders,
  KafkaConfig,
  KafkaMessage,
  LogEntry,
  Producer,
  SASLOptions,
} from 'kafkajs';
import { failedPrecondition, invalidArgument, unavailable } from '@kantoor/errors';
import type { EventRecord, EventTransport, SubscribeOptions, Subscription } from './transport';

/** kafkajs is loaded only when a Kafka transport is made: embedded processes never need it. */
const kafkajs = (): typeof import('kafkajs') => require('kafkajs');

/** The part of a pino logger the transport writes to. */
export interface KafkaTransportLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface KafkaTransportOptions {
  brokers: string[];
  clientId: string;
  ssl?: boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  logger?: KafkaTransportLogger;
  /** a ready client instead of one built from the settings above (tests) */
  kafka?: Kafka;
  /**
   * Where a consumer group without committed offsets starts. Default `earliest`: in a cluster the services
   * start in any order, so a relay may publish before a consuming service ever joined its group; the
   * consumer's inbox makes reading older records harmless, skipping them would not be.
   */
  newGroupStartsAt?: 'earliest' | 'latest';
  /** wait before a record whose handler failed is fetched again, doubling per failure up to `maxMs` */
  redeliveryBackoff?: { initialMs: number; maxMs: number };
  /** partitions of one subscription handled at the same time; each partition stays strictly in order */
  partitionsConsumedConcurrently?: number;
}

export interface TopicSettings {
  numPartitions: number;
  replicationFactor: number;
}

const consoleLogger: KafkaTransportLogger = {
  info: () => {},
  warn: (fields, message) => console.warn(message, fields),
  error: (fields, message) => console.error(message, fields),
};

/** The kafkajs client settings for these options; kafkajs's own log lines go to our logger. */
export function kafkaClientConfig(options: KafkaTransportOptions): KafkaConfig {
  const logger = options.logger ?? consoleLogger;
  return {
    clientId: options.clientId,
    brokers: options.brokers,
    ssl: options.ssl ?? false,
    sasl: options.sasl && ({ ...options.sasl } as SASLOptions),
    logLevel: kafkajs().logLevel.INFO,
    logCreator:
      () =>
      ({ namespace, level, log }: LogEntry) => {
        const { message, timestamp: _timestamp, logger: _logger, ...fields } = log;
        const entry = { component: `kafkajs.${namespace}`, ...fields };
        const { logLevel } = kafkajs();
        if (level <= logLevel.ERROR) logger.error(entry, message);
        else if (level === logLevel.WARN) logger.warn(entry, message);
        else if (level === logLevel.INFO) logger.info(entry, message);
      },
  };
}

export class KafkaTransport implements EventTransport {
  private readonly kafka: Kafka;
  private readonly logger: KafkaTransportLogger;
  private producerConnection: Promise<Producer> | undefined;
  private readonly subscriptions = new Set<KafkaSubscription>();
  private closed = false;

  constructor(private readonly options: KafkaTransportOptions) {
    this.logger = options.logger ?? consoleLogger;
    this.kafka = options.kafka ?? new (kafkajs().Kafka)(kafkaClientConfig(options));
  }

  async publish(records: EventRecord[]): Promise<void> {
    this.refuseWhenClosed();
    if (records.length === 0) return;
    const byTopic = new Map<string, EventRecord[]>();
    for (const record of records) {
      const topicRecords = byTopic.get(record.topic) ?? [];
      topicRecords.push(record);
      byTopic.set(record.topic, topicRecords);
    }
    const producer = await this.connectedProducer();
    try {
      await producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, topicRecords]) => ({
          topic,
          messages: topicRecords.map((record) => ({
            key: record.key,
            value: Buffer.from(record.value.buffer, record.value.byteOffset, record.value.byteLength),
            headers: { ...record.headers },
          })),
        })),
      });
    } catch (error) {
      throw unavailable(`publishing ${records.length} event(s) to Kafka failed: ${String(error)}`, {
        reason: 'event_transport_unavailable',
        cause: error,
      });
    }
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.refuseWhenClosed();
    if (!options.groupId) throw invalidArgument('a subscription needs a consumer group id');
    if (options.topics.length === 0) throw invalidArgument(`group ${options.groupId} subscribes to no topic`);
    const consumer = this.kafka.consumer({ groupId: options.groupId, allowAutoTopicCreation: false });
    const subscription = new KafkaSubscription(
      consumer,
      options,
      this.options,
      this.logger,
      (work) => this.withAdmin(work),
      () => this.subscriptions.delete(subscription),
    );
    try {
      await subscription.start();
    } catch (error) {
      await consumer.disconnect().catch(() => {});
      throw unavailable(`subscribing group ${options.groupId} to Kafka failed: ${String(error)}`, {
        reason: 'event_transport_unavailable',
        cause: error,
      });
    }
    this.subscriptions.add(subscription);
    return subscription;
  }

  /** Creates the topics that do not exist yet; existing topics are left as they are (run at startup). */
  async ensureTopics(topics: string[], settings: TopicSettings): Promise<void> {
    await this.withAdmin(async (admin) => {
      const existing = new Set(await admin.listTopics());
      const missing = [...new Set(topics)].filter((topic) => !existing.has(topic));
      if (missing.length === 0) return;
      await admin.createTopics({ waitForLeaders: true, topics: missing.map((topic) => ({ topic, ...settings })) });
      this.logger.info({ topics: missing, ...settings }, 'created Kafka topics');
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.subscriptions].map((subscription) => subscription.stop()));
    const producer = await this.producerConnection?.catch(() => undefined);
    this.producerConnection = undefined;
    await producer?.disconnect();
  }

  private async withAdmin<T>(work: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      return await work(admin);
    } finally {
      await admin.disconnect();
    }
  }

  private connectedProducer(): Promise<Producer> {
    this.producerConnection ??= (async () => {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        // the Java client's partitioner, so a dossier's records land on the same partition whichever client wrote them
        createPartitioner: kafkajs().Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      return producer;
    })().catch((error: unknown) => {
      this.producerConnection = undefined;
      throw unavailable(`connecting to Kafka failed: ${String(error)}`, {
        reason: 'event_transport_unavailable',
        cause: error,
      });
    });
    return this.producerConnection;
  }

  private refuseWhenClosed(): void {
    if (this.closed) throw failedPrecondition('the event transport is closed', { reason: 'event_transport_closed' });
  }
}

class KafkaSubscription implements Subscription {
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly redeliveryTimers = new Set<NodeJS.Timeout>();
  private readonly failuresByPartition = new Map<string, number>();

  constructor(
    private readonly consumer: Consumer,
    private readonly subscription: SubscribeOptions,
    private readonly options: KafkaTransportOptions,
    private readonly logger: KafkaTransportLogger,
    private readonly withAdmin: <T>(work: (admin: Admin) => Promise<T>) => Promise<T>,
    private readonly onStopped: () => void,
  ) {}

  async start(): Promise<void> {
    const { groupId, topics } = this.subscription;
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      const fields = { groupId, topics, err: payload.error, restart: payload.restart };
      if (payload.restart) this.logger.warn(fields, 'Kafka consumer crashed and restarts');
      else this.logger.error(fields, 'Kafka consumer crashed and stopped; its events are no longer handled');
    });
    const startsAtLatest =
      (this.subscription.newGroupStartsAt ?? this.options.newGroupStartsAt ?? 'earliest') === 'latest';
    const ends = startsAtLatest ? await this.endsOfUncommittedPartitions() : new Map<string, string>();
    let assignment: Record<string, number[]> = {};
    const stopListening = this.consumer.on(
      this.consumer.events.GROUP_JOIN,
      ({ payload }) => (assignment = payload.memberAssignment),
    );
    await this.consumer.connect();
    await this.consumer.subscribe({ topics, fromBeginning: !startsAtLatest });
    await this.consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
      eachMessage: async ({ topic, partition, message, pause }) => {
        // Once stopping, a message is left unhandled and uncommitted: the next member of the group gets it.
        if (this.stopping) return;
        const handled = this.handle(topic, partition, message, pause);
        this.inFlight.add(handled);
        try {
          await handled;
        } finally {
          this.inFlight.delete(handled);
        }
      },
    });
    stopListening();
    // kafkajs looks up where a partition without committed offset starts ("latest": its end) only in its first
    // fetch, after run() resolved: a record published in between would be skipped although subscribe() had
    // returned. A seek made now wins over that lookup, so such a partition starts at its end as it was before
    // the group was joined.
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) {
        const end = ends.get(`${topic}/${partition}`);
        if (end !== undefined) this.consumer.seek({ topic, partition, offset: end });
      }
    }
  }

  /** The end of every partition of the subscription's topics for which its group has no committed offset. */
  private endsOfUncommittedPartitions(): Promise<Map<string, string>> {
    const { groupId, topics } = this.subscription;
    return this.withAdmin(async (admin) => {
      const ends = new Map<string, string>();
      for (const { topic, partitions } of await admin.fetchOffsets({ groupId, topics })) {
        const uncommitted = partitions.filter(({ offset }) => Number(offset) < 0);
        if (uncommitted.length === 0) continue;
        const offsets = await admin.fetchTopicOffsets(topic);
        for (const { partition } of uncommitted) {
          const end = offsets.find((offset) => offset.partition === partition)?.high;
          if (end !== undefined) ends.set(`${topic}/${partition}`, end);
        }
      }
      return ends;
    });
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      for (const timer of this.redeliveryTimers) clearTimeout(timer);
      // Before consumer.stop(): kafkajs drops commits made after it, and a handled record should be acknowledged.
      await Promise.allSettled([...this.inFlight]);
      try {
        await this.consumer.stop();
      } finally {
        await this.consumer.disconnect();
        this.onStopped();
      }
    })();
    return this.stopped;
  }

  private async handle(topic: string, partition: number, message: KafkaMessage, pause: () => () => void) {
    const { groupId, handler } = this.subscription;
    const partitionKey = `${topic}/${partition}`;
    try {
      await handler(toEventRecord(topic, message));
    } catch (error) {
      const failures = (this.failuresByPartition.get(partitionKey) ?? 0) + 1;
      this.failuresByPartition.set(partitionKey, failures);
      const { initialMs, maxMs } = this.options.redeliveryBackoff ?? { initialMs: 1000, maxMs: 30_000 };
      const delayMs = Math.min(initialMs * 2 ** (failures - 1), maxMs);
      this.logger.warn(
        { err: error, groupId, topic, partition, offset: message.offset, failures, redeliveryInMs: delayMs },
        'event handler failed; the record is delivered again after a pause',
      );
      const resume = pause();
      this.consumer.seek({ topic, partition, offset: message.offset });
      const timer = setTimeout(() => {
        this.redeliveryTimers.delete(timer);
        if (!this.stopping) resume();
      }, delayMs);
      this.redeliveryTimers.add(timer);
      return;
    }
    this.failuresByPartition.delete(partitionKey);
    try {
      await this.consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
    } catch (error) {
      // The record was handled; a later commit on this partition supersedes this one, and if none comes the
      // record is delivered again, which the consumer's inbox makes harmless.
      this.logger.warn(
        { err: error, groupId, topic, partition, offset: message.offset },
        'committing an offset failed',
      );
    }
  }
}

function toEventRecord(topic: string, message: KafkaMessage): EventRecord {
  return {
    topic,
    key: message.key?.toString('utf8') ?? '',
    value: message.value
      ? new Uint8Array(message.value.buffer, message.value.byteOffset, message.value.byteLength)
      : new Uint8Array(),
    headers: decodeHeaders(message.headers),
  };
}

function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  const decoded: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    // kafkajs groups a repeated header into an array; the last one wins, as with Java's Headers.lastHeader
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) decoded[name] = last.toString();
  }
  return decoded;
}
