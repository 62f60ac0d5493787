import { commonSettings, readConfig } from '@kantoor/config';
import type { KafkaTransportOptions } from '@kantoor/events';
import { clusterPlatform } from '@kantoor/service-runtime';

const cluster = (env: Record<string, string> = {}) =>
  readConfig(commonSettings, {
    KANTOOR_MODE: 'cluster',
    DATABASE_URL: 'postgres://kantoor@db.example:5432/archive',
    CALLER_SIGNING_KEY: 'a-caller-signing-key-of-32-bytes+',
    KAFKA_BROKERS: 'kafka-0.example:9092,kafka-1.example:9092',
    ...env,
  });

const consumerSettingsOf = (env?: Record<string, string>) => {
  const platform = clusterPlatform(cluster(env));
  // nothing connects until the transport is used
  return (platform.transport as unknown as { options: KafkaTransportOptions }).options;
};

describe('cluster platform', () => {
  it('consumes four partitions at once by default, each still in order', () => {
    expect(consumerSettingsOf()).toMatchObject({
      brokers: ['kafka-0.example:9092', 'kafka-1.example:9092'],
      partitionsConsumedConcurrently: 4,
    });
  });

  it('takes the number of partitions handled at once from KAFKA_PARTITIONS_CONCURRENTLY', () => {
    expect(consumerSettingsOf({ KAFKA_PARTITIONS_CONCURRENTLY: '12' }).partitionsConsumedConcurrently).toBe(12);
  });

  it("writes kafkajs's warnings and errors to the service's logger, not to the console", () => {
    const lines: Array<[string, Record<string, unknown>, string]> = [];
    const logger = {
      info: (fields: Record<string, unknown>, message: string) => lines.push(['info', fields, message]),
      warn: (fields: Record<string, unknown>, message: string) => lines.push(['warn', fields, message]),
      error: (fields: Record<string, unknown>, message: string) => lines.push(['error', fields, message]),
    };
    const platform = clusterPlatform(cluster(), { logger: logger as never });
    const kafka = (platform.transport as unknown as { kafka: { logger(): { warn(m: string, f: object): void } } })
      .kafka;
    kafka.logger().warn('broker went away', { broker: 'kafka-0.example:9092' });
    expect(lines).toEqual([['warn', expect.objectContaining({ broker: 'kafka-0.example:9092' }), 'broker went away']]);
  });

  it('refuses a number of partitions that is not 1 to 64, naming the setting', () => {
    for (const wrong of ['0', '65', 'many'])
      expect(() => cluster({ KAFKA_PARTITIONS_CONCURRENTLY: wrong })).toThrow(/KAFKA_PARTITIONS_CONCURRENTLY/);
  });
});
