import { readConfig, settings, type ConfigOf } from '@kantoor/config';

/** The archive service's settings (see README.md); read once when the service is built. */
export const archiveSettings = {
  DIRECTORY_ADDRESS: settings.string({ optional: true, description: 'gRPC address of the directory (access facts)' }),
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
};

export type ArchiveConfig = ConfigOf<typeof archiveSettings>;

export const readArchiveConfig = (env: NodeJS.ProcessEnv = process.env): ArchiveConfig =>
  readConfig(archiveSettings, env);
