import { readConfig, settings, type ConfigOf } from '@kantoor/config';
import type { RetryPolicy } from '@kantoor/events';

/** The archive service's settings (see README.md); read once when the service is built. */
export const archiveSettings = {
  DIRECTORY_GRPC_ADDRESS: settings.string({
    optional: true,
    description: 'gRPC address of the directory (access facts), e.g. kantoor-directory:50051',
  }),
  ARCHIVE_BUCKET: settings.string({
    default: 'kantoor-archive',
    description: 'bucket (cluster) or folder (embedded) of the write-once store; created with S3 Object Lock',
  }),
  ARCHIVE_VERIFY_INTERVAL_MINUTES: settings.integer({
    default: 1440,
    min: 0,
    description: 'embedded mode: minutes between verification runs; 0: off (cluster: the CronJob runs `verify`)',
  }),
  ARCHIVE_VERIFY_SAMPLE: settings.integer({
    default: 0,
    min: 0,
    description: 'objects re-read per verification run; 0: every object',
  }),
  ARCHIVE_PURGE_INTERVAL_MINUTES: settings.integer({
    default: 1440,
    min: 0,
    description: 'embedded mode: minutes between purge runs; 0: off (cluster: the CronJob runs `purge`)',
  }),
  ARCHIVE_EVENT_RETRY_ATTEMPTS: settings.integer({
    default: 12,
    min: 1,
    description: 'tries at an intake event (e.g. during a store outage) before it is dead-lettered',
  }),
  ARCHIVE_EVENT_RETRY_FIRST_MS: settings.integer({
    default: 1000,
    min: 1,
    description: 'pause after the first failed try; doubles after each further one',
  }),
  ARCHIVE_EVENT_RETRY_MAX_SECONDS: settings.integer({
    default: 300,
    min: 1,
    description: 'longest pause between two tries',
  }),
};

export type ArchiveConfig = ConfigOf<typeof archiveSettings>;

export const readArchiveConfig = (env: NodeJS.ProcessEnv = process.env): ArchiveConfig =>
  readConfig(archiveSettings, env);

/**
 * How the archive's consumer retries an intake event: capped exponential back-off, by default 12 tries over
 * about 18.5 minutes (1 s, 2 s ... 256 s, then 300 s), so that a DocumentStored failing during an object store
 * outage of minutes is archived when the store is back rather than dead-lettered after 1.5 s.
 */
export const eventRetryOf = (config: ArchiveConfig): RetryPolicy => ({
  attempts: config.ARCHIVE_EVENT_RETRY_ATTEMPTS,
  initialBackoffMs: config.ARCHIVE_EVENT_RETRY_FIRST_MS,
  maxBackoffMs: config.ARCHIVE_EVENT_RETRY_MAX_SECONDS * 1000,
});
