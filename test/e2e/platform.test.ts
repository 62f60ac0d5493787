import * as grpc from '@grpc/grpc-js';
import { startEmbeddedPlatform, type EmbeddedPlatform } from '@kantoor/embedded';
import { CALLER_METADATA_KEY, encodeCaller, grpcServiceDefinition } from '@kantoor/grpc';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import { decodeEnvelope, unpackPayload, type EventRecord, type Subscription } from '@kantoor/events';
import { eventually, temporaryFolder } from '@kantoor/testing';
import { pdf } from '../../services/document-intake/test/intake-harness';
import { verifiedWith } from '../../services/notification/test/standard-webhooks';
import { startWebhookReceiver } from '../../services/notification/test/webhook-receiver';
import { activateFromMail, call, login, mailsTo } from './helpers';

describe('the embedded platform end to end: gateway → gRPC → outbox → event → consumer', () => {
  let platform: EmbeddedPlatform;
  let folder: { path: string; remove(): Promise<void> };
  let token: string;
  // every directory event as the relay published it, seen by a consumer group of the test's own
  const published: EventRecord[] = [];
  let observer: Subscription;

  beforeAll(async () => {
    folder = await temporaryFolder();
    platform = await startEmbeddedPlatform({
      dataDir: folder.path,
      port: 0,
      grpcBasePort: 0,
      smtpSinkPort: 0,
      logLevel: 'silent',
      inMemory: true,
    });
    observer = await platform.transport.subscribe({
      groupId: 'e2e-observer',
      topics: ['kantoor.directory.v1'],
      handler: async (record) => void published.push(record),
    });
    token = await login(platform.url, platform.demo.email, platform.demo.password);
  }, 90_000);
  afterAll(async () => {
    await observer?.stop();
    await platform?.stop();
    await folder?.remove();
  });

  const notificationsFor = async (address: string) => {
    const { body } = await call(platform.url, token, 'GET', '/v1/notifications/deliveries?pageSize=200');
    return (body.items as Array<{ recipient: string }>).filter((delivery) => delivery.recipient === address);
  };
  const staffInvited = () =>
    published.filter((record) => decodeEnvelope(record.value).type === 'kantoor.directory.v1.StaffInvited');

  test('an admin invites a colleague through the gateway and exactly one activation mail is sent', async () => {
    const invited = await call(platform.url, token, 'POST', '/v1/staff', {
      name: 'Els Janssens',
      email: 'els@demo.example',
      role: 'employee',
    });
    expect(invited.status).toBe(201);
    expect(invited.body).toMatchObject({ email: 'els@demo.example', role: 'employee', status: 'invited' });

    const mails = await eventually(
      () => mailsTo(platform.url, token, 'els@demo.example'),
      (found) => found.length > 0,
      10_000,
    );
    expect(mails).toHaveLength(1);
    expect(mails[0].subject).toMatch(/activate/i);
    expect(await notificationsFor('els@demo.example')).toHaveLength(1);
  });

  test("the request's id travels with the event its change wrote (X-Request-Id → envelope and record header)", async () => {
    const requestId = 'e2e-request-7f3a9c';
    const invited = await call(
      platform.url,
      token,
      'POST',
      '/v1/staff',
      { name: 'Wim Claes', email: 'wim@demo.example', role: 'employee' },
      { 'x-request-id': requestId },
    );
    expect(invited.status).toBe(201);
    const record = await eventually(
      async () =>
        staffInvited().find(
          (candidate) =>
            (unpackPayload(decodeEnvelope(candidate.value)) as unknown as { email: string }).email ===
            'wim@demo.example',
        ),
      (found) => found !== undefined,
      10_000,
    );
    expect(decodeEnvelope(record!.value).requestId).toBe(requestId);
    expect(record!.headers['request-id']).toBe(requestId);
  });

  test('the same event delivered twice has one effect', async () => {
    await call(platform.url, token, 'POST', '/v1/staff', {
      name: 'Jan Peeters',
      email: 'jan@demo.example',
      role: 'support',
    });
    await eventually(
      () => mailsTo(platform.url, token, 'jan@demo.example'),
      (found) => found.length > 0,
      10_000,
    );

    // deliver the directory's StaffInvited record again, exactly as the relay published it
    const invitation = staffInvited().at(-1)!;
    await platform.transport.publish([invitation]);

    expect(await notificationsFor('jan@demo.example')).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await mailsTo(platform.url, token, 'jan@demo.example')).toHaveLength(1);
  });

  test('a refusal reaches the caller as problem+json and changes nothing', async () => {
    const before = staffInvited().length;
    const duplicate = await call(platform.url, token, 'POST', '/v1/staff', {
      name: 'Els Again',
      email: 'ELS@demo.example',
      role: 'employee',
    });
    expect(duplicate.status).toBe(409);
    expect(duplicate.type).toContain('application/problem+json');
    expect(duplicate.body).toMatchObject({ type: expect.stringMatching(/duplicate-email$/), status: 409 });
    // the relay publishes in outbox order: once a later invitation is seen, a refused one would have been too
    await call(platform.url, token, 'POST', '/v1/staff', {
      name: 'Piet Claes',
      email: 'piet@demo.example',
      role: 'support',
    });
    await eventually(
      async () => staffInvited().length,
      (count) => count > before,
      10_000,
    );
    expect(staffInvited()).toHaveLength(before + 1); // Piet's, and no second one for Els
    expect(await notificationsFor('els@demo.example')).toHaveLength(1);
  });

  test('a client sends documents and the partner application subscribed to documents.sent gets them, signed', async () => {
    const receiver = await startWebhookReceiver();
    try {
      const url = receiver.url('/partner/kantoor');
      const subscribed = await call(platform.url, token, 'POST', '/v1/webhooks', {
        url,
        eventTypes: ['documents.sent'],
      });
      expect(subscribed.status).toBe(201);

      // a dossier with a client who activated the portal account from the mail and accepted the terms
      const created = await call(platform.url, token, 'POST', '/v1/dossiers', {
        name: 'Bakkerij Webhook',
        country: 'BE',
        enterpriseNumber: '0417497106',
        language: 'nl',
      });
      expect(created.status).toBe(201);
      const dossierId = created.body.id as string;
      const adminId = (await call(platform.url, token, 'GET', '/v1/me')).body.id;
      await call(platform.url, token, 'POST', `/v1/dossiers/${dossierId}/activation`, { fileManagerId: adminId });
      await call(platform.url, token, 'POST', `/v1/dossiers/${dossierId}/portal-users`, {
        email: 'klant@bakkerij.example',
        name: 'Klant',
      });
      expect(
        await activateFromMail(
          platform.url,
          token,
          'klant@bakkerij.example',
          '/v1/activations/portal-users',
          'the client chose this one',
        ),
      ).toBe(200);
      const client = await login(platform.url, 'klant@bakkerij.example', 'the client chose this one');
      await call(platform.url, client, 'POST', '/v1/me/terms-acceptance', { version: '2025-01' });
      const clientId = (await call(platform.url, client, 'GET', '/v1/me')).body.id;

      const uploaded = await fetch(
        `${platform.url}/v1/dossiers/${dossierId}/documents?mailbox=purchase&fileName=f.pdf`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${client}`, 'content-type': 'application/pdf' },
          body: await pdf(),
        },
      );
      expect(uploaded.status).toBe(201);
      const documentId = ((await uploaded.json()) as { id: string }).id;
      const sent = await call(platform.url, client, 'POST', `/v1/dossiers/${dossierId}/document-sends`, {
        documentIds: [documentId],
      });
      expect(sent.status).toBe(200);

      const [delivery] = await receiver.received('/partner/kantoor', 1, 15_000);
      expect(verifiedWith(subscribed.body.secret, delivery)).toBe(true);
      expect(JSON.parse(delivery.body)).toMatchObject({
        type: 'documents.sent',
        dossierId,
        data: { documentIds: [documentId], sentBy: clientId, automatic: false },
      });
      const log = await eventually(
        () => call(platform.url, token, 'GET', `/v1/webhooks/${subscribed.body.webhook.id}/deliveries`),
        (answer) => answer.body.items[0]?.status === 'delivered',
        10_000,
      );
      expect(log.body.items).toEqual([expect.objectContaining({ eventType: 'documents.sent', dossierId })]);
    } finally {
      await receiver.stop();
    }
  });

  test("the gateway's /metrics shows every service thread's metrics, each family once", async () => {
    const text = await (await fetch(`${platform.url}/metrics`)).text();
    for (const service of ['directory', 'notification', 'archive', 'document-intake'])
      expect(text).toContain(`service_name="${service}"`);
    expect(text).toMatch(/^kantoor_events_published_total\{[^}]*service_name="directory"[^}]*\} [1-9]/m);
    const types = text.split('\n').filter((line) => line.startsWith('# TYPE '));
    expect(new Set(types).size).toBe(types.length);
  });

  test("a local process that reaches a service's port cannot act for a user: its unsigned call is refused", async () => {
    const Raw = grpc.makeClientConstructor(grpcServiceDefinition(DirectoryService), 'raw');
    const raw = new Raw(platform.addresses.directory, grpc.credentials.createInsecure()) as unknown as {
      getFirm(request: unknown, metadata: grpc.Metadata, done: (error: grpc.ServiceError | null) => void): void;
      close(): void;
    };
    const metadata = new grpc.Metadata();
    const firmId = platform.demo.firmId;
    metadata.set(
      CALLER_METADATA_KEY,
      encodeCaller({ kind: 'staff', subjectId: 'x', firmId, role: 'admin', scopes: [] }),
    );
    try {
      const error = await new Promise<grpc.ServiceError | null>((resolve) =>
        raw.getFirm({ firmId }, metadata, resolve),
      );
      expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
      // the gateway's own calls are signed: the same firm through the gateway is answered
      expect((await call(platform.url, token, 'GET', '/v1/firm')).status).toBe(200);
    } finally {
      raw.close();
    }
  });

  test('without a token the gateway refuses before any service is called', async () => {
    const response = await fetch(`${platform.url}/v1/staff`, { method: 'GET' });
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
  });
});
