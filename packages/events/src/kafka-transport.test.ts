import type {
  ConsumerRunConfig,
  ConsumerSubscribeTopics,
  EachMessagePayload,
  IHeaders,
  ITopicConfig,
  Kafka,
  KafkaMessage,
  ProducerBatch,
  ProducerConfig,
  TopicPartitionOffsetAndMetadata,
} from 'kafkajs';
import { logLevel } from 'kafkajs';
import { KafkaTransport, kafkaClientConfig, type KafkaTransportOptions } from './kafka-transport';
import type { EventRecord } from './transport';

/**
 * Fakes of the kafkajs objects the transport uses. The consumer fake hands messages to `eachMessage` the way
 * kafkajs's fetch loop does: per partition in offset order, stopping at a pause, and starting again from a
 * sought offset once the partition is resumed.
 */
class FakeProducer {
  connects = 0;
  readonly batches: ProducerBatch[] = [];
  disconnected = false;
  constructor(
    readonly config: ProducerConfig | undefined,
    private readonly refuseConnection: boolean,
  ) {}
  async connect() {
    this.connects += 1;
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (this.refuseConnection) throw new Error('Connection error: connect ECONNREFUSED 10.0.0.7:9092');
  }
  async sendBatch(batch: ProducerBatch) {
    this.batches.push(batch);
    return [];
  }
  async disconnect() {
    this.disconnected = true;
  }
}

interface FakePartition {
  messages: KafkaMessage[];
  position: number;
  paused: boolean;
  seekTo: string | undefined;
}

class FakeConsumer {
  readonly events = { CRASH: 'consumer.crash' };
  readonly calls: string[] = [];
  readonly commits: TopicPartitionOffsetAndMetadata[] = [];
  subscribed: ConsumerSubscribeTopics | undefined;
  runConfig: ConsumerRunConfig | undefined;
  private readonly partitions = new Map<string, FakePartition>();
  private delivering = Promise.resolve();

  constructor(readonly groupId: string) {}
  on() {}
  async connect() {
    this.calls.push('connect');
  }
  async subscribe(subscription: ConsumerSubscribeTopics) {
    this.subscribed = subscription;
  }
  async run(config: ConsumerRunConfig) {
    this.runConfig = config;
  }
  async commitOffsets(offsets: TopicPartitionOffsetAndMetadata[]) {
    this.commits.push(...offsets);
    this.calls.push(...offsets.map(({ topic, partition, offset }) => `commit ${topic}/${partition}@${offset}`));
  }
  seek({ topic, partition, offset }: { topic: string; partition: number; offset: string }) {
    this.partition(topic, partition).seekTo = offset;
  }
  async stop() {
    this.calls.push('stop');
  }
  async disconnect() {
    this.calls.push('disconnect');
  }

  /** a message arriving on a partition, as the broker stores it */
  append(topic: string, partition: number, key: string, value: string, headers: IHeaders = {}) {
    const messages = this.partition(topic, partition).messages;
    const offset = String(41 + messages.length);
    messages.push({ key: Buffer.from(key), value: Buffer.from(value), headers, offset, timestamp: '0', attributes: 0 });
  }

  /** one round of kafkajs's fetch loop over every partition; rounds never overlap */
  deliver(): Promise<void> {
    this.delivering = this.delivering.then(() => this.deliverRound());
    return this.delivering;
  }

  private async deliverRound() {
    for (const [name, partition] of this.partitions) {
      const [topic, number] = name.split('/');
      if (partition.paused) continue;
      if (partition.seekTo !== undefined) {
        partition.position = partition.messages.findIndex((message) => message.offset === partition.seekTo);
        partition.seekTo = undefined;
      }
      while (partition.position < partition.messages.length) {
        const payload: EachMessagePayload = {
          topic,
          partition: Number(number),
          message: partition.messages[partition.position],
          heartbeat: async () => {},
          pause: () => {
            partition.paused = true;
            return () => {
              partition.paused = false;
              void this.deliver();
            };
          },
        };
        await this.runConfig!.eachMessage!(payload);
        // kafkajs resolves the offset of every message eachMessage returned from, failed or not
        partition.position += 1;
        if (partition.seekTo !== undefined || partition.paused) break;
      }
    }
  }

