import { accountingConnectorService } from '@kantoor/accounting-connector';
import { archiveService } from '@kantoor/archive';
import { backupService } from '@kantoor/backup';
import { directoryService } from '@kantoor/directory';
import { documentIntakeService } from '@kantoor/document-intake';
import { invoicingService } from '@kantoor/invoicing';
import { notificationService } from '@kantoor/notification';
import type { ServiceDefinition } from '@kantoor/service-runtime';

/** Every service of the platform with its loopback port offset in embedded mode (base port + offset). */
export const PLATFORM_SERVICES: Array<{ definition: ServiceDefinition; offset: number }> = [
  { definition: directoryService, offset: 0 },
  { definition: documentIntakeService, offset: 1 },
  { definition: archiveService, offset: 2 },
  { definition: invoicingService, offset: 3 },
  { definition: backupService, offset: 4 },
  { definition: accountingConnectorService, offset: 5 },
  { definition: notificationService, offset: 6 },
];
