import { commonSettings, loadConfigOrExit } from '@kantoor/config';
import type { Database } from '@kantoor/database';
import { useCallerSigningKey } from '@kantoor/grpc';
import { Lifecycle } from '@kantoor/lifecycle';
import { createLogger, type Logger } from '@kantoor/logging';
import { shutdownTelemetry } from '@kantoor/telemetry';
import { clusterPlatform, embeddedPlatform, type Platform } from './platform';
import { migrateService, startService, type ServiceDefinition } from './service';

/** A one-off command of a service (the chart's CronJobs), run on the service's database and platform. */
export type ServiceCommand = (context: { db: Database; platform: Platform; logger: Logger }) => Promise<void>;

/**
 * What `node services/<name>/dist/main.js [migrate|<command>]` does: read and check the settings, then either
 * run the migrations and exit (the chart's migration Job), run one of the service's `commands` and exit (its
 * CronJobs), or, without an argument, serve until SIGTERM/SIGINT. Any other argument stops the process with
 * exit code 64 (EX_USAGE) before anything starts: a CronJob naming a command the service lacks must fail, not
 * serve until its deadline.
 */
export async function runServiceMain(
  definition: ServiceDefinition,
  options: { needsObjects?: boolean; commands?: Record<string, ServiceCommand> } = {},
): Promise<void> {
  const argument = process.argv[2];
  if (argument !== undefined && argument !== 'migrate' && !Object.hasOwn(options.commands ?? {}, argument)) {
    const known = ['migrate', ...Object.keys(options.commands ?? {})].join(', ');
    process.stderr.write(`${definition.name} has no command "${argument}"; it knows: ${known} (no command: serve)\n`);
    process.exit(64);
  }
  // the service's own settings too, before anything opens: a wrong one stops the process naming it
  const config = loadConfigOrExit({ ...definition.settings, ...commonSettings });
  // this process signs the callers of its calls and refuses calls whose caller is not signed (cluster: required)
  useCallerSigningKey(config.CALLER_SIGNING_KEY);
  const logger = createLogger({ service: definition.name, level: config.LOG_LEVEL });
  let platform: Platform;
  try {
    platform =
      config.KANTOOR_MODE === 'cluster'
        ? clusterPlatform(config, {
            needsObjects: options.needsObjects,
            clientId: `kantoor-${definition.name}`,
            logger,
          })
        : embeddedPlatform({ dataDir: config.DATA_DIR, logLevel: config.LOG_LEVEL });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(78);
  }

  if (argument === 'migrate') {
    const db = await platform.openDatabase(definition.name);
    const report = await migrateService(definition, db);
    logger.info({ applied: report.applied, alreadyApplied: report.alreadyApplied }, 'migrations done');
    await db.close();
    return;
  }

  const command = argument === undefined ? undefined : options.commands![argument];
  if (command) {
    const db = await platform.openDatabase(definition.name);
    try {
      await command({ db, platform, logger });
    } catch (error) {
      logger.error({ err: error }, `${argument} failed`);
      process.exitCode = 1;
    } finally {
      await db.close();
      await platform.transport.close();
    }
    return;
  }

  const lifecycle = new Lifecycle(logger, config.SHUTDOWN_TIMEOUT_MS);
  lifecycle.installSignalHandlers();
  // registered first, so closed last: the spans and metrics of the shutdown itself are exported too
  lifecycle.onShutdown('telemetry', shutdownTelemetry);
  lifecycle.onShutdown('event transport', () => platform.transport.close());
  const service = await startService(definition, platform, { host: config.GRPC_HOST, port: config.GRPC_PORT, logger });
  lifecycle.onReadinessChange((ready) => ready || service.drain());
  lifecycle.onShutdown(definition.name, () => service.stop());
  lifecycle.setReady(true);
}
