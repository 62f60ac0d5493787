import '@kantoor/telemetry/register';
import path from 'node:path';
import { ConfigError } from '@kantoor/config';
import {
  defineService,
  runServiceMain,
  type EventHandlers,
  type HandledEvent,
  type ServiceDefinition,
} from '@kantoor/service-runtime';
import { directoryDossierRecipients, type DossierRecipients } from './adapters/dossier-recipients';
import { loadSecretBox } from './adapters/secret-key';
import { smtpMailSender, type MailSender } from './adapters/smtp-transport';
import { webhookPoster, type WebhookPoster } from './adapters/webhook-http';
import { notificationSettings, readNotificationConfig, type NotificationConfig } from './config';
import { directoryEventHandlers } from './entry-points/events/directory-events';
import { documentIntakeEventHandlers } from './entry-points/events/document-intake-events';
import { webhookEventHandlers } from './entry-points/events/webhook-events';
import { notificationRpc } from './entry-points/grpc/notification-rpc';
import { DeliveryWorker, type DeliveryWorkerOptions } from './entry-points/worker/delivery-worker';
import { WebhookWorker, type WebhookWorkerOptions } from './entry-points/worker/webhook-worker';

export interface NotificationOptions {
  /** settings given in code (the embedded launcher, tests); the environment fills in the rest */
  settings?: Partial<NotificationConfig>;
  /** the cascade; default: the directory at DIRECTORY_GRPC_ADDRESS, when set */
  recipients?: DossierRecipients;
  sender?: MailSender;
  /** tests: runs between the SMTP server's acceptance and the record of it */
  afterSmtpAccept?: DeliveryWorkerOptions['afterSmtpAccept'];
  /** tests: sends webhook attempts instead of HTTP(S) */
  post?: WebhookPoster;
  /** tests: runs between a webhook receiver's answer and the record of it */
  afterWebhookAnswer?: WebhookWorkerOptions['afterAnswer'];
}

/**
 * Both default to true in embedded mode (one machine, where a partner's test receiver listens on localhost, often
 * without TLS) and to false in cluster mode.
 */
const webhookAddressRules = (config: NotificationConfig) => ({
  allowHttp: config.NOTIFICATION_WEBHOOK_ALLOW_HTTP ?? config.KANTOOR_MODE === 'embedded',
  allowPrivateNetworks: config.NOTIFICATION_WEBHOOK_ALLOW_PRIVATE_NETWORKS ?? config.KANTOOR_MODE === 'embedded',
});

/**
 * Handlers of one event type from several sets run one after the other (the same event may cause a mail and a
 * webhook); a spread would keep only the last.
 */
function allHandlers(...sets: EventHandlers[]): EventHandlers {
  const combined: EventHandlers = {};
  for (const [type, handle] of sets.flatMap((set) => Object.entries(set))) {
    const before = combined[type];
    combined[type] = before
      ? async (event) => {
          await before(event);
          await handle(event);
        }
      : handle;
  }
  return combined;
}

/**
 * E-mail with the firm's routing cascade, templates per language and a delivery log. Event consumers record
 * what is to be sent; the delivery worker sends it through the firm's SMTP server or the platform's default.
 */
