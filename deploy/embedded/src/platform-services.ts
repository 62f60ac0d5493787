import { accountingConnectorService } from '@kantoor/accounting-connector';
import { createArchiveService } from '@kantoor/archive';
import { backupService } from '@kantoor/backup';
import { directoryService } from '@kantoor/directory';
import { createDocumentIntakeService } from '@kantoor/document-intake';
import { invoicingService } from '@kantoor/invoicing';
import { createNotificationService } from '@kantoor/notification';
import type { ServiceDefinition } from '@kantoor/service-runtime';

export interface PlatformWiring {
  /** where the notification service delivers mail (embedded: the local sink) */
  smtp?: { host: string; port: number };
  /** host:port of the directory, for services that ask it (access facts, the cascade) */
  directoryAddress: () => string;
  /** the e-mail intake's SMTP port (0: off) */
  intakeSmtpPort?: number;
}

/** The definition of the service `name`, wired for embedded mode. */
export function platformService(name: string, wiring: PlatformWiring): ServiceDefinition {
  const definition = platformServices(wiring).find((service) => service.name === name);
  if (!definition) throw new Error(`no service named ${name}`);
  return definition;
}

function platformServices(wiring: PlatformWiring): ServiceDefinition[] {
  const notification = createNotificationService({
    settings: {
      ...(wiring.smtp && { NOTIFICATION_SMTP_HOST: wiring.smtp.host, NOTIFICATION_SMTP_PORT: wiring.smtp.port }),
      get DIRECTORY_ADDRESS() {
        return wiring.directoryAddress();
      },
    },
  });
  const documentIntake = createDocumentIntakeService({
    settings: {
      INTAKE_SMTP_PORT: wiring.intakeSmtpPort ?? 0,
      INTAKE_SMTP_HOST: '127.0.0.1',
      get DIRECTORY_ADDRESS() {
        return wiring.directoryAddress();
      },
    },
  });
  const archive = createArchiveService({
    settings: {
      get DIRECTORY_ADDRESS() {
        return wiring.directoryAddress();
      },
    },
  });
  return [
    directoryService,
    documentIntake,
    archive,
    invoicingService,
    backupService,
    accountingConnectorService,
    notification,
  ];
}
