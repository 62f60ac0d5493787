import '@kantoor/telemetry/register';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { forgetOnDirectoryEvents } from '@kantoor/directory-client';
import { ConfigError } from '@kantoor/config';
import { defineService, runServiceMain, serviceSecret, type ServiceDefinition } from '@kantoor/service-runtime';
import { createUblThread } from '@kantoor/e-invoice';
import { directoryAt, withoutDirectory, type Directory } from './adapters/directory';
import { intakeSettings, readIntakeConfig, type IntakeConfig } from './config';
import { DocumentActions } from './domain/document-actions';
import { DownloadLinks, HandOver } from './domain/hand-over';
import type { AccessGuard } from './domain/ports';
import type { IntakeStore } from './domain/receive-document';
import {
  clientCredentialsTokens,
  isSafeTokenUrl,
  parseServiceAccountKey,
  serviceAccountTokens,
  type ServiceAccountKey,
} from './adapters/client-credentials';
import type { ImapIntake, ImapServer } from './entry-points/imap/intake-imap-poller';
import { directoryEventHandlers } from './entry-points/events/directory-events';
import { documentIntakeRpc } from './entry-points/grpc/document-intake-rpc';

/**
 * The SMTP endpoint's modules (smtp-server, mailparser: about 25 MB of memory) are loaded only when the
 * endpoint is on (INTAKE_SMTP_PORT set); it is off by default.
 */
const smtpEndpoint = () =>
  require('./entry-points/smtp/intake-smtp-server') as typeof import('./entry-points/smtp/intake-smtp-server');
/** Likewise the IMAP poller's (imapflow), loaded only when INTAKE_IMAP_HOST is set. */
const imapPoller = () =>
  require('./entry-points/imap/intake-imap-poller') as typeof import('./entry-points/imap/intake-imap-poller');

export interface DocumentIntakeOptions {
  /** settings given in code (tests, the embedded launcher); the environment fills in the rest */
  settings?: Partial<IntakeConfig>;
  directory?: Directory;
  /** tests: learn the SMTP port when INTAKE_SMTP_PORT asks for any free one */
  onSmtpListening?: (port: number) => void;
  /** tests: poll the IMAP mailbox when they choose (INTAKE_IMAP_HOST set) */
  onImapIntake?: (intake: ImapIntake) => void;
}

/** Clients hand in purchase, sales and miscellaneous documents (PDF, JPEG, UBL) by upload, scan, API and e-mail; the accountant downloads and processes them. */
export function createDocumentIntakeService(options: DocumentIntakeOptions = {}): ServiceDefinition {
  return defineService({
    name: 'document-intake',
    migrationsDir: path.join(__dirname, '..', 'migrations'),
    settings: intakeSettings,
    async build({ db, logger, platform, objectStore, eventsWritten }) {
      const config = { ...readIntakeConfig(), ...options.settings };
      const imapServer = config.INTAKE_IMAP_HOST ? imapServerOf(config) : undefined;
      const configured =
        options.directory ??
        (config.DIRECTORY_GRPC_ADDRESS
          ? directoryAt(config.DIRECTORY_GRPC_ADDRESS, { keepAccessFacts: true })
          : undefined);
      if (!configured)
        logger.warn("DIRECTORY_GRPC_ADDRESS is not set: every call but the system's is refused until it is");
      const directory = configured ?? withoutDirectory;
      // links are e-mailed and used days later: the key must survive a restart
      const secret = await serviceSecret(platform, {
        service: 'document-intake',
        setting: 'INTAKE_LINK_SECRET',
        configured: config.INTAKE_LINK_SECRET,
        generate: () => randomBytes(32).toString('base64url'),
      });
      const intake: IntakeStore = {
        db,
        store: await objectStore(),
        eventsWritten,
        maxFileBytes: config.INTAKE_MAX_FILE_BYTES,
        ubl: createUblThread({ maxMemoryMb: config.INTAKE_UBL_MAX_MEMORY_MB }),
      };
      // firms also become known to the SMTP endpoint through their staff's calls: a firm registered before this
      // service first subscribed (in-process transport, new consumer group) would otherwise never be reachable
      const seenFirms = new Set<string>();
      const guard: AccessGuard = async (actor, permission, dossierId) => {
        await directory.guard(actor, permission, dossierId);
        if (actor.firmId && !seenFirms.has(actor.firmId)) {
          await db.query('INSERT INTO known_firm (firm_id) VALUES ($1) ON CONFLICT DO NOTHING', [actor.firmId]);
          seenFirms.add(actor.firmId);
        }
      };
      const actions = new DocumentActions(intake, guard);
      const handOver = new HandOver(intake, guard, actions, new DownloadLinks(secret), directory.dossierLabel, {
        publicUrl: config.INTAKE_PUBLIC_URL,
        linkTtlHours: config.INTAKE_LINK_TTL_HOURS,
      });
      const knownFirms = async () =>
        (await db.query<{ firm_id: string }>('SELECT firm_id FROM known_firm')).rows.map((row) => row.firm_id);
      const smtp =
        config.INTAKE_SMTP_PORT > 0 || options.onSmtpListening
          ? await smtpEndpoint().startIntakeSmtp({
              intake,
              directory,
              logger,
              host: config.INTAKE_SMTP_HOST,
              port: config.INTAKE_SMTP_PORT,
              knownFirms,
            })
          : undefined;
      if (smtp) {
        logger.info({ port: smtp.port }, 'SMTP intake listening');
        options.onSmtpListening?.(smtp.port);
      }
      // every replica keeps its own access facts, so each needs every directory event: a group of its own.
      // Subscribed last, so that nothing after it can fail and leave it behind; no call is served before.
      const accessEvents =
        directory.accessFacts &&
        (await forgetOnDirectoryEvents(
          platform.transport,
          `document-intake-access-${os.hostname()}`,
          directory.accessFacts,
        ));
      // after everything that can fail: a poll may store mail at once
      const imap = imapServer
        ? imapPoller().startImapIntake({
            intake,
            directory,
            logger,
            knownFirms,
            server: imapServer,
            mailbox: config.INTAKE_IMAP_MAILBOX,
            processedMailbox: config.INTAKE_IMAP_PROCESSED_MAILBOX,
            refusedMailbox: config.INTAKE_IMAP_REFUSED_MAILBOX,
            pollSeconds: config.INTAKE_IMAP_POLL_SECONDS,
          })
        : undefined;
      if (imap) {
        logger.info(
          {
            host: config.INTAKE_IMAP_HOST,
            mailbox: config.INTAKE_IMAP_MAILBOX,
            every: config.INTAKE_IMAP_POLL_SECONDS,
          },
          'IMAP intake polling',
        );
        options.onImapIntake?.(imap);
      }
      return {
        grpc: [documentIntakeRpc({ intake, guard, actions, handOver })],
        eventHandlers: directoryEventHandlers(),
        async onStop() {
          await smtp?.stop();
          await imap?.stop();
          await accessEvents?.stop();
          await intake.ubl?.close();
          if (!options.directory) directory.close();
        },
      };
    },
  });
}

