import { readConfig, settings, type ConfigOf } from '@kantoor/config';

export const directorySettings = {
  DIRECTORY_ACTIVATION_HOURS: settings.integer({
    default: 72,
    min: 1,
    max: 720,
    description: 'hours an activation link stays valid',
  }),
  DIRECTORY_TERMS_VERSION: settings.string({
    default: '2025-01',
    description: 'version of the terms of use portal users accept',
  }),
};

export type DirectoryConfig = ConfigOf<typeof directorySettings>;

export const readDirectoryConfig = (env: NodeJS.ProcessEnv = process.env): DirectoryConfig =>
  readConfig(directorySettings, env);
