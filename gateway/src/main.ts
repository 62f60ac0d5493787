import '@kantoor/telemetry/register';
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { ConfigError } from '@kantoor/config';
import { PgDatabase, PgliteDatabase, type Database } from '@kantoor/database';
import { Lifecycle } from '@kantoor/lifecycle';
import { createLogger } from '@kantoor/logging';
import { readGatewayConfig, type GatewayConfig } from './config';
import { migrateGatewayDatabase } from './index';
import { startGateway } from './start-gateway';

/** `<SERVICE>_GRPC_ADDRESS` for each service, e.g. DIRECTORY_GRPC_ADDRESS=kantoor-directory:50051. */
function serviceAddresses(env: NodeJS.ProcessEnv): Record<string, string> {
  const names = [
    'directory',
    'document-intake',
    'archive',
    'invoicing',
    'backup',
    'accounting-connector',
    'notification',
  ];
  const addresses: Record<string, string> = {};
  const missing: string[] = [];
  for (const name of names) {
    const key = `${name.toUpperCase().replace(/-/g, '_')}_GRPC_ADDRESS`;
    if (env[key]) addresses[name] = env[key]!;
    else if (name === 'directory') missing.push(`${key} is required`);
  }
  if (missing.length > 0) throw new ConfigError(missing);
  return addresses;
}

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
    addresses = serviceAddresses(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
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
  lifecycle.onShutdown('database', () => db.close());
  const gateway = await startGateway({ config, logger, db, addresses, shuttingDown: () => lifecycle.isShuttingDown });
  lifecycle.onShutdown('http server', () => gateway.close());
  lifecycle.setReady(true);
}

void main();
