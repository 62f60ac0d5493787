import { commonSettings, readConfig, settings, type ConfigOf } from '@kantoor/config';

/** The notification service's settings (see README.md); read once when the service is built. */
export const notificationSettings = {
  KANTOOR_MODE: commonSettings.KANTOOR_MODE,
  DIRECTORY_GRPC_ADDRESS: settings.string({
    optional: true,
    description:
      'gRPC address of the directory, e.g. kantoor-directory:50051: the routing cascade for events without a resolved recipient',
  }),
  NOTIFICATION_SECRET_KEY: settings.string({
    optional: true,
    secret: true,
    description:
      'AES-256-GCM key for SMTP passwords and secrets in queued mails: 32 bytes, base64 or hex; required in cluster mode, generated into the data folder in embedded mode',
  }),
  NOTIFICATION_SMTP_HOST: settings.string({
    optional: true,
    description: 'the default SMTP server, for firms without their own',
  }),
  NOTIFICATION_SMTP_PORT: settings.port({ default: 25 }),
  NOTIFICATION_SMTP_TLS: settings.oneOf(['none', 'starttls', 'tls'] as const, { default: 'none' }),
  NOTIFICATION_SMTP_USER: settings.string({ optional: true }),
  NOTIFICATION_SMTP_PASSWORD: settings.string({ optional: true, secret: true }),
  NOTIFICATION_SENDER: settings.string({
    default: 'no-reply@kantoor.localhost',
    description: "sender address of the default server; the firm's name is shown as the sender's name",
  }),
  NOTIFICATION_PUBLIC_URL: settings.url({
    default: 'http://localhost:8080',
    protocols: ['http', 'https'],
    description: 'where people open the links in mails (activation, portal)',
  }),
  NOTIFICATION_MESSAGE_ID_DOMAIN: settings.string({
    default: 'kantoor.localhost',
    description: 'right-hand side of every Message-ID',
  }),
  NOTIFICATION_MAX_ATTEMPTS: settings.integer({ default: 8, min: 1, max: 100 }),
  NOTIFICATION_RETRY_BASE_MS: settings.integer({
    default: 30_000,
    min: 10,
    description: 'first retry delay; doubles per attempt',
  }),
  NOTIFICATION_RETRY_MAX_MS: settings.integer({ default: 3_600_000, min: 10 }),
  NOTIFICATION_SMTP_TIMEOUT_MS: settings.integer({
    default: 30_000,
    min: 100,
    description: 'connection, greeting and socket timeout',
  }),
  NOTIFICATION_SMTP_CONNECTIONS: settings.integer({
    default: 5,
    min: 1,
    max: 100,
    description: 'connections kept open per SMTP server',
  }),
  NOTIFICATION_SENDING_LEASE_MS: settings.integer({
    default: 300_000,
    min: 1000,
    description: 'cluster mode: a mail `sending` this long belongs to a replica that died and is sent again',
  }),
  NOTIFICATION_BATCH_SIZE: settings.integer({
    default: 20,
    min: 1,
    max: 500,
    description: 'mails claimed and sent together',
  }),
  NOTIFICATION_POLL_MS: settings.integer({
    default: 1000,
    min: 10,
    description: 'how often the worker looks for due mails',
  }),
  NOTIFICATION_WEBHOOK_TIMEOUT_MS: settings.integer({
    default: 10_000,
    min: 100,
    max: 120_000,
    description:
      'a webhook attempt (connecting, waiting for the answer, reading it) ends after this long and is tried again later',
  }),
  NOTIFICATION_WEBHOOK_CONCURRENCY: settings.integer({
    default: 10,
    min: 1,
    max: 200,
    description: 'webhook attempts in flight at once (per replica)',
  }),
  NOTIFICATION_WEBHOOK_RETRY_SCHEDULE: settings.numbers({
    default: [5, 300, 1800, 7200, 18000, 36000, 36000],
    min: 0,
    maxItems: 50,
    description:
      'seconds to wait after the 1st, 2nd, ... failed attempt of a webhook delivery before the next; when used up the delivery fails',
  }),
  NOTIFICATION_WEBHOOK_SECRET_OVERLAP_HOURS: settings.integer({
    default: 24,
    min: 0,
    max: 720,
    description: 'how long a rotated-out webhook secret keeps signing beside the new one',
  }),
  NOTIFICATION_WEBHOOK_ALLOW_HTTP: settings.boolean({
    optional: true,
    description: 'webhooks to http:// URLs; default: true in embedded mode, false in cluster mode',
  }),
  NOTIFICATION_WEBHOOK_ALLOW_PRIVATE_NETWORKS: settings.boolean({
    optional: true,
    description:
      'webhooks to loopback, private (RFC 1918), link-local, CGNAT, unique-local and multicast addresses; default: true in embedded mode, false in cluster mode',
  }),
};

export type NotificationConfig = ConfigOf<typeof notificationSettings>;

export const readNotificationConfig = (env: NodeJS.ProcessEnv = process.env): NotificationConfig =>
  readConfig(notificationSettings, env);
