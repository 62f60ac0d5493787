import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { authorizeWithPolicy, routeTable } from '@kantoor/gateway';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { createServiceClient } from '@kantoor/grpc';
import { DocumentsSentSchema } from '@kantoor/proto/kantoor/document_intake/v1/events_pb';
import { NotificationService } from '@kantoor/proto/kantoor/notification/v1/notification_pb';
import { eventually, type TestDatabase } from '@kantoor/testing';
import { WEBHOOK_EVENT_TYPES as SUBSCRIBABLE_AT_THE_GATEWAY } from '../../../gateway/src/routes/webhooks';
import { bearer, openMigratedDatabase, problemType, staff, testApp } from '../../../gateway/test/helpers';
import { everyPage, expectPagingRefusals, type PagedList } from '../../../gateway/test/paged-list';
import { WEBHOOK_EVENT_TYPES } from '../src';
import { deliverEvent, startNotification, type Harness } from './notification-harness';
import { verifiedWith } from './standard-webhooks';
import { startWebhookReceiver, status, type WebhookReceiver } from './webhook-receiver';

/** The partner webhooks' REST API (gateway/src/routes/webhooks.ts) over the real notification service. */
describe('gateway: webhooks to partner applications', () => {
  let h: Harness;
  let database: TestDatabase;
  let receiver: WebhookReceiver;
  let app: ReturnType<typeof testApp>['app'];
  const firmId = randomUUID();
  const otherFirmId = randomUUID();
  const admin = staff({ firmId, subjectId: randomUUID() });
  const asAdmin = bearer(admin);
  const adminOf = (firm: string) => bearer(staff({ firmId: firm, subjectId: randomUUID() }));
  // the access policy, with every caller's firm as the facts (the directory's facts: access-matrix.test.ts)
  const firmFacts = async (query: { firmId: string }) => ({
    firm: { firmId: query.firmId, onlyAdminsAddClients: false },
  });

  beforeAll(async () => {
    h = await startNotification();
    database = await openMigratedDatabase();
    receiver = await startWebhookReceiver();
    app = testApp(
      {
        db: database.db,
        services: { notification: h.client },
        authorize: authorizeWithPolicy(firmFacts),
      },
      routeTable,
      { VALIDATE_RESPONSES: 'true' },
    ).app;
  });
  afterAll(async () => {
    await receiver?.stop();
    await h?.stop();
    await database?.dispose();
  });

  let partners = 0;
  /** a URL of the receiver of its own, for one webhook */
  const partnerUrl = () => receiver.url(`/partner/${++partners}`);
  /** the requests a webhook's URL received, once there are `count` (or the time is up) */
  const deliveriesTo = (url: string, count: number) => receiver.received(new URL(url).pathname, count, 10_000);
  const typeOf = (delivery: { body: string }) => JSON.parse(delivery.body).type;

  const subscribe = (authorization: string, body: object = { url: partnerUrl(), eventTypes: ['documents.sent'] }) =>
    request(app).post('/v1/webhooks').set('authorization', authorization).send(body);
  const get = (path: string, authorization = asAdmin) => request(app).get(path).set('authorization', authorization);
  const post = (path: string, authorization = asAdmin) => request(app).post(path).set('authorization', authorization);

  /** An API key of the firm made by its admin through the gateway, as a partner application would get one. */
  const apiKeyWith = async (...scopes: string[]) => {
    const made = await request(app)
      .post('/v1/api-keys')
      .set('authorization', asAdmin)
      .send({ name: `partner ${scopes.join(' ')}`, scopes });
    expect(made.status).toBe(201);
    return made.body.key as string;
  };

  test('an admin subscribes a URL: 201 with a whsec_ secret, which no list or read shows again', async () => {
    const url = partnerUrl();
    const created = await subscribe(asAdmin, { url, eventTypes: ['documents.sent'], description: 'Boekhoudpakket' });
    expect(created.status).toBe(201);
    const { webhook, secret } = created.body;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);
    expect(webhook).toMatchObject({
      id: expect.any(String),
      url,
      eventTypes: ['documents.sent'],
      description: 'Boekhoudpakket',
      enabled: true,
      secretHint: expect.stringMatching(/^whsec_/),
      createdBy: `staff:${admin.subjectId}`,
    });
    expect(secret.startsWith(webhook.secretHint)).toBe(true);

    const listed = await get('/v1/webhooks');
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((item: { id: string }) => item.id)).toContain(webhook.id);
    const read = await get(`/v1/webhooks/${webhook.id}`);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(webhook);
    for (const answer of [listed, read]) {
      expect(JSON.stringify(answer.body)).not.toContain(secret.slice(6));
      expect(answer.body).not.toHaveProperty('secret');
    }
  });

  test('a ping reaches the receiver as webhook.ping, signed with the secret, and shows in the delivery log', async () => {
    const { webhook, secret } = (await subscribe(asAdmin)).body;
    const pinged = await post(`/v1/webhooks/${webhook.id}/ping`);
    expect(pinged.status).toBe(202);
    expect(pinged.body.delivery).toMatchObject({ webhookId: webhook.id, eventType: 'webhook.ping' });

    const [delivery] = await deliveriesTo(webhook.url, 1);
    expect(typeOf(delivery)).toBe('webhook.ping');
    expect(delivery.headers['content-type']).toMatch(/^application\/json/);
    expect(verifiedWith(secret, delivery)).toBe(true);
    expect(verifiedWith(`whsec_${Buffer.alloc(32).toString('base64')}`, delivery)).toBe(false);

    const log = await eventually(
      async () => await get(`/v1/webhooks/${webhook.id}/deliveries`),
      (answer) => answer.body.items?.[0]?.status === 'delivered',
    );
    expect(log.body.items).toEqual([
      expect.objectContaining({ id: pinged.body.delivery.id, eventType: 'webhook.ping', status: 'delivered' }),
    ]);
    const detail = await get(`/v1/webhooks/${webhook.id}/deliveries/${pinged.body.delivery.id}`);
    expect(detail.status).toBe(200);
    expect(detail.body.payload).toBe(delivery.body);
    expect(detail.body.attempts).toEqual([
      expect.objectContaining({ attempt: 1, outcome: 'delivered', statusCode: 204 }),
    ]);

    // sent again on request, with the same webhook-id, so the receiver can tell it already has it
    const retried = await post(`/v1/webhooks/${webhook.id}/deliveries/${pinged.body.delivery.id}/retry`);
    expect(retried.status).toBe(202);
    expect(retried.body.delivery.id).toBe(pinged.body.delivery.id);
    const again = (await deliveriesTo(webhook.url, 2))[1];
    expect(again.headers['webhook-id']).toBe(delivery.headers['webhook-id']);
    expect(verifiedWith(secret, again)).toBe(true);
  });

  test("what a receiver gets is what /openapi.json's webhooks describe: a documents.sent and a ping", async () => {
    const { webhook } = (await subscribe(asAdmin)).body;
    await post(`/v1/webhooks/${webhook.id}/ping`).expect(202);
    await deliveriesTo(webhook.url, 1);
    await deliverEvent(h.transport, 'document-intake', DocumentsSentSchema, {
      firmId,
      dossierId: randomUUID(),
      documentIds: [randomUUID(), randomUUID()],
      actorId: 'boekhouding@leverancier.example',
      automatic: true,
      sentAt: timestampFromDate(new Date()),
    });
    const received = await deliveriesTo(webhook.url, 2);
    expect(received.map(typeOf)).toEqual(['webhook.ping', 'documents.sent']);

    const document = (await request(app).get('/openapi.json')).body;
    const ajv = new Ajv2020({ strict: false });
    addFormats(ajv);
    ajv.addSchema({ $id: 'doc', components: document.components });
    for (const delivery of received) {
      const { post: described } = document.webhooks[typeOf(delivery)];
      const validate = ajv.compile({ $ref: `doc${described.requestBody.content['application/json'].schema.$ref}` });
      expect({ type: typeOf(delivery), errors: validate(JSON.parse(delivery.body)) ? null : validate.errors }).toEqual({
        type: typeOf(delivery),
        errors: null,
      });
      for (const header of described.parameters as Array<{ name: string; schema: { pattern?: string } }>)
        expect(String(delivery.headers[header.name])).toMatch(new RegExp(header.schema.pattern ?? '.'));
    }
    // the documented schema is strict: a body with a field it does not name fails it
    const strict = ajv.compile({ $ref: 'doc#/components/schemas/DocumentsSentEvent' });
    expect(strict({ ...JSON.parse(received[1].body), extra: true })).toBe(false);
  });

  test('a rotated secret is shown once; until the previous one expires, deliveries are signed with both', async () => {
    const { webhook, secret: first } = (await subscribe(asAdmin)).body;
    const rotated = await post(`/v1/webhooks/${webhook.id}/rotate-secret`).set(
      'idempotency-key',
      `rotate-${webhook.id}`,
    );
    expect(rotated.status).toBe(200);
    const second = rotated.body.secret as string;
    expect(second).toMatch(/^whsec_/);
    expect(second).not.toBe(first);
    expect(rotated.body.webhook.previousSecretExpiresAt).toEqual(expect.any(String));
    expect((await get(`/v1/webhooks/${webhook.id}`)).body.secretHint).toBe(rotated.body.webhook.secretHint);

    // the same request again rotates nothing and never shows the secret
    const repeat = await post(`/v1/webhooks/${webhook.id}/rotate-secret`).set(
      'idempotency-key',
      `rotate-${webhook.id}`,
    );
    expect(repeat.status).toBe(409);
    expect(repeat.body.type).toBe(problemType('idempotent-answer-not-kept'));
    expect(repeat.body.detail).toContain(webhook.id);
    expect(JSON.stringify(repeat.body)).not.toContain(second.slice(6));

    await post(`/v1/webhooks/${webhook.id}/ping`).expect(202);
    const [delivery] = await deliveriesTo(webhook.url, 1);
    expect(String(delivery.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verifiedWith(first, delivery)).toBe(true);
    expect(verifiedWith(second, delivery)).toBe(true);
  });

  test('a repeated Idempotency-Key on create makes one webhook and gets 409 naming it, never the secret', async () => {
    const firmAdmin = adminOf(randomUUID());
    const body = { url: partnerUrl(), eventTypes: ['documents.sent'] };
    const made = await subscribe(firmAdmin, body).set('idempotency-key', 'partner-setup-1');
    expect(made.status).toBe(201);
    const repeat = await subscribe(firmAdmin, body).set('idempotency-key', 'partner-setup-1');
    expect(repeat.status).toBe(409);
    expect(repeat.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(repeat.body.type).toBe(problemType('idempotent-answer-not-kept'));
    expect(repeat.body.detail).toContain(made.body.webhook.id);
    expect(JSON.stringify(repeat.body)).not.toContain(made.body.secret.slice(6));
    const listed = await get('/v1/webhooks', firmAdmin);
    expect(listed.body.items.map((item: { id: string }) => item.id)).toEqual([made.body.webhook.id]);
  });

  test('a change names its fields; the others stay as they were', async () => {
    const { webhook } = (await subscribe(asAdmin)).body;
    const changed = await request(app)
      .patch(`/v1/webhooks/${webhook.id}`)
      .set('authorization', asAdmin)
      .send({ description: 'Tijdelijk uit', enabled: false });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ id: webhook.id, description: 'Tijdelijk uit', enabled: false });
    expect(changed.body.eventTypes).toEqual(['documents.sent']);

    // a disabled webhook is not pinged until it is enabled again
    const refused = await post(`/v1/webhooks/${webhook.id}/ping`);
    expect(refused.status).toBe(422);
    expect(refused.body.type).toBe(problemType('webhook-disabled'));
    await request(app).patch(`/v1/webhooks/${webhook.id}`).set('authorization', asAdmin).send({ enabled: true });
    expect((await post(`/v1/webhooks/${webhook.id}/ping`)).status).toBe(202);
  });

  test('an API key the admin made with webhook:write subscribes; one without the scope is refused', async () => {
    const body = { url: partnerUrl(), eventTypes: ['documents.sent'] };
    const unscoped = await apiKeyWith('dossier:read');
    const refused = await request(app).post('/v1/webhooks').set('x-api-key', unscoped).send(body);
    expect(refused.status).toBe(403);
    expect(refused.body.type).toBe(problemType('missing-scope'));

    const reader = await apiKeyWith('webhook:read');
    expect((await request(app).get('/v1/webhooks').set('x-api-key', reader)).status).toBe(200);
    expect((await request(app).post('/v1/webhooks').set('x-api-key', reader).send(body)).status).toBe(403);

    const writer = await apiKeyWith('webhook:write');
    const created = await request(app).post('/v1/webhooks').set('x-api-key', writer).send(body);
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_/);
    expect(created.body.webhook.createdBy).toMatch(/^api_key:/);
  });

  test('each API key sees only the webhooks it made; revoking a key disables them (and a repeat changes nothing)', async () => {
    const [keyA, keyB] = [
      await apiKeyWith('webhook:write', 'webhook:read'),
      await apiKeyWith('webhook:write', 'webhook:read'),
    ];
    const make = async (key: string) =>
      (
        await request(app)
          .post('/v1/webhooks')
          .set('x-api-key', key)
          .send({ url: partnerUrl(), eventTypes: ['documents.sent'] })
      ).body.webhook;
    const ofA = await make(keyA);
    const ofB = await make(keyB);
    const listedBy = async (key: string) =>
      (await request(app).get('/v1/webhooks').set('x-api-key', key)).body.items.map((item: { id: string }) => item.id);
    expect(await listedBy(keyA)).toEqual([ofA.id]);
    expect(await listedBy(keyB)).toEqual([ofB.id]);
    expect((await request(app).get(`/v1/webhooks/${ofA.id}`).set('x-api-key', keyB)).status).toBe(404);
    expect(
      (await request(app).patch(`/v1/webhooks/${ofA.id}`).set('x-api-key', keyB).send({ enabled: false })).status,
    ).toBe(404);
    const asSeenByAdmin = (await get(`/v1/webhooks/${ofA.id}`)).body;
    expect(asSeenByAdmin).toMatchObject({ enabled: true, ownerApiKeyId: ofA.ownerApiKeyId });
    expect(ofA.ownerApiKeyId).toMatch(/^[0-9a-f-]{36}$/);

    const revoke = () =>
      request(app)
        .delete(`/v1/api-keys/${ofA.ownerApiKeyId}`)
        .set('authorization', asAdmin)
        .set('idempotency-key', randomUUID());
    expect((await revoke()).status).toBe(200);
    expect((await get(`/v1/webhooks/${ofA.id}`)).body).toMatchObject({
      enabled: false,
      disabledReason: 'api_key_revoked',
    });
    expect((await get(`/v1/webhooks/${ofB.id}`)).body.enabled).toBe(true);
    expect((await request(app).get('/v1/webhooks').set('x-api-key', keyA)).status).toBe(401);
    // the admin enables it again (their choice); a repeated revoke disables it again, and still answers 200
    await request(app)
      .patch(`/v1/webhooks/${ofA.id}`)
      .set('authorization', asAdmin)
      .send({ enabled: true })
      .expect(200);
    expect((await revoke()).status).toBe(200);
    expect((await get(`/v1/webhooks/${ofA.id}`)).body.enabled).toBe(false);
  });

  test('a revoke whose webhooks could not be disabled answers 503 (the key is revoked); repeating it finishes', async () => {
    const key = await apiKeyWith('webhook:write', 'webhook:read');
    const { webhook } = (
      await request(app)
        .post('/v1/webhooks')
        .set('x-api-key', key)
        .send({ url: partnerUrl(), eventTypes: ['documents.sent'] })
    ).body;
    // the same gateway database, with the notification service out of reach
    const unreachable = createServiceClient(NotificationService, '127.0.0.1:1', { timeoutMs: 2000 });
    try {
      const cutOff = testApp(
        { db: database.db, services: { notification: unreachable }, authorize: authorizeWithPolicy(firmFacts) },
        routeTable,
        { VALIDATE_RESPONSES: 'true' },
      ).app;
      const failed = await request(cutOff)
        .delete(`/v1/api-keys/${webhook.ownerApiKeyId}`)
        .set('authorization', asAdmin);
      expect(failed.status).toBe(503);
      expect(failed.body.type).toBe(problemType('api-key-webhooks-not-disabled'));
      // the key is revoked all the same (this gateway refuses it at once; another within VERIFIED_KEY_TTL_MS)
      expect((await request(cutOff).get('/v1/webhooks').set('x-api-key', key)).status).toBe(401);
    } finally {
      unreachable.close();
    }
    expect((await get(`/v1/webhooks/${webhook.id}`)).body.enabled).toBe(true);
    await request(app).delete(`/v1/api-keys/${webhook.ownerApiKeyId}`).set('authorization', asAdmin).expect(200);
    expect((await get(`/v1/webhooks/${webhook.id}`)).body).toMatchObject({
      enabled: false,
      disabledReason: 'api_key_revoked',
    });
  });

  test("another firm's webhook is not found, and its list does not show it", async () => {
    const { webhook } = (await subscribe(asAdmin)).body;
    const foreign = adminOf(otherFirmId);
    for (const answer of [
      await get(`/v1/webhooks/${webhook.id}`, foreign),
      await get(`/v1/webhooks/${webhook.id}/deliveries`, foreign),
      await post(`/v1/webhooks/${webhook.id}/ping`, foreign),
      await post(`/v1/webhooks/${webhook.id}/rotate-secret`, foreign),
      await request(app).patch(`/v1/webhooks/${webhook.id}`).set('authorization', foreign).send({ enabled: false }),
      await request(app).delete(`/v1/webhooks/${webhook.id}`).set('authorization', foreign),
    ]) {
      expect(answer.status).toBe(404);
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect((await get('/v1/webhooks', foreign)).body.items).toEqual([]);
    expect((await get(`/v1/webhooks/${webhook.id}`)).body.enabled).toBe(true);
    expect((await get(`/v1/webhooks/${randomUUID()}`)).status).toBe(404);
  });

  test('a deleted webhook is gone: 204, then 404, and only its delivery log stays', async () => {
    const { webhook } = (await subscribe(asAdmin)).body;
    const pinged = await post(`/v1/webhooks/${webhook.id}/ping`);
    const deleted = await request(app).delete(`/v1/webhooks/${webhook.id}`).set('authorization', asAdmin);
    expect(deleted.status).toBe(204);
    // its delivery log stays readable
    const log = await get(`/v1/webhooks/${webhook.id}/deliveries`);
    expect(log.body.items.map((item: { id: string }) => item.id)).toEqual([pinged.body.delivery.id]);
    expect((await get(`/v1/webhooks/${webhook.id}`)).status).toBe(404);
    expect((await request(app).delete(`/v1/webhooks/${webhook.id}`).set('authorization', asAdmin)).status).toBe(404);
    expect((await get('/v1/webhooks')).body.items.map((item: { id: string }) => item.id)).not.toContain(webhook.id);
  });

  test('a receiver answering 410 Gone unsubscribes: the webhook is disabled and says why', async () => {
    const url = partnerUrl();
    receiver.answer(new URL(url).pathname, status(410));
    const { webhook } = (await subscribe(asAdmin, { url, eventTypes: ['documents.sent'] })).body;
    await post(`/v1/webhooks/${webhook.id}/ping`).expect(202);
    await deliveriesTo(url, 1);
    const disabled = await eventually(
      async () => await get(`/v1/webhooks/${webhook.id}`),
      (answer) => answer.body.enabled === false,
    );
    expect(disabled.body).toMatchObject({ enabled: false, disabledReason: 'gone' });
  });

  test('the gateway offers exactly the event types the service sends, described as the service describes them', () => {
    expect(SUBSCRIBABLE_AT_THE_GATEWAY).toEqual(WEBHOOK_EVENT_TYPES);
  });

  describe('paging', () => {
    const pagedFirm = randomUUID();
    const pagedAdmin = adminOf(pagedFirm);
    const oldestFirst: string[] = [];
    const pings: string[] = [];
    let webhookId: string;
    beforeAll(async () => {
      for (let n = 0; n < 3; n++) oldestFirst.push((await subscribe(pagedAdmin)).body.webhook.id);
      webhookId = oldestFirst[0];
      for (let n = 0; n < 3; n++)
        pings.unshift((await post(`/v1/webhooks/${webhookId}/ping`, pagedAdmin)).body.delivery.id);
    });
    const list = (path: string): PagedList => ({
      app,
      path,
      authorization: pagedAdmin,
      items: 'items',
      idOf: (item) => item.id as string,
    });

    test('the webhooks page by cursor, oldest first, without gaps or repeats', async () => {
      for (const pageSize of [1, 2])
        expect(await everyPage(list('/v1/webhooks'), pageSize)).toEqual({
          ids: oldestFirst,
          pages: Math.ceil(oldestFirst.length / pageSize),
        });
      await expectPagingRefusals(list('/v1/webhooks'));
    });

    test("a webhook's deliveries page by cursor, newest first, and filter by status", async () => {
      for (const pageSize of [1, 2])
        expect(await everyPage(list(`/v1/webhooks/${webhookId}/deliveries`), pageSize)).toEqual({
          ids: pings,
          pages: Math.ceil(pings.length / pageSize),
        });
      await expectPagingRefusals(list(`/v1/webhooks/${webhookId}/deliveries`));
      const failed = await get(`/v1/webhooks/${webhookId}/deliveries?status=failed`, pagedAdmin);
      expect(failed.body.items).toEqual([]);
      const unknown = await get(`/v1/webhooks/${webhookId}/deliveries?status=lost`, pagedAdmin);
      expect(unknown.status).toBe(400);
      expect(unknown.body.errors).toEqual([expect.objectContaining({ field: 'query.status' })]);
    });
  });
});
