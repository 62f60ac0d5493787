import '@kantoor/telemetry/register';
import path from 'node:path';
import { defineService, runServiceMain } from '@kantoor/service-runtime';
import { directoryRpc } from './entry-points/grpc/directory-rpc';

// Firms, staff and roles, client groups, client dossiers, portal users and the access rules every service enforces.
export const directoryService = defineService({
  name: 'directory',
  migrationsDir: path.join(__dirname, '..', 'migrations'),
  async build({ db, eventsWritten }) {
    return { grpc: [directoryRpc(db, eventsWritten)] };
  },
});

if (require.main === module) void runServiceMain(directoryService);
