/**
 * Wires the gateway for a mode: its database, the service clients, token verification (the gateway's own
 * tokens in embedded mode, the firm's OpenID Connect provider in cluster mode), the directory's access
 * policy and readiness on every service's gRPC health; then listens. Used by main.ts (its own process) and
 * by the embedded launcher (beside the services).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Database } from '@kantoor/database';
import type { EventTransport } from '@kantoor/events';
import { createServiceClient, waitUntilServing, systemCaller } from '@kantoor/grpc';
import type { Logger } from '@kantoor/logging';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import { ArchiveService } from '@kantoor/proto/kantoor/archive/v1/archive_pb';
import { DocumentIntakeService } from '@kantoor/proto/kantoor/document_intake/v1/document_intake_pb';
import { NotificationService } from '@kantoor/proto/kantoor/notification/v1/notification_pb';
import { createApp, type ServiceClients } from './app';
import { createHttpServer } from './http-server';
import { IdempotencyStore, purgeExpiredKeys } from './middleware/idempotency';
import { RequestsInFlight } from './middleware/requests-in-flight';
import { loadEmbeddedTokenIssuer } from './auth/embedded-tokens';
import { cacheAccessFacts, forgetAfterDirectoryChanges, forgetOnDirectoryEvents } from '@kantoor/directory-client';
import { authorizeWithPolicy, directoryAccessFacts, resolveCallerByEmail } from './auth/dossier-policy';
import { createOidcVerifier } from './auth/oidc';
import type { PasswordLogin } from './auth/password-login';
import { tokenSigningKeyFile, type GatewayConfig } from './config';
import type { ReadinessCheck } from './routes/operations';
import { migrateGatewayDatabase } from './index';

/** The gRPC service names whose health /readyz checks, by the service they belong to. */
const SERVICE_NAMES: Record<string, string> = {
  directory: 'kantoor.directory.v1.DirectoryService',
  'document-intake': 'kantoor.document_intake.v1.DocumentIntakeService',
  archive: 'kantoor.archive.v1.ArchiveService',
  invoicing: 'kantoor.invoicing.v1.InvoicingService',
  backup: 'kantoor.backup.v1.BackupService',
  'accounting-connector': 'kantoor.accounting_connector.v1.AccountingConnectorService',
  notification: 'kantoor.notification.v1.NotificationService',
};

export interface StartGatewayOptions {
  config: GatewayConfig;
  logger: Logger;
  /** the gateway's own database; migrated here */
  db: Database;
  /** host:port of each service's gRPC server, by service name */
  addresses: Record<string, string>;
  /** extra clients (embedded mode's mailbox) */
  extraServices?: Partial<ServiceClients>;
  shuttingDown?: () => boolean;
  /**
   * The directory's events, to keep access facts in the gateway: without them every request asks the
   * directory. `groupId` is this process's own consumer group (every replica must see every event).
   */
  directoryEvents?: { transport: EventTransport; groupId: string };
}

export interface RunningGateway {
  server: http.Server;
  port: number;
  close(): Promise<void>;
}

export async function startGateway(options: StartGatewayOptions): Promise<RunningGateway> {
  const { config, logger, db, addresses } = options;
  await migrateGatewayDatabase(db);
  const directoryClient = createServiceClient(DirectoryService, addresses.directory);
  const accessFacts = options.directoryEvents ? cacheAccessFacts(directoryAccessFacts(directoryClient)) : undefined;
  const directory = accessFacts ? forgetAfterDirectoryChanges(directoryClient, accessFacts) : directoryClient;
  const accessEvents =
    accessFacts &&
    (await forgetOnDirectoryEvents(options.directoryEvents!.transport, options.directoryEvents!.groupId, accessFacts));
  const notification = addresses.notification
    ? createServiceClient(NotificationService, addresses.notification)
    : undefined;
  const documentIntake = addresses['document-intake']
    ? createServiceClient(DocumentIntakeService, addresses['document-intake'])
    : undefined;
  const archive = addresses['archive'] ? createServiceClient(ArchiveService, addresses['archive']) : undefined;
  const services: ServiceClients = { directory, notification, documentIntake, archive, ...options.extraServices };

  const embedded = config.KANTOOR_MODE === 'embedded';
  const tokenIssuer = embedded
    ? await loadEmbeddedTokenIssuer({ keyFile: tokenSigningKeyFile(config), ttlSeconds: config.TOKEN_TTL_SECONDS })
    : undefined;
  const oidc = config.OIDC_ISSUER
    ? createOidcVerifier({
        issuer: config.OIDC_ISSUER,
        audience: config.OIDC_AUDIENCE,
        jwksUri: config.OIDC_JWKS_URI,
        resolveCaller: resolveCallerByEmail(directory),
      })
    : undefined;
  const passwordLogin: PasswordLogin | undefined = embedded
    ? async ({ email, password }) => {
        const identity = await directory.verifyPassword({ email, password }, { caller: systemCaller('gateway') });
        return {
          kind: identity.kind as 'staff' | 'portal_user',
          subjectId: identity.subjectId,
          firmId: identity.firmId,
          ...(identity.role && { role: identity.role as 'admin' | 'employee' | 'support' }),
          email: identity.email,
        };
      }
    : undefined;

  const readinessChecks: Record<string, ReadinessCheck> = Object.fromEntries(
    Object.entries(addresses)
      .filter(([name]) => SERVICE_NAMES[name])
      .map(([name, address]) => [name, () => waitUntilServing(address, SERVICE_NAMES[name], 500)]),
  );

  const inFlight = new RequestsInFlight();
  const app = createApp({
    inFlight,
    config,
    logger,
    db,
    services,
    tokenIssuer,
    tokenVerifiers: [tokenIssuer, oidc].filter((verifier) => verifier !== undefined),
    passwordLogin,
    authorize: authorizeWithPolicy(accessFacts?.fetch ?? directoryAccessFacts(directoryClient)),
    readinessChecks,
    shuttingDown: options.shuttingDown,
  });
  // requests born as Express objects (http-server.ts), in both modes
  const server = createHttpServer(app);
  // keep-alive longer than a typical load balancer's idle timeout, so it never reuses a socket we closed
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ port }, 'gateway listening');
  const idempotencyPurge = purgeExpiredKeys(
    new IdempotencyStore(db, { ttlHours: config.IDEMPOTENCY_TTL_HOURS }),
    logger,
  );
  return {
    server,
    port,
    async close() {
      // stop accepting, let requests in flight finish, then drop idle keep-alive connections
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
      // handlers whose client left are still running when the last connection closes
      await inFlight.idle();
      await idempotencyPurge.stop();
      await accessEvents?.stop();
      directoryClient.close();
      notification?.close();
      documentIntake?.close();
      archive?.close();
    },
  };
}