  private partition(topic: string, partition: number): FakePartition {
    const name = `${topic}/${partition}`;
    if (!this.partitions.has(name))
      this.partitions.set(name, { messages: [], position: 0, paused: false, seekTo: undefined });
    return this.partitions.get(name)!;
  }
}

class FakeKafka {
  readonly producers: FakeProducer[] = [];
  readonly consumers: FakeConsumer[] = [];
  readonly existingTopics = ['kantoor.directory.v1'];
  readonly createdTopics: ITopicConfig[] = [];
  adminDisconnected = false;
  refusedConnections = 0;

  producer(config?: ProducerConfig) {
    const producer = new FakeProducer(config, this.refusedConnections-- > 0);
    this.producers.push(producer);
    return producer;
  }
  consumer({ groupId }: { groupId: string }) {
    const consumer = new FakeConsumer(groupId);
    this.consumers.push(consumer);
    return consumer;
  }
  admin() {
    return {
      connect: async () => {},
      listTopics: async () => this.existingTopics,
      createTopics: async ({ topics }: { topics: ITopicConfig[] }) => {
        this.createdTopics.push(...topics);
        return true;
      },
      disconnect: async () => {
        this.adminDisconnected = true;
      },
    };
  }
}

const silent = { info: () => {}, warn: () => {}, error: () => {} };
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');
const record = (topic: string, key: string, value: string, headers: Record<string, string> = {}): EventRecord => ({
  topic,
  key,
  value: new TextEncoder().encode(value),
  headers,
});

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function transportOver(kafka: FakeKafka, options: Partial<KafkaTransportOptions> = {}) {
  return new KafkaTransport({
    brokers: ['kafka:9092'],
    clientId: 'kantoor-invoicing',
    logger: silent,
    kafka: kafka as unknown as Kafka,
    redeliveryBackoff: { initialMs: 2, maxMs: 10 },
    ...options,
  });
}

describe('KafkaTransport publishing', () => {
  it('sends one batch, records grouped per topic with their key, headers and value, acknowledged by all replicas', async () => {
    const kafka = new FakeKafka();
    const transport = transportOver(kafka);
    await transport.publish([
      record('kantoor.directory.v1', 'dossier-1', 'client-created', { traceparent: '00-ab-cd-01', 'event-id': 'e1' }),
      record('kantoor.invoicing.v1', 'dossier-1', 'invoice-issued', { 'event-id': 'e2' }),
      record('kantoor.directory.v1', 'dossier-2', 'client-renamed', { 'event-id': 'e3' }),
    ]);

    const [producer] = kafka.producers;
    expect(producer.config).toMatchObject({ idempotent: true, maxInFlightRequests: 1 });
    expect(producer.batches).toHaveLength(1);
    const [batch] = producer.batches;
    expect(batch.acks).toBe(-1);
    const sent = batch.topicMessages!.map(({ topic, messages }) => ({
      topic,
      messages: messages.map((m) => ({ key: m.key, value: (m.value as Buffer).toString('utf8'), headers: m.headers })),
    }));
    expect(sent).toEqual([
      {
        topic: 'kantoor.directory.v1',
        messages: [
          { key: 'dossier-1', value: 'client-created', headers: { traceparent: '00-ab-cd-01', 'event-id': 'e1' } },
          { key: 'dossier-2', value: 'client-renamed', headers: { 'event-id': 'e3' } },
        ],
      },
      {
        topic: 'kantoor.invoicing.v1',
        messages: [{ key: 'dossier-1', value: 'invoice-issued', headers: { 'event-id': 'e2' } }],
      },
    ]);
  });

  it('connects one producer once, however many publishes run at the same time', async () => {
    const kafka = new FakeKafka();
    const transport = transportOver(kafka);
    const publish = (value: string) => transport.publish([record('kantoor.directory.v1', 'dossier-1', value)]);
    await Promise.all([publish('a'), publish('b'), publish('c')]);
    await publish('d');
    expect(kafka.producers).toHaveLength(1);
    expect(kafka.producers[0].connects).toBe(1);
    expect(kafka.producers[0].batches).toHaveLength(4);
  });

  it('refuses a publish when Kafka cannot be reached, and connects again on the next one', async () => {
    const kafka = new FakeKafka();
    const transport = transportOver(kafka);
    kafka.refusedConnections = 1;

    await expect(transport.publish([record('kantoor.directory.v1', 'dossier-1', 'a')])).rejects.toMatchObject({
      kind: 'unavailable',
      reason: 'event_transport_unavailable',
    });
    await transport.publish([record('kantoor.directory.v1', 'dossier-1', 'b')]);
    expect(kafka.producers.map((p) => p.batches.length)).toEqual([0, 1]);
  });

  it('creates only the missing topics, with the partitions and replication asked for', async () => {
    const kafka = new FakeKafka();
    await transportOver(kafka).ensureTopics(['kantoor.directory.v1', 'kantoor.invoicing.v1', 'kantoor.invoicing.v1'], {
      numPartitions: 12,
      replicationFactor: 3,
    });
    expect(kafka.createdTopics).toEqual([{ topic: 'kantoor.invoicing.v1', numPartitions: 12, replicationFactor: 3 }]);
    expect(kafka.adminDisconnected).toBe(true);
  });

  it('close() stops every subscription and the producer, and refuses later publishes', async () => {
    const kafka = new FakeKafka();
    const transport = transportOver(kafka);
    await transport.publish([record('kantoor.directory.v1', 'dossier-1', 'a')]);
    await transport.subscribe({ groupId: 'invoicing', topics: ['kantoor.directory.v1'], handler: async () => {} });
    await transport.close();
    expect(kafka.producers[0].disconnected).toBe(true);
    expect(kafka.consumers[0].calls).toEqual(['connect', 'stop', 'disconnect']);
    await expect(transport.publish([record('kantoor.directory.v1', 'dossier-1', 'b')])).rejects.toMatchObject({
      kind: 'failed_precondition',
      reason: 'event_transport_closed',
    });
  });
});

