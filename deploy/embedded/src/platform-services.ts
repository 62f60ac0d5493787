import { accountingConnectorService } from '@kantoor/accounting-connector';
import { archiveService } from '@kantoor/archive';
import { backupService } from '@kantoor/backup';
import { directoryService } from '@kantoor/directory';
import { documentIntakeService } from '@kantoor/document-intake';
import { invoicingService } from '@kantoor/invoicing';
import { createNotificationService } from '@kantoor/notification';
import type { ServiceDefinition } from '@kantoor/service-runtime';

export interface PlatformWiring {
  /** where the notification service delivers mail (embedded: the local sink) */
  smtp?: { host: string; port: number };
  /** host:port of the directory, for services that ask it (the cascade) */
  directoryAddress: () => string;
}

/** Every service of the platform with its loopback port offset in embedded mode (base port + offset). */
export function platformServices(wiring: PlatformWiring): Array<{ definition: ServiceDefinition; offset: number }> {
  const notification = createNotificationService({
    settings: {
      ...(wiring.smtp && { NOTIFICATION_SMTP_HOST: wiring.smtp.host, NOTIFICATION_SMTP_PORT: wiring.smtp.port }),
      get DIRECTORY_ADDRESS() {
        return wiring.directoryAddress();
      },
    },
  });
  return [
    { definition: directoryService, offset: 0 },
    { definition: documentIntakeService, offset: 1 },
    { definition: archiveService, offset: 2 },
    { definition: invoicingService, offset: 3 },
    { definition: backupService, offset: 4 },
    { definition: accountingConnectorService, offset: 5 },
    { definition: notification, offset: 6 },
  ];
}
