import { readConfig, settings, type ConfigOf } from '@kantoor/config';

/** The document-intake service's settings (see README.md); read once when the service is built. */
export const intakeSettings = {
  DIRECTORY_GRPC_ADDRESS: settings.string({
    optional: true,
    description: 'gRPC address of the directory (access facts, intake addresses), e.g. kantoor-directory:50051',
  }),
  INTAKE_SMTP_PORT: settings.integer({
    default: 0,
    min: 0,
    max: 65535,
    description: 'port of the SMTP intake endpoint; 0: off',
  }),
  INTAKE_SMTP_HOST: settings.string({ default: '0.0.0.0', description: 'address the SMTP intake endpoint listens on' }),
  INTAKE_MAX_FILE_BYTES: settings.integer({
    default: 50 * 1024 * 1024,
    min: 1024,
    description: 'largest accepted file (PDF, JPEG, UBL) and mail',
  }),
  INTAKE_LINK_SECRET: settings.string({
    optional: true,
    secret: true,
    description:
      'HMAC key of the e-mailed download links (at least 32 characters); required in cluster mode, generated once into the data folder otherwise',
  }),
  INTAKE_LINK_TTL_HOURS: settings.integer({
    default: 72,
    min: 1,
    max: 720,
    description: 'how long an e-mailed download link works',
  }),
  INTAKE_PUBLIC_URL: settings.string({
    default: 'http://localhost:8080',
    description: 'base URL of the gateway for download links',
  }),
};

export type IntakeConfig = ConfigOf<typeof intakeSettings>;

export const readIntakeConfig = (env: NodeJS.ProcessEnv = process.env): IntakeConfig => readConfig(intakeSettings, env);
