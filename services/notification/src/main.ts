import '@kantoor/telemetry/register';
import path from 'node:path';
import { implement } from '@kantoor/grpc';
import { NotificationService } from '@kantoor/proto/kantoor/notification/v1/notification_pb';
import { defineService, runServiceMain } from '@kantoor/service-runtime';
import { directoryEventHandlers } from './entry-points/events/directory-events';

// E-mail with the firm's routing cascade, templates per language and a delivery log.
export const notificationService = defineService({
  name: 'notification',
  migrationsDir: path.join(__dirname, '..', 'migrations'),
  async build() {
    return { grpc: [implement(NotificationService, {})], eventHandlers: { ...directoryEventHandlers } };
  },
});

if (require.main === module) void runServiceMain(notificationService);
