#!/usr/bin/env node
/**
 * One component of the platform in a process of its own, as the cluster deploys it, for benchmarks that must
 * measure a component's own memory: `node test/bench/cluster-process.js <directory|document-intake|gateway>`.
 * Built only from the packages' public functions (startService on a Platform, startGateway), after a build.
 *
 * Like a cluster pod: PostgreSQL (DATABASE_URL, a database of its own), telemetry registered first. Unlike one:
 * objects in the folder store (DATA_DIR) instead of MinIO, and no Kafka (events stay in the process). The gateway
 * and the intake keep access facts as they do on Kafka, but no directory event reaches them here, so they forget
 * only what the gateway forgets itself after a change made through it: a bench must change access only through
 * the gateway (they do). The gateway signs in with its own tokens (password login against the directory)
 * because there is no OpenID Connect provider here.
 *
 * Settings: DATABASE_URL, DATA_DIR, PORT (gRPC port of a service, HTTP port of the gateway), and the addresses
 * under the names the cluster uses: DIRECTORY_GRPC_ADDRESS (document-intake, gateway), DOCUMENT_INTAKE_GRPC_ADDRESS
 * (gateway). Prints `{"ready":true,"port":…}` once serving
 * and stops cleanly on SIGTERM or SIGINT.
 */
require('../../packages/telemetry/dist/register');
const path = require('node:path');
const { PgDatabase } = require('../../packages/database');
const { InProcessTransport } = require('../../packages/events');
const { createLogger } = require('../../packages/logging');
const { createObjectStore } = require('../../packages/object-storage');
const { startService } = require('../../packages/service-runtime');

const role = process.argv[2];
const env = process.env;
const logger = createLogger({ service: role, level: env.LOG_LEVEL ?? 'error' });
const database = () =>
  new PgDatabase({ connectionString: env.DATABASE_URL, max: Number(env.DATABASE_POOL_SIZE ?? 10) });

/** A cluster platform but for the folder object store and in-process events. */
const platform = {
  mode: 'cluster',
  transport: new InProcessTransport(),
  logLevel: env.LOG_LEVEL ?? 'error',
  openDatabase: async () => database(),
  // in-process events have no topics to create beforehand (the Platform contract asks for it since topics exist)
  prepareTopics: async () => undefined,
  openObjectStore: (service, store = {}) =>
    createObjectStore({ kind: 'folder', root: path.join(env.DATA_DIR, 'objects', store.bucket ?? service) }),
};

async function startComponent() {
  const listen = { host: '127.0.0.1', port: Number(env.PORT ?? 0) };
  if (role === 'directory') {
    const { directoryService } = require('../../services/directory');
    return startService(directoryService, platform, listen);
  }
  if (role === 'document-intake') {
    const { createDocumentIntakeService } = require('../../services/document-intake');
    const definition = createDocumentIntakeService({
      settings: { DIRECTORY_GRPC_ADDRESS: env.DIRECTORY_GRPC_ADDRESS, INTAKE_LINK_SECRET: 'bench-'.repeat(8) },
    });
    return startService(definition, platform, listen);
  }
  if (role === 'gateway') {
    const { readGatewayConfig, readServiceAddresses, startGateway } = require('../../gateway');
    const config = readGatewayConfig({
      ...env,
      KANTOOR_MODE: 'embedded',
      HOST: listen.host,
      PORT: String(listen.port),
    });
    const db = database();
    const gateway = await startGateway({
      config,
      logger,
      db,
      addresses: readServiceAddresses(env),
      directoryEvents: { transport: platform.transport, groupId: 'gateway' },
    });
    return {
      port: gateway.port,
      async stop() {
        await gateway.close();
        await db.close();
      },
    };
  }
  throw new Error(`unknown component "${role}" (directory, document-intake or gateway)`);
}

async function main() {
  const component = await startComponent();
  let stopping;
  const stop = () => {
    stopping ??= component
      .stop()
      .then(() => platform.transport.close())
      .then(() => process.exit(0))
      .catch((error) => {
        console.error(error);
        process.exit(1);
      });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`${JSON.stringify({ ready: true, port: component.port })}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