export function createNotificationService(options: NotificationOptions = {}): ServiceDefinition {
  return defineService({
    name: 'notification',
    migrationsDir: path.join(__dirname, '..', 'migrations'),
    settings: notificationSettings,
    async build({ db, logger, platform, objectStore }) {
      const config = { ...readNotificationConfig(), ...options.settings };
      const box = await loadSecretBox({ configured: config.NOTIFICATION_SECRET_KEY, platform, objectStore });
      const recipients =
        options.recipients ??
        (config.DIRECTORY_GRPC_ADDRESS ? directoryDossierRecipients(config.DIRECTORY_GRPC_ADDRESS) : undefined);
      const sender =
        options.sender ??
        smtpMailSender({
          timeoutMs: config.NOTIFICATION_SMTP_TIMEOUT_MS,
          maxConnections: config.NOTIFICATION_SMTP_CONNECTIONS,
        });
      const worker = new DeliveryWorker({
        db,
        logger,
        sender,
        box,
        recipients,
        policy: {
          maxAttempts: config.NOTIFICATION_MAX_ATTEMPTS,
          retryBaseMs: config.NOTIFICATION_RETRY_BASE_MS,
          retryMaxMs: config.NOTIFICATION_RETRY_MAX_MS,
        },
        publicUrl: config.NOTIFICATION_PUBLIC_URL,
        batchSize: config.NOTIFICATION_BATCH_SIZE,
        pollMs: config.NOTIFICATION_POLL_MS,
        leaseMs: config.NOTIFICATION_SENDING_LEASE_MS,
        singleWorker: db.dialect === 'pglite',
        defaultSmtp: config.NOTIFICATION_SMTP_HOST
          ? {
              host: config.NOTIFICATION_SMTP_HOST,
              port: config.NOTIFICATION_SMTP_PORT,
              tls: config.NOTIFICATION_SMTP_TLS,
              username: config.NOTIFICATION_SMTP_USER,
              password: config.NOTIFICATION_SMTP_PASSWORD,
              senderAddress: config.NOTIFICATION_SENDER,
            }
          : undefined,
        afterSmtpAccept: options.afterSmtpAccept,
      });
      const rules = webhookAddressRules(config);
      if (config.NOTIFICATION_WEBHOOK_TIMEOUT_MS >= config.NOTIFICATION_SENDING_LEASE_MS) {
        throw new ConfigError([
          'NOTIFICATION_WEBHOOK_TIMEOUT_MS must be shorter than NOTIFICATION_SENDING_LEASE_MS: a webhook attempt still running when its lease ends is sent again beside it',
        ]);
      }
      const webhookWorker = new WebhookWorker({
        db,
        logger,
        box,
        post: options.post ?? webhookPoster({ timeoutMs: config.NOTIFICATION_WEBHOOK_TIMEOUT_MS, rules }),
        retryScheduleSeconds: config.NOTIFICATION_WEBHOOK_RETRY_SCHEDULE,
        concurrency: config.NOTIFICATION_WEBHOOK_CONCURRENCY,
        pollMs: config.NOTIFICATION_POLL_MS,
        leaseMs: config.NOTIFICATION_SENDING_LEASE_MS,
        singleWorker: db.dialect === 'pglite',
        afterAnswer: options.afterWebhookAnswer,
      });
      await worker.start();
      await webhookWorker.start();
      const intentContext = { box, messageIdDomain: config.NOTIFICATION_MESSAGE_ID_DOMAIN };
      const handlers = allHandlers(
        directoryEventHandlers(intentContext),
        documentIntakeEventHandlers(intentContext),
        webhookEventHandlers(),
      );
      // a handler's intent commits with the consumer's transaction, just after the handler returns
      // (one timer for a burst of events, not one per event)
      let wakeScheduled = false;
      const wakeSoon = () => {
        if (wakeScheduled) return;
        wakeScheduled = true;
        setTimeout(() => {
          wakeScheduled = false;
          worker.wake();
          webhookWorker.wake();
        }, 5).unref();
      };
      const eventHandlers: EventHandlers = Object.fromEntries(
        Object.entries(handlers).map(([type, handle]) => [type, (event: HandledEvent) => handle(event).then(wakeSoon)]),
      );
      return {
        grpc: [
          notificationRpc(db, box, {
            rules,
            secretOverlapHours: config.NOTIFICATION_WEBHOOK_SECRET_OVERLAP_HOURS,
            onQueued: () => webhookWorker.wake(),
          }),
        ],
        eventHandlers,
        async onStop() {
          await Promise.all([worker.stop(), webhookWorker.stop()]);
          sender.close();
          recipients?.close();
        },
      };
    },
  });
}

export const notificationService = createNotificationService();

if (require.main === module) void runServiceMain(notificationService, { needsObjects: false });
