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
  INTAKE_IMAP_HOST: settings.string({
    optional: true,
    description: 'IMAP server whose mailbox is polled for intake mail (host name only); unset: no IMAP polling',
  }),
  INTAKE_IMAP_PORT: settings.integer({ default: 993, min: 1, max: 65535, description: 'port of the IMAP server' }),
  INTAKE_IMAP_SECURITY: settings.oneOf(['tls', 'starttls', 'none'] as const, {
    default: 'tls',
    description:
      'tls: TLS from the first byte (993); starttls: plain connection upgraded, refused without STARTTLS; none: no encryption',
  }),
  INTAKE_IMAP_USER: settings.string({
    optional: true,
    description:
      'IMAP user name (with oauth2 or google-service-account: the mailbox address); required with INTAKE_IMAP_HOST',
  }),
  INTAKE_IMAP_AUTH: settings.oneOf(['password', 'oauth2', 'google-service-account'] as const, {
    default: 'password',
    description:
      'password: INTAKE_IMAP_PASSWORD; oauth2: an access token of a client credentials grant (INTAKE_IMAP_OAUTH_*), as Exchange Online needs; google-service-account: an access token of a Google Workspace service account with domain-wide delegation (INTAKE_IMAP_GOOGLE_SERVICE_ACCOUNT_KEY) acting as INTAKE_IMAP_USER',
  }),
  INTAKE_IMAP_PASSWORD: settings.string({
    optional: true,
    secret: true,
    description: 'IMAP password; required with INTAKE_IMAP_HOST and INTAKE_IMAP_AUTH=password',
  }),
  INTAKE_IMAP_OAUTH_TOKEN_URL: settings.url({
    optional: true,
    protocols: ['https', 'http'],
    description:
      'OAuth 2.0 token endpoint (https), e.g. https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token; required with oauth2',
  }),
  INTAKE_IMAP_OAUTH_CLIENT_ID: settings.string({
    optional: true,
    description: 'OAuth 2.0 client id; required with oauth2',
  }),
  INTAKE_IMAP_OAUTH_CLIENT_SECRET: settings.string({
    optional: true,
    secret: true,
    description: 'OAuth 2.0 client secret; required with oauth2',
  }),
  INTAKE_IMAP_OAUTH_SCOPE: settings.string({
    default: 'https://outlook.office365.com/.default',
    description: 'scope asked for with oauth2',
  }),
  INTAKE_IMAP_GOOGLE_SERVICE_ACCOUNT_KEY: settings.string({
    optional: true,
    secret: true,
    description:
      "the service account's JSON key file (its content); required with google-service-account. The account needs domain-wide delegation for the scope https://mail.google.com/",
  }),
  INTAKE_IMAP_MAILBOX: settings.string({ default: 'INBOX', description: 'the mailbox (folder) polled' }),
  INTAKE_IMAP_PROCESSED_MAILBOX: settings.string({
    default: 'Kantoor processed',
    description: 'where a mail goes once all its documents are stored (created when missing)',
  }),
  INTAKE_IMAP_REFUSED_MAILBOX: settings.string({
    default: 'Kantoor refused',
    description: 'where a mail goes that no dossier receives or that is too large (created when missing)',
  }),
  INTAKE_IMAP_POLL_SECONDS: settings.integer({
    default: 60,
    min: 5,
    max: 3600,
    description: 'pause between two polls of the mailbox',
  }),
  INTAKE_MAX_FILE_BYTES: settings.integer({
    default: 50 * 1024 * 1024,
    min: 1024,
    description: 'largest accepted file (PDF, JPEG, UBL) and mail',
  }),
  INTAKE_UBL_MAX_MEMORY_MB: settings.integer({
    default: 256,
    min: 32,
    max: 4096,
    description:
      'memory of the thread that reads and renders UBL files; a file that needs more is refused (ubl_too_complex)',
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
