import '@kantoor/telemetry/register';
import path from 'node:path';
import { implement } from '@kantoor/grpc';
import { ArchiveService } from '@kantoor/proto/kantoor/archive/v1/archive_pb';
import { defineService, runServiceMain } from '@kantoor/service-runtime';

// Every document kept write-once for 7 years on object storage, with retention, legal hold, integrity checks and purge.
export const archiveService = defineService({
  name: 'archive',
  migrationsDir: path.join(__dirname, '..', 'migrations'),
  async build() {
    return { grpc: [implement(ArchiveService, {})] };
  },
});

if (require.main === module) void runServiceMain(archiveService);
