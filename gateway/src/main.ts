import '@kantoor/telemetry/register';
import os from 'node:os';
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { ConfigError } from '@kantoor/config';
import { useCallerSigningKey } from '@kantoor/grpc';
import { PgDatabase, PgliteDatabase, type Database } from '@kantoor/database';
import { KafkaTransport, topicOf } from '@kantoor/events';
import { Lifecycle } from '@kantoor/lifecycle';
import { createLogger } from '@kantoor/logging';
import { shutdownTelemetry } from '@kantoor/telemetry';
import { readGatewayConfig, readServiceAddresses, type GatewayConfig } from './config';
import { migrateGatewayDatabase } from './index';
import { startGateway } from './start-gateway';

async function openDatabase(config: GatewayConfig): Promise<Database> {
  if (config.KANTOOR_MODE === 'cluster')
    return new PgDatabase({ connectionString: config.DATABASE_URL!, max: config.DATABASE_POOL_SIZE });
  const dir = path.join(config.DATA_DIR, 'gateway', 'pgdata');
  await mkdir(dir, { recursive: true });
  return PgliteDatabase.open(dir);
}

async function main(): Promise<void> {
  let config: GatewayConfig;
  let addresses: Record<string, string>;
  try {
    config = readGatewayConfig();
    addresses = readServiceAddresses(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
  // the gateway signs the caller of every call it makes; the services refuse unsigned ones (cluster: required)
  useCallerSigningKey(config.CALLER_SIGNING_KEY);
  const logger = createLogger({ service: 'gateway', level: config.LOG_LEVEL });
  const db = await openDatabase(config);
  if (process.argv[2] === 'migrate') {
    const report = await migrateGatewayDatabase(db);
    logger.info({ applied: report.applied }, 'migrations done');
    await db.close();
    return;
  }
  const lifecycle = new Lifecycle(logger, config.SHUTDOWN_TIMEOUT_MS);
  lifecycle.installSignalHandlers();
  // registered first, so closed last: the spans and metrics of the shutdown itself are exported too
  lifecycle.onShutdown('telemetry', shutdownTelemetry);
  lifecycle.onShutdown('database', () => db.close());
  // the directory's events keep the gateway's access facts fresh; every replica reads them all, from now on
  const transport =
    config.KAFKA_BROKERS.length > 0
      ? new KafkaTransport({
          brokers: config.KAFKA_BROKERS,
          clientId: config.KAFKA_CLIENT_ID,
          ssl: config.KAFKA_SSL,
          // kafkajs's warnings and errors as the gateway's JSON log lines, not console text
          logger,
          sasl:
            config.KAFKA_SASL_MECHANISM && config.KAFKA_SASL_USERNAME && config.KAFKA_SASL_PASSWORD
              ? {
                  mechanism: config.KAFKA_SASL_MECHANISM,
                  username: config.KAFKA_SASL_USERNAME,
                  password: config.KAFKA_SASL_PASSWORD,
                }
              : undefined,
          newGroupStartsAt: 'latest',
        })
      : undefined;
  if (transport) {
    lifecycle.onShutdown('event transport', () => transport.close());
    // the directory may not have started yet on a fresh cluster: the topic read here must exist
    await transport.ensureTopics([topicOf('directory')], {
      numPartitions: config.KAFKA_TOPIC_PARTITIONS,
      replicationFactor: config.KAFKA_TOPIC_REPLICATION_FACTOR,
    });
  }
  const gateway = await startGateway({
    config,
    logger,
    db,
    addresses,
    shuttingDown: () => lifecycle.isShuttingDown,
    directoryEvents: transport && { transport, groupId: `gateway-${os.hostname()}` },
  });
  lifecycle.onShutdown('http server', () => gateway.close());
  lifecycle.setReady(true);
}

void main();