describe('KafkaTransport consuming', () => {
  async function subscribed(handler: (record: EventRecord) => Promise<void>) {
    const kafka = new FakeKafka();
    const transport = transportOver(kafka);
    const subscription = await transport.subscribe({ groupId: 'invoicing', topics: ['kantoor.directory.v1'], handler });
    return { transport, subscription, consumer: kafka.consumers[0] };
  }

  it('joins its group without auto-commit, from the earliest record when the group has no offsets yet', async () => {
    const { consumer } = await subscribed(async () => {});
    expect(consumer.groupId).toBe('invoicing');
    expect(consumer.subscribed).toEqual({ topics: ['kantoor.directory.v1'], fromBeginning: true });
    expect(consumer.runConfig).toMatchObject({ autoCommit: false, partitionsConsumedConcurrently: 1 });
  });

  it('lets one subscription start a new group at the newest record (a cache that only forgets)', async () => {
    const kafka = new FakeKafka();
    const transport = transportOver(kafka);
    await transport.subscribe({
      groupId: 'gateway-pod-1',
      topics: ['kantoor.directory.v1'],
      newGroupStartsAt: 'latest',
      handler: async () => {},
    });
    expect(kafka.consumers[0].subscribed).toEqual({ topics: ['kantoor.directory.v1'], fromBeginning: false });
  });

  it('commits the offset after a record only once its handler resolved', async () => {
    const release = deferred();
    const received: EventRecord[] = [];
    const { consumer } = await subscribed(async (record) => {
      received.push(record);
      await release.promise;
    });
    consumer.append('kantoor.directory.v1', 3, 'dossier-1', 'client-created', { 'event-id': Buffer.from('e1') });
    const delivered = consumer.deliver();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(received).toHaveLength(1);
    expect(consumer.commits).toEqual([]);

    release.resolve();
    await delivered;
    expect(consumer.commits).toEqual([{ topic: 'kantoor.directory.v1', partition: 3, offset: '42' }]);
    expect(text(received[0].value)).toBe('client-created');
    expect(received[0].key).toBe('dossier-1');
  });

  it('hands headers over as strings, the last one of a repeated header winning', async () => {
    const received: EventRecord[] = [];
    const { consumer } = await subscribed(async (record) => void received.push(record));
    consumer.append('kantoor.directory.v1', 0, 'dossier-1', 'client-created', {
      traceparent: Buffer.from('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'),
      'event-type': 'kantoor.directory.v1.ClientCreated',
      'event-id': [Buffer.from('stale'), Buffer.from('e1')],
      absent: undefined,
    });
    await consumer.deliver();
    expect(received[0].headers).toEqual({
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'event-type': 'kantoor.directory.v1.ClientCreated',
      'event-id': 'e1',
    });
  });

  it('does not commit a record whose handler failed, and hands the same record over again before the next one', async () => {
    let failuresLeft = 2;
    const attempts: string[] = [];
    const handledTwo = deferred();
    const { consumer } = await subscribed(async (record) => {
      attempts.push(text(record.value));
      if (text(record.value) === 'first' && failuresLeft-- > 0) throw new Error('database unavailable');
      if (text(record.value) === 'second') handledTwo.resolve();
    });
    consumer.append('kantoor.directory.v1', 0, 'dossier-1', 'first');
    consumer.append('kantoor.directory.v1', 0, 'dossier-1', 'second');
    await consumer.deliver();
    expect(attempts).toEqual(['first']);
    expect(consumer.commits).toEqual([]);

    await handledTwo.promise;
    await consumer.deliver();
    expect(attempts).toEqual(['first', 'first', 'first', 'second']);
    expect(consumer.commits.map((c) => c.offset)).toEqual(['42', '43']);
  });

  it('stop() waits for the handler in flight, commits its record, then stops and disconnects the consumer', async () => {
    const release = deferred();
    const started = deferred();
    const { subscription, consumer } = await subscribed(async () => {
      started.resolve();
      await release.promise;
    });
    consumer.append('kantoor.directory.v1', 0, 'dossier-1', 'first');
    consumer.append('kantoor.directory.v1', 0, 'dossier-1', 'second');
    const delivered = consumer.deliver();
    await started.promise;

    let stopped = false;
    const stopping = subscription.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(stopped).toBe(false);
    expect(consumer.calls).toEqual(['connect']);

    release.resolve();
    await Promise.all([stopping, delivered]);
    expect(consumer.calls).toEqual(['connect', 'commit kantoor.directory.v1/0@42', 'stop', 'disconnect']);
  });

  it('refuses a subscription without topics', async () => {
    const transport = transportOver(new FakeKafka());
    await expect(
      transport.subscribe({ groupId: 'invoicing', topics: [], handler: async () => {} }),
    ).rejects.toMatchObject({
      kind: 'invalid_argument',
    });
  });
});

