import '@kantoor/telemetry/register';
import path from 'node:path';
import { implement } from '@kantoor/grpc';
import { BackupService } from '@kantoor/proto/kantoor/backup/v1/backup_pb';
import { defineService, runServiceMain } from '@kantoor/service-runtime';

// Account backup ZIPs, restore with options, daily backups.
export const backupService = defineService({
  name: 'backup',
  migrationsDir: path.join(__dirname, '..', 'migrations'),
  async build() {
    return { grpc: [implement(BackupService, {})] };
  },
});

if (require.main === module) void runServiceMain(backupService);
