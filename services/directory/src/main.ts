import '@kantoor/telemetry/register';
import path from 'node:path';
import { defineService, runServiceMain } from '@kantoor/service-runtime';
import { directorySettings, readDirectoryConfig, type DirectoryConfig } from './config';
import { useTermsVersion } from './domain/access';
import { directoryRpc } from './entry-points/grpc/directory-rpc';

/** Firms, staff and roles, client groups, client dossiers, portal users and the access rules every service enforces. */
export function createDirectoryService(given?: DirectoryConfig) {
  return defineService({
    name: 'directory',
    migrationsDir: path.join(__dirname, '..', 'migrations'),
    settings: directorySettings,
    async build({ db, eventsWritten }) {
      // read when the service starts, not when this module loads (runServiceMain has checked them by then)
      const config = given ?? readDirectoryConfig();
      useTermsVersion(config.DIRECTORY_TERMS_VERSION);
      return { grpc: [directoryRpc(db, eventsWritten, config)] };
    },
  });
}

export const directoryService = createDirectoryService();

if (require.main === module) void runServiceMain(directoryService);
