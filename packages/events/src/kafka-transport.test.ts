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
    // the job that creates the topics before the services start; with one partition a failing record would hold
    // back every key and a second member of a group would get nothing, as in Kafka
    const deployment = await open();
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
const record = (topic: string, key: string, value: string, headers: Record<string, string> = {}): EventRecord => ({
  topic,
  key,
  value: new TextEncoder().encode(value),
  headers,
});

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

/** What only the Kafka transport does: what it asks of kafkajs, and what kafkajs hands it from other clients. */
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

  it('close() stops and disconnects every consumer, then disconnects the producer', async () => {
    const kafka = fakeKafka();
    const transport = transportOver(kafka);
    await transport.publish([record('kantoor.directory.v1', 'dossier-1', 'a')]);
    await transport.subscribe({ groupId: 'invoicing', topics: ['kantoor.directory.v1'], handler: async () => {} });
    await transport.close();
    expect(kafka.producers[0].disconnected).toBe(true);
    expect(kafka.consumers[0].calls).toEqual(['connect', 'stop', 'disconnect']);
  });
});

describe('KafkaTransport consuming', () => {
  async function subscribed(handler: (record: EventRecord) => Promise<void>) {
    const kafka = fakeKafka();
    const transport = transportOver(kafka);
    await transport.subscribe({ groupId: 'invoicing', topics: ['kantoor.directory.v1'], handler });
    return { consumer: kafka.consumers[0], cluster: kafka.cluster };
  }

  it('joins its group with auto-commit off, one partition at a time unless told otherwise', async () => {
    const { consumer } = await subscribed(async () => {});
    expect(consumer.groupId).toBe('invoicing');
    expect(consumer.runConfig).toMatchObject({ autoCommit: false, partitionsConsumedConcurrently: 1 });
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
