/** What the notification tests share: the service on an in-memory platform, mailing into a real local SMTP sink. */
import { create, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { anyPack, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { randomUUID } from 'node:crypto';
import { encodeEnvelope, InProcessTransport, topicOf } from '@kantoor/events';
import { createServiceClient, type Caller } from '@kantoor/grpc';
import type { Logger } from '@kantoor/logging';
import { StaffInvitedSchema } from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { EventEnvelopeSchema } from '@kantoor/proto/kantoor/events/v1/envelope_pb';
import { NotificationService } from '@kantoor/proto/kantoor/notification/v1/notification_pb';
import { embeddedPlatform, startService, type RunningService } from '@kantoor/service-runtime';
import { startSmtpSink, type SmtpSink } from '@kantoor/smtp-sink';
import { eventually, temporaryFolder } from '@kantoor/testing';
import { createNotificationService, type NotificationOptions } from '../src';

export const SECRET_KEY = Buffer.alloc(32, 7).toString('base64');

export interface Harness {
  service: RunningService;
  transport: InProcessTransport;
  sink: SmtpSink;
  client: ReturnType<typeof createServiceClient<typeof NotificationService>>;
  dataDir: string;
  stop(): Promise<void>;
}

/** Settings for fast tests: short polls and back-off, the sink as the platform's default server. */
export function testSettings(
  sink: { host: string; port: number } | undefined,
  extra: NonNullable<NotificationOptions['settings']> = {},
) {
  return {
    NOTIFICATION_SECRET_KEY: SECRET_KEY,
    NOTIFICATION_SMTP_HOST: sink?.host,
    NOTIFICATION_SMTP_PORT: sink?.port ?? 25,
    NOTIFICATION_POLL_MS: 20,
    NOTIFICATION_RETRY_BASE_MS: 20,
    NOTIFICATION_RETRY_MAX_MS: 100,
    NOTIFICATION_SMTP_TIMEOUT_MS: 2000,
    NOTIFICATION_PUBLIC_URL: 'https://kantoor.example',
    // webhooks: retried quickly (a receiver on 127.0.0.1 over http is allowed: embedded mode's defaults)
    NOTIFICATION_WEBHOOK_RETRY_SCHEDULE: [0.05, 0.05],
    NOTIFICATION_WEBHOOK_TIMEOUT_MS: 2000,
    ...extra,
  };
}

export async function startNotification(
  options: NotificationOptions & { sink?: SmtpSink; dataDir?: string; inMemory?: boolean; logger?: Logger } = {},
): Promise<Harness> {
  const sink = options.sink ?? (await startSmtpSink());
  const folder = options.dataDir ? undefined : await temporaryFolder('kantoor-notification-');
  const dataDir = options.dataDir ?? folder!.path;
  const transport = new InProcessTransport();
  const definition = createNotificationService({
    ...options,
    settings: { ...testSettings(sink), ...options.settings },
  });
  const platform = embeddedPlatform({ dataDir, inMemory: options.inMemory ?? true, transport, logLevel: 'silent' });
  const service = await startService(definition, platform, { host: '127.0.0.1', port: 0, logger: options.logger });
  const client = createServiceClient(NotificationService, `127.0.0.1:${service.port}`);
  return {
    service,
    transport,
    sink,
    client,
    dataDir,
    async stop() {
      client.close();
      await service.stop();
      await transport.close();
      if (!options.sink) await sink.stop();
      await folder?.remove();
    },
  };
}

/** Delivers an event as the directory's relay would; the same `id` twice is a redelivery. */
export async function deliverEvent<Desc extends DescMessage>(
  transport: InProcessTransport,
  source: string,
  schema: Desc,
  value: MessageInitShape<Desc> & { firmId: string },
  id: string = randomUUID(),
): Promise<string> {
  const envelope = create(EventEnvelopeSchema, {
    id,
    type: schema.typeName,
    source,
    occurredAt: timestampFromDate(new Date()),
    firmId: value.firmId,
    payload: anyPack(schema, create(schema, value)),
  });
  await transport.publish([
    {
      topic: topicOf(source),
      key: value.firmId,
      value: encodeEnvelope(envelope),
      headers: { 'event-id': id, 'event-type': schema.typeName },
    },
  ]);
  return id;
}

/** A staff member of the firm invited: one activation mail, to els@firm.example; the event's id. */
export const inviteStaff = (transport: InProcessTransport, firmId: string): Promise<string> =>
  deliverEvent(transport, 'directory', StaffInvitedSchema, {
    firmId,
    staffId: randomUUID(),
    name: 'Els',
    email: 'els@firm.example',
    role: 'employee',
    activationToken: 't',
  });

/** The firm's own SMTP server: the one at 127.0.0.1:`port`, without TLS. */
export const useSmtpServer = (client: Harness['client'], firmId: string, port: number) =>
  client.setSmtpSettings(
    { host: '127.0.0.1', port, tls: 'none', username: '', senderAddress: 'mail@firm.example', senderName: '' },
    { caller: admin(firmId) },
  );

/** An API key of the firm, with the scopes given. */
export const apiKey = (firmId: string, scopes: string[]): Caller => ({
  kind: 'api_key',
  subjectId: randomUUID(),
  firmId,
  scopes,
});

export const admin = (firmId: string, overrides: Partial<Caller> = {}): Caller => ({
  kind: 'staff',
  subjectId: randomUUID(),
  firmId,
  role: 'admin',
  scopes: [],
  ...overrides,
});

/** Waits until the sink holds `count` mails (or the time is up) and returns them, oldest first. */
export async function mailsIn(sink: SmtpSink, count: number, timeoutMs = 5000) {
  const found = await eventually(
    async () => sink.messages(),
    (messages) => messages.length >= count,
    timeoutMs,
  );
  return [...found].reverse().map((summary) => sink.message(summary.id)!);
}

export const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
