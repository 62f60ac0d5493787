import type { ServiceDefinition } from '@kantoor/service-runtime';

export interface PlatformWiring {
  /** where the notification service delivers mail (embedded: the local sink) */
  smtp?: { host: string; port: number };
  /** host:port of the directory, for services that ask it (access facts, the cascade) */
  directoryAddress: () => string;
  /** the e-mail intake's SMTP port (0: off) */
  intakeSmtpPort?: number;
}

/**
 * The definition of the service `name`, wired for embedded mode. Only that service's package is loaded: each
 * service thread would otherwise load (and keep in memory) the code of all seven.
 */
export function platformService(name: string, wiring: PlatformWiring): ServiceDefinition {
  // read when the service asks, not now
  const withDirectory = <T extends object>(settings: T) =>
    Object.defineProperty(settings, 'DIRECTORY_GRPC_ADDRESS', { get: wiring.directoryAddress, enumerable: true });
  switch (name) {
    case 'directory':
      return (require('@kantoor/directory') as typeof import('@kantoor/directory')).directoryService;
    case 'document-intake':
      return (
        require('@kantoor/document-intake') as typeof import('@kantoor/document-intake')
      ).createDocumentIntakeService({
        settings: withDirectory({ INTAKE_SMTP_PORT: wiring.intakeSmtpPort ?? 0, INTAKE_SMTP_HOST: '127.0.0.1' }),
      });
    case 'archive':
      return (require('@kantoor/archive') as typeof import('@kantoor/archive')).createArchiveService({
        settings: withDirectory({}),
      });
    case 'invoicing':
      return (require('@kantoor/invoicing') as typeof import('@kantoor/invoicing')).invoicingService;
    case 'backup':
      return (require('@kantoor/backup') as typeof import('@kantoor/backup')).backupService;
    case 'accounting-connector':
      return (require('@kantoor/accounting-connector') as typeof import('@kantoor/accounting-connector'))
        .accountingConnectorService;
    case 'notification':
      return (require('@kantoor/notification') as typeof import('@kantoor/notification')).createNotificationService({
        settings: withDirectory({
          ...(wiring.smtp && { NOTIFICATION_SMTP_HOST: wiring.smtp.host, NOTIFICATION_SMTP_PORT: wiring.smtp.port }),
        }),
      });
    default:
      throw new Error(`no service named ${name}`);
  }
}
