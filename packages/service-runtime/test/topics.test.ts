import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { commonSettings, readConfig } from '@kantoor/config';
import {
  clusterPlatform,
  defineService,
  embeddedPlatform,
  startService,
  type Platform,
} from '@kantoor/service-runtime';

/** The part of a kafkajs admin client that creating topics uses, recording what it was asked. */
function fakeKafka(existing: string[]) {
  const created: Array<{ topic: string; numPartitions: number; replicationFactor: number }> = [];
  const admin = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    listTopics: async () => [...existing],
    createTopics: async ({ topics }: { topics: typeof created }) => {
      created.push(...topics);
      existing.push(...topics.map(({ topic }) => topic));
      return true;
    },
  };
  return { kafka: { admin: () => admin }, created };
}

const cluster = (env: Record<string, string> = {}) =>
  clusterPlatform(
    readConfig(commonSettings, {
      KANTOOR_MODE: 'cluster',
      DATABASE_URL: 'postgres://kantoor@db.example:5432/archive',
      CALLER_SIGNING_KEY: 'a-caller-signing-key-of-32-bytes+',
      KAFKA_BROKERS: 'kafka-0.example:9092',
      ...env,
    }),
  );

describe('Kafka topics in the cluster', () => {
  it('creates the topics that are missing with the configured partitions and replication, and only those', async () => {
    const platform = cluster({ KAFKA_TOPIC_PARTITIONS: '24', KAFKA_TOPIC_REPLICATION_FACTOR: '3' });
    const { kafka, created } = fakeKafka(['kantoor.directory.v1']);
    (platform.transport as unknown as { kafka: unknown }).kafka = kafka;

    await platform.prepareTopics(['kantoor.archive.v1', 'kantoor.directory.v1', 'kantoor.document-intake.v1']);
    expect(created).toEqual([
      { topic: 'kantoor.archive.v1', numPartitions: 24, replicationFactor: 3 },
      { topic: 'kantoor.document-intake.v1', numPartitions: 24, replicationFactor: 3 },
    ]);
    // a second start finds them all
    await platform.prepareTopics(['kantoor.archive.v1', 'kantoor.directory.v1']);
    expect(created).toHaveLength(2);
  });

  it("leaves the replication to the brokers' default unless told, and refuses a wrong number naming the setting", async () => {
    const platform = cluster();
    const { kafka, created } = fakeKafka([]);
    (platform.transport as unknown as { kafka: unknown }).kafka = kafka;
    await platform.prepareTopics(['kantoor.notification.v1']);
    expect(created).toEqual([{ topic: 'kantoor.notification.v1', numPartitions: 12, replicationFactor: -1 }]);
    expect(() => cluster({ KAFKA_TOPIC_PARTITIONS: '0' })).toThrow(/KAFKA_TOPIC_PARTITIONS/);
  });
});

describe('a starting service', () => {
  it('prepares its own topic and the topics it reads before it publishes or subscribes', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'topics-test-'));
    const base = embeddedPlatform({ dataDir, inMemory: true, logLevel: 'silent' });
    const prepared: string[][] = [];
    const platform: Platform = { ...base, prepareTopics: async (topics) => void prepared.push(topics) };
    const definition = defineService({
      name: 'reader',
      migrationsDir: dataDir, // no migrations of its own
      async build() {
        return {
          grpc: [],
          eventHandlers: {
            'kantoor.directory.v1.StaffInvited': async () => undefined,
            'kantoor.document_intake.v1.DocumentStored': async () => undefined,
          },
        };
      },
    });
    const service = await startService(definition, platform, { host: '127.0.0.1', port: 0 });
    try {
      expect(prepared).toEqual([['kantoor.reader.v1', 'kantoor.directory.v1', 'kantoor.document-intake.v1']]);
    } finally {
      await service.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