/**
 * The IMAP server of the settings, with its login: user and password, user and an OAuth 2.0 client, or user and a
 * Google service account acting as that user.
 */
function imapServerOf(config: IntakeConfig): ImapServer {
  const auth = config.INTAKE_IMAP_AUTH;
  const required = {
    password: ['INTAKE_IMAP_USER', 'INTAKE_IMAP_PASSWORD'] as const,
    oauth2: [
      'INTAKE_IMAP_USER',
      'INTAKE_IMAP_OAUTH_TOKEN_URL',
      'INTAKE_IMAP_OAUTH_CLIENT_ID',
      'INTAKE_IMAP_OAUTH_CLIENT_SECRET',
    ] as const,
    'google-service-account': ['INTAKE_IMAP_USER', 'INTAKE_IMAP_GOOGLE_SERVICE_ACCOUNT_KEY'] as const,
  }[auth];
  const problems: string[] = required
    .filter((name) => !config[name])
    .map(
      (name) =>
        `${name} is required when INTAKE_IMAP_HOST is set${auth === 'password' ? '' : ` and INTAKE_IMAP_AUTH is ${auth}`}`,
    );
  if (auth === 'oauth2' && config.INTAKE_IMAP_OAUTH_TOKEN_URL && !isSafeTokenUrl(config.INTAKE_IMAP_OAUTH_TOKEN_URL))
    problems.push('INTAKE_IMAP_OAUTH_TOKEN_URL must be an https URL: the client secret is sent to it');
  let serviceAccount: ServiceAccountKey | undefined;
  if (auth === 'google-service-account' && config.INTAKE_IMAP_GOOGLE_SERVICE_ACCOUNT_KEY) {
    try {
      serviceAccount = parseServiceAccountKey(config.INTAKE_IMAP_GOOGLE_SERVICE_ACCOUNT_KEY);
    } catch (error) {
      problems.push(`INTAKE_IMAP_GOOGLE_SERVICE_ACCOUNT_KEY ${(error as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const user = config.INTAKE_IMAP_USER!;
  return {
    host: config.INTAKE_IMAP_HOST!,
    port: config.INTAKE_IMAP_PORT,
    security: config.INTAKE_IMAP_SECURITY,
    user,
    login:
      auth === 'oauth2'
        ? {
            tokens: clientCredentialsTokens({
              tokenUrl: config.INTAKE_IMAP_OAUTH_TOKEN_URL!,
              clientId: config.INTAKE_IMAP_OAUTH_CLIENT_ID!,
              clientSecret: config.INTAKE_IMAP_OAUTH_CLIENT_SECRET!,
              scope: config.INTAKE_IMAP_OAUTH_SCOPE,
            }),
          }
        : serviceAccount
          ? { tokens: serviceAccountTokens(serviceAccount, user) }
          : { password: config.INTAKE_IMAP_PASSWORD! },
  };
}

export const documentIntakeService = createDocumentIntakeService();

if (require.main === module) void runServiceMain(documentIntakeService, { needsObjects: true });
