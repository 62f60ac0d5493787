import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { ConfigOf, commonSettings } from '@kantoor/config';
import { requireClusterSettings } from '@kantoor/config';
import { PgDatabase, PgliteDatabase, type Database } from '@kantoor/database';
import { InProcessTransport, KafkaTransport, type EventTransport, type TopicSettings } from '@kantoor/events';
import { createObjectStore, type ObjectStore } from '@kantoor/object-storage';
import type { Logger } from '@kantoor/logging';

/**
 * The adapters a service runs on. Business code only ever sees the ports (Database, EventTransport,
 * ObjectStore); which adapters stand behind them is decided here, once, from the mode.
 */
export interface Platform {
  readonly mode: 'embedded' | 'cluster';
  readonly transport: EventTransport;
  readonly logLevel: string;
  /** embedded mode: the data folder (PGlite data, objects, generated secrets) */
  readonly dataDir?: string;
  openDatabase(service: string): Promise<Database>;
  /** `bucket` names a separate store, e.g. the archive's bucket with S3 Object Lock */
  openObjectStore(service: string, options?: { bucket?: string; objectLock?: boolean }): Promise<ObjectStore>;
  /**
   * Makes sure these topics exist before a service publishes to or subscribes to them: Kafka topics are created
   * with the configured partitions and replication (the clients never create topics on the fly); in-process
   * delivery needs none.
   */
  prepareTopics(topics: string[]): Promise<void>;
}

export interface EmbeddedPlatformOptions {
  dataDir: string;
  logLevel?: string;
  /** shared by every service of the process, so events flow between them in memory */
  transport?: EventTransport;
  /** keep databases in memory (tests) instead of under dataDir */
  inMemory?: boolean;
}

/** One machine, one process: PGlite per service under the data folder, folder object store, in-process events. */
export function embeddedPlatform(options: EmbeddedPlatformOptions): Platform {
  const transport = options.transport ?? new InProcessTransport();
  return {
    mode: 'embedded',
    transport,
    logLevel: options.logLevel ?? 'info',
    dataDir: options.dataDir,
    async openDatabase(service) {
      if (options.inMemory) return PgliteDatabase.open();
      const dir = path.join(options.dataDir, service, 'pgdata');
      await mkdir(dir, { recursive: true });
      return PgliteDatabase.open(dir);
    },
    prepareTopics: async () => undefined,
    openObjectStore(service, store = {}) {
      // the folder store enforces retention itself, so the lock option needs nothing more here
      return createObjectStore({
        kind: 'folder',
        root: path.join(options.dataDir, 'objects', store.bucket ?? service),
      });
    },
  };
}

type CommonConfig = ConfigOf<typeof commonSettings>;

/** How topics the platform creates are laid out (KAFKA_TOPIC_PARTITIONS, KAFKA_TOPIC_REPLICATION_FACTOR). */
export function kafkaTopicSettings(config: CommonConfig): TopicSettings {
  return { numPartitions: config.KAFKA_TOPIC_PARTITIONS, replicationFactor: config.KAFKA_TOPIC_REPLICATION_FACTOR };
}

/** Kubernetes: PostgreSQL, Kafka and MinIO named by settings (secrets come from existing Secrets). */
export function clusterPlatform(
  config: CommonConfig,
  options: { needsObjects?: boolean; clientId?: string; logger?: Logger } = {},
): Platform {
  requireClusterSettings(config, { database: true, kafka: true, objects: options.needsObjects });
  const transport = new KafkaTransport({
    brokers: config.KAFKA_BROKERS,
    clientId: options.clientId ?? config.KAFKA_CLIENT_ID,
    ssl: config.KAFKA_SSL,
    // kafkajs's warnings and errors as the service's JSON log lines (redacted, with trace ids), not console text
    logger: options.logger,
    // one partition at a time (kafkajs's default) would make a pod's throughput one event per round of
    // handling: its dossiers' events wait for each other's database commit and object writes
    partitionsConsumedConcurrently: config.KAFKA_PARTITIONS_CONCURRENTLY,
    sasl:
      config.KAFKA_SASL_MECHANISM && config.KAFKA_SASL_USERNAME && config.KAFKA_SASL_PASSWORD
        ? {
            mechanism: config.KAFKA_SASL_MECHANISM,
            username: config.KAFKA_SASL_USERNAME,
            password: config.KAFKA_SASL_PASSWORD,
          }
        : undefined,
  });
  return {
    mode: 'cluster',
    transport,
    logLevel: config.LOG_LEVEL,
    async openDatabase() {
      return new PgDatabase({ connectionString: config.DATABASE_URL!, max: config.DATABASE_POOL_SIZE });
    },
    prepareTopics: (topics) => transport.ensureTopics(topics, kafkaTopicSettings(config)),
    openObjectStore(_service, store = {}) {
      return createObjectStore({
        kind: 'minio',
        endPoint: config.OBJECT_STORE_ENDPOINT!,
        port: config.OBJECT_STORE_PORT,
        useSSL: config.OBJECT_STORE_USE_SSL,
        accessKey: config.OBJECT_STORE_ACCESS_KEY!,
        secretKey: config.OBJECT_STORE_SECRET_KEY!,
        bucket: store.bucket ?? config.OBJECT_STORE_BUCKET,
        objectLock: store.objectLock ?? false,
      });
    },
  };
}
