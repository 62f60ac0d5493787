import { logLevel } from 'kafkajs';
import { FakeKafka, FakeKafkaCluster } from '../test/fake-kafka';
import { eventTransportContract } from './contract';
import { KafkaTransport, kafkaClientConfig, type KafkaTransportOptions } from './kafka-transport';
import type { EventRecord, EventTransport } from './transport';

// each transport the contract opens is one process's, with a kafkajs client of its own, on one fake cluster
eventTransportContract(
  'KafkaTransport on a fake kafkajs cluster',
  {
    publishAwaitsHandling: false,
    keepsRecords: { newGroupStartsAt: 'earliest' },
    sharedGroups: true,
    orderAcrossTopics: false,
    crashedHandler: 'redelivered',
  },
  async ({ topics, redeliveryBackoff }) => {
    const cluster = new FakeKafkaCluster();
    const processes = new Map<EventTransport, FakeKafka>();
    const open = async () => {
      const kafka = cluster.client();
      const transport = transportOver(kafka, { redeliveryBackoff, partitionsConsumedConcurrently: 2 });
      processes.set(transport, kafka);
      return transport;
    };
    const deployment = await open(); // the job that creates the topics before the services start
    await deployment.ensureTopics(topics, { numPartitions: 3, replicationFactor: 1 });
    return {
      open,
      crash: async (transport) => processes.get(transport)!.crash(),
      dispose: async () => {
        for (const transport of processes.keys()) await transport.close();
      },
    };
  },
);

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

/** A cluster where the directory's and invoicing's topics exist, and one process's client on it. */
function fakeKafka(topics: Record<string, number> = { 'kantoor.directory.v1': 4, 'kantoor.invoicing.v1': 4 }) {
  return new FakeKafkaCluster(topics).client();
}