describe('kafkaClientConfig', () => {
  it('passes TLS and SASL settings to the kafkajs client', () => {
    const config = kafkaClientConfig({
      brokers: ['kafka-0:9093', 'kafka-1:9093'],
      clientId: 'kantoor-archive',
      ssl: true,
      sasl: { mechanism: 'scram-sha-512', username: 'archive', password: 's3cret' },
    });
    expect(config).toMatchObject({
      brokers: ['kafka-0:9093', 'kafka-1:9093'],
      clientId: 'kantoor-archive',
      ssl: true,
      sasl: { mechanism: 'scram-sha-512', username: 'archive', password: 's3cret' },
    });
    expect(kafkaClientConfig({ brokers: ['kafka:9092'], clientId: 'x' })).toMatchObject({
      ssl: false,
      sasl: undefined,
    });
  });

  it("writes kafkajs's log lines to the service logger at their level", () => {
    const lines: string[] = [];
    const logger = {
      info: (_: object, message: string) => lines.push(`info ${message}`),
      warn: (_: object, message: string) => lines.push(`warn ${message}`),
      error: (fields: object, message: string) => lines.push(`error ${message} ${JSON.stringify(fields)}`),
    };
    const log = kafkaClientConfig({ brokers: ['kafka:9092'], clientId: 'x', logger }).logCreator!(logLevel.INFO);
    const entry = (level: logLevel, message: string, extra: object = {}) =>
      log({ namespace: 'Consumer', level, label: '', log: { timestamp: 't', logger: 'kafkajs', message, ...extra } });
    entry(logLevel.ERROR, 'Crash', { groupId: 'invoicing' });
    entry(logLevel.WARN, 'Rebalancing');
    entry(logLevel.INFO, 'Joined');
    entry(logLevel.DEBUG, 'Fetched');
    expect(lines).toEqual([
      'error Crash {"component":"kafkajs.Consumer","groupId":"invoicing"}',
      'warn Rebalancing',
      'info Joined',
    ]);
  });
});
