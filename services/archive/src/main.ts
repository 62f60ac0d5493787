import '@kantoor/telemetry/register';
import path from 'node:path';
import type { FetchAccessFacts } from '@kantoor/access-policy';
import type { Platform } from '@kantoor/service-runtime';
import { defineService, runServiceMain, type ServiceDefinition } from '@kantoor/service-runtime';
import type { ObjectStore } from '@kantoor/object-storage';
import { directoryGuard, guardWith } from './adapters/directory';
import { archiveSettings, eventRetryOf, readArchiveConfig, type ArchiveConfig } from './config';
import type { ArchiveStores } from './domain/ingest';
import { intakeEventHandlers } from './entry-points/events/intake-events';
import { archiveRpc } from './entry-points/grpc/archive-rpc';
import { purgeJob, schedule, verifyJob } from './entry-points/jobs/archive-jobs';

export interface ArchiveOptions {
  /** settings given in code (tests, the embedded launcher); the environment fills in the rest */
  settings?: Partial<ArchiveConfig>;
  /** tests: access facts without a directory service */
  accessFacts?: FetchAccessFacts;
}

const config = (options: ArchiveOptions) => ({ ...readArchiveConfig(), ...options.settings });

/** The write-once store and the stores the archived objects come from (each publisher's own). */
async function openStores(platform: Platform, settings: ArchiveConfig): Promise<ArchiveStores> {
  const archive = await platform.openObjectStore('archive', { bucket: settings.ARCHIVE_BUCKET, objectLock: true });
  const sources = new Map<string, Promise<ObjectStore>>();
  return {
    archive,
    sourceStore(source) {
      if (!sources.has(source)) sources.set(source, platform.openObjectStore(source));
      return sources.get(source)!;
    },
  };
}

/** Every document kept write-once for 7 years on object storage, with retention, legal hold, integrity checks and purge. */
export function createArchiveService(options: ArchiveOptions = {}): ServiceDefinition {
  return defineService({
    name: 'archive',
    migrationsDir: path.join(__dirname, '..', 'migrations'),
    settings: archiveSettings,
    async build({ db, logger, platform }) {
      const settings = config(options);
      const stores = await openStores(platform, settings);
      const directory = options.accessFacts
        ? { guard: guardWith(options.accessFacts), close: () => undefined }
        : directoryGuard(settings.DIRECTORY_GRPC_ADDRESS);
      if (!options.accessFacts && !settings.DIRECTORY_GRPC_ADDRESS)
        logger.warn("DIRECTORY_GRPC_ADDRESS is not set: every call but the system's is refused until it is");
      // cluster mode runs the jobs as CronJobs, so that several replicas do not run them side by side
      const embedded = platform.mode === 'embedded';
      const every = (minutes: number) => (embedded ? minutes * 60_000 : 0);
      const jobs = [
        schedule(
          db,
          every(settings.ARCHIVE_VERIFY_INTERVAL_MINUTES),
          () => verifyJob(db, stores.archive, logger, settings.ARCHIVE_VERIFY_SAMPLE),
          logger,
          'verification',
        ),
        schedule(
          db,
          every(settings.ARCHIVE_PURGE_INTERVAL_MINUTES),
          () => purgeJob(db, stores.archive, logger),
          logger,
          'purge',
        ),
      ];
      return {
        grpc: [archiveRpc({ db, stores, guard: directory.guard })],
        eventHandlers: intakeEventHandlers(stores),
        eventRetry: eventRetryOf(settings),
        async onStop() {
          for (const job of jobs) await job.stop();
          directory.close();
        },
      };
    },
  });
}

export const archiveService = createArchiveService();

if (require.main === module)
  void runServiceMain(archiveService, {
    needsObjects: true,
    commands: {
      async verify({ db, platform, logger }) {
        const settings = config({});
        const run = await verifyJob(
          db,
          (await openStores(platform, settings)).archive,
          logger,
          settings.ARCHIVE_VERIFY_SAMPLE,
        );
        if (run.findings.length > 0) process.exitCode = 2;
      },
      async purge({ db, platform, logger }) {
        await purgeJob(db, (await openStores(platform, config({}))).archive, logger);
      },
    },
  });