async function eventually(check: () => boolean, what: string) {
  for (const deadline = Date.now() + 5000; !check(); await new Promise((resolve) => setTimeout(resolve, 2))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

function transportOver(kafka: FakeKafka, options: Partial<KafkaTransportOptions> = {}) {
  return new KafkaTransport({
    brokers: ['kafka:9092'],
    clientId: 'kantoor-invoicing',
    logger: silent,
    kafka: kafka.kafka,
    redeliveryBackoff: { initialMs: 2, maxMs: 10 },
    ...options,
  });
}

describe('KafkaTransport publishing', () => {
  it('sends one batch, records grouped per topic with their key, headers and value, acknowledged by all replicas', async () => {
    const kafka = fakeKafka();
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
    const kafka = fakeKafka();
    const transport = transportOver(kafka);
    const publish = (value: string) => transport.publish([record('kantoor.directory.v1', 'dossier-1', value)]);
    await Promise.all([publish('a'), publish('b'), publish('c')]);
    await publish('d');
    expect(kafka.producers).toHaveLength(1);
    expect(kafka.producers[0].connects).toBe(1);
    expect(kafka.producers[0].batches).toHaveLength(4);
  });

  it('refuses a publish when Kafka cannot be reached, and connects again on the next one', async () => {
    const kafka = fakeKafka();
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
    const kafka = fakeKafka({ 'kantoor.directory.v1': 1 });
    await transportOver(kafka).ensureTopics(['kantoor.directory.v1', 'kantoor.invoicing.v1', 'kantoor.invoicing.v1'], {
      numPartitions: 12,
      replicationFactor: 3,
    });
    expect(kafka.admins[0].requested).toEqual([
      { topic: 'kantoor.invoicing.v1', numPartitions: 12, replicationFactor: 3 },
    ]);
    expect(kafka.cluster.partitionCount('kantoor.directory.v1')).toBe(1);
    expect(kafka.cluster.partitionCount('kantoor.invoicing.v1')).toBe(12);
    expect(kafka.admins[0].disconnected).toBe(true);
  });

  it('close() stops every subscription and the producer, and refuses later publishes', async () => {
    const kafka = fakeKafka();
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
    const kafka = fakeKafka();
    const transport = transportOver(kafka);
    const subscription = await transport.subscribe({ groupId: 'invoicing', topics: ['kantoor.directory.v1'], handler });
    return { transport, subscription, consumer: kafka.consumers[0], cluster: kafka.cluster };
  }

  it('joins its group without auto-commit, from the earliest record when the group has no offsets yet', async () => {
    const { consumer } = await subscribed(async () => {});
    expect(consumer.groupId).toBe('invoicing');
    expect(consumer.subscribed).toEqual({ topics: ['kantoor.directory.v1'], fromBeginning: true });
    expect(consumer.runConfig).toMatchObject({ autoCommit: false, partitionsConsumedConcurrently: 1 });
  });

  it('lets one subscription start a new group at the newest record (a cache that only forgets), counting from subscribe()', async () => {
    const kafka = fakeKafka();
    const transport = transportOver(kafka);
    await transport.publish([record('kantoor.directory.v1', 'dossier-1', 'before')]);
    const received: string[] = [];
    await transport.subscribe({
      groupId: 'gateway-pod-1',
      topics: ['kantoor.directory.v1'],
      newGroupStartsAt: 'latest',
      handler: async (got) => void received.push(text(got.value)),
    });
    // at once: kafkajs has not looked up where the new group starts before its first fetch
    await transport.publish([record('kantoor.directory.v1', 'dossier-1', 'after')]);
    await eventually(() => received.length > 0, 'the record published after subscribe()');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(received).toEqual(['after']);
    expect(kafka.consumers[0].subscribed).toEqual({ topics: ['kantoor.directory.v1'], fromBeginning: false });
  });

  it('commits the offset after a record only once its handler resolved', async () => {
    const release = deferred();
    const received: EventRecord[] = [];
    const { consumer, cluster } = await subscribed(async (record) => {
      received.push(record);
      await release.promise;
    });
    cluster.write('kantoor.directory.v1', 3, {
      key: 'dossier-1',
      value: 'client-created',
      headers: { 'event-id': 'e1' },
    });
    await eventually(() => received.length === 1, 'the delivery');
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(consumer.commits).toEqual([]);

    release.resolve();
    await eventually(() => consumer.commits.length === 1, 'the commit');
    expect(consumer.commits).toEqual([{ topic: 'kantoor.directory.v1', partition: 3, offset: '1' }]);
    expect(text(received[0].value)).toBe('client-created');
    expect(received[0].key).toBe('dossier-1');
  });

  it('hands headers over as strings, the last one of a repeated header winning', async () => {
    const received: EventRecord[] = [];
    const { cluster } = await subscribed(async (record) => void received.push(record));
    cluster.write('kantoor.directory.v1', 0, {
      key: 'dossier-1',
      value: 'client-created',
      headers: {
        traceparent: Buffer.from('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'),
        'event-type': 'kantoor.directory.v1.ClientCreated',
        'event-id': [Buffer.from('stale'), Buffer.from('e1')],
        absent: undefined,
      },
    });
    await eventually(() => received.length === 1, 'the delivery');
    expect(received[0].headers).toEqual({
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'event-type': 'kantoor.directory.v1.ClientCreated',
      'event-id': 'e1',
    });
  });

  it('does not commit a record whose handler failed, and hands the same record over again before the next one', async () => {
    let failuresLeft = 2;
    const attempts: string[] = [];
    const { consumer, cluster } = await subscribed(async (record) => {
      attempts.push(text(record.value));
      if (text(record.value) === 'first' && failuresLeft-- > 0) throw new Error('database unavailable');
    });
    cluster.write('kantoor.directory.v1', 0, { key: 'dossier-1', value: 'first' });
    cluster.write('kantoor.directory.v1', 0, { key: 'dossier-1', value: 'second' });
    await eventually(() => attempts.length === 1, 'the first attempt');
    expect(consumer.commits).toEqual([]);

    await eventually(() => consumer.commits.length === 2, 'both commits');
    expect(attempts).toEqual(['first', 'first', 'first', 'second']);
    expect(consumer.commits.map((c) => c.offset)).toEqual(['1', '2']);
  });

  it('stop() waits for the handler in flight, commits its record, then stops and disconnects the consumer', async () => {
    const release = deferred();
    const started = deferred();
    const { subscription, consumer, cluster } = await subscribed(async () => {
      started.resolve();
      await release.promise;
    });
    cluster.write('kantoor.directory.v1', 0, { key: 'dossier-1', value: 'first' });
    cluster.write('kantoor.directory.v1', 0, { key: 'dossier-1', value: 'second' });
    await started.promise;

    let stopped = false;
    const stopping = subscription.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(stopped).toBe(false);
    expect(consumer.calls).toEqual(['connect']);

    release.resolve();
    await stopping;
    expect(consumer.calls).toEqual(['connect', 'commit kantoor.directory.v1/0@1', 'stop', 'disconnect']);
  });

  it('refuses a subscription without topics', async () => {
    const transport = transportOver(fakeKafka());
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
