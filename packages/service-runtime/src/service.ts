import type { SettingsSchema } from '@kantoor/config';
import { migrate, readMigrations, type Database } from '@kantoor/database';
import {
  migrations as eventMigrations,
  OutboxRelay,
  subscribeHandlers,
  topicOf,
  topicOfEventType,
  type EventHandlers,
  type RetryPolicy,
} from '@kantoor/events';
import { GrpcServer, type GrpcServiceRegistration } from '@kantoor/grpc';
import { createLogger, type Logger } from '@kantoor/logging';
import type { ObjectStore } from '@kantoor/object-storage';
import type { Platform } from './platform';

export interface ServiceContext {
  name: string;
  db: Database;
  logger: Logger;
  platform: Platform;
  /** call after a transaction that appended events, so the relay publishes them now rather than at its next poll */
  eventsWritten(): void;
  objectStore(options?: { bucket?: string; objectLock?: boolean }): Promise<ObjectStore>;
}

export interface ServiceParts {
  grpc: GrpcServiceRegistration[];
  eventHandlers?: EventHandlers;
  /** how long a failing event is tried before it is dead-lettered; default the consumer's (about 1.5 s) */
  eventRetry?: Partial<RetryPolicy>;
  /** background work to stop before the database closes (timers, SMTP servers ...) */
  onStop?: () => Promise<void>;
}

export interface ServiceDefinition {
  /** the service name: database, topic (`kantoor.<name>.v1`), consumer group and logs use it */
  name: string;
  migrationsDir: string;
  /**
   * The service's own settings. `runServiceMain` checks them, with the common ones, before it opens anything,
   * so that a missing or wrong setting stops the process with a message naming it (exit 78), not a stack trace.
   */
  settings?: SettingsSchema;
  build(context: ServiceContext): Promise<ServiceParts>;
}

export interface RunningService {
  name: string;
  port: number;
  db: Database;
  logger: Logger;
  /** readiness off: health answers NOT_SERVING */
  drain(): void;
  stop(): Promise<void>;
}

export function defineService(definition: ServiceDefinition): ServiceDefinition {
  return definition;
}

export async function migrateService(definition: ServiceDefinition, db: Database) {
  return migrate(db, [...eventMigrations(), ...(await readMigrations(definition.migrationsDir))]);
}

/**
 * Starts one service on a platform: database and migrations, its own parts, the outbox relay, its event
 * consumers and finally its gRPC server; health turns SERVING only when all of that runs. `stop()` undoes
 * it in reverse order.
 */
export async function startService(
  definition: ServiceDefinition,
  platform: Platform,
  options: { host: string; port: number; logger?: Logger },
): Promise<RunningService> {
  const logger = options.logger ?? createLogger({ service: definition.name, level: platform.logLevel });
  const db = await platform.openDatabase(definition.name);
  const stops: Array<() => Promise<void>> = [() => db.close()];
  try {
    await migrateService(definition, db);
    const relay = new OutboxRelay({ db, transport: platform.transport, logger });
    const parts = await definition.build({
      name: definition.name,
      db,
      logger,
      platform,
      eventsWritten: () => relay.wake(),
      objectStore: (store) => platform.openObjectStore(definition.name, store),
    });
    if (parts.onStop) stops.push(parts.onStop);
    const subscribed = [...new Set(Object.keys(parts.eventHandlers ?? {}).map(topicOfEventType))];
    // its own topic (the relay publishes there) and those it reads, whichever service starts first
    await platform.prepareTopics([topicOf(definition.name), ...subscribed]);
    relay.start();
    stops.push(() => relay.stop());
    if (parts.eventHandlers && Object.keys(parts.eventHandlers).length > 0) {
      const consumer = await subscribeHandlers({
        db,
        transport: platform.transport,
        groupId: definition.name,
        topics: subscribed,
        handlers: parts.eventHandlers,
        retry: parts.eventRetry,
        logger,
      });
      stops.push(() => consumer.stop());
    }
    const server = new GrpcServer({ logger, services: parts.grpc });
    const port = await server.start(options.host, options.port);
    stops.push(() => server.stop());
    logger.info({ port }, `${definition.name} serving`);
    return {
      name: definition.name,
      port,
      db,
      logger,
      drain: () => server.drain(),
      async stop() {
        server.drain();
        for (const stop of stops.reverse()) await stop();
      },
    };
  } catch (error) {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    throw error;
  }
}
