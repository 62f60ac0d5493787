/**
 * The webhook routes at the gateway's edge, against a stand-in notification service that records what it is
 * asked: what is refused before it (validation, the access policy), what it is asked, what a repeated
 * Idempotency-Key gets, and what the OpenAPI document tells a partner. The routes over the real service:
 * services/notification/test/gateway-webhook-routes.test.ts.
 */
import { create } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { ServiceClient } from '@kantoor/grpc';
import {
  NotificationService,
  WebhookDeliverySchema,
  WebhookSchema,
} from '@kantoor/proto/kantoor/notification/v1/notification_pb';
import type { TestDatabase } from '@kantoor/testing';
import { authorizeWithPolicy, buildOpenApiDocument, routeTable, type Caller } from '../src';
import { bearer, openMigratedDatabase, problemType, staff, testApp } from './helpers';

const FIRM = 'firm-1';
const WEBHOOK_ID = '6f1c0d52-8a8e-4a43-9d55-3f0f4a9e8b11';
const DELIVERY_ID = '0b7e2f0e-1d4c-4b7a-a7a4-6c9a0d2b5e21';
const SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;

const webhook = () =>
  create(WebhookSchema, {
    id: WEBHOOK_ID,
    url: 'https://partner.example/hooks',
    eventTypes: ['documents.sent'],
    enabled: true,
    secretHint: SECRET.slice(0, 10),
    createdAt: timestampNow(),
    createdBy: 'staff:admin-1',
  });
const delivery = () =>
  create(WebhookDeliverySchema, {
    id: DELIVERY_ID,
    webhookId: WEBHOOK_ID,
    eventId: randomUUID(),
    eventType: 'webhook.ping',
    status: 'pending',
    createdAt: timestampNow(),
  });

/** what the stand-in was asked, RPC by RPC */
const asked: Array<[string, Record<string, unknown>]> = [];
const answers: Record<string, () => object> = {
  createWebhook: () => ({ webhook: webhook(), secret: SECRET }),
  listWebhooks: () => ({ webhooks: [webhook()], nextCursor: '' }),
  getWebhook: () => ({ webhook: webhook() }),
  updateWebhook: () => ({ webhook: webhook() }),
  deleteWebhook: () => ({}),
  rotateWebhookSecret: () => ({ webhook: webhook(), secret: SECRET }),
  pingWebhook: () => ({ delivery: delivery() }),
  listWebhookDeliveries: () => ({ deliveries: [delivery()], nextCursor: '' }),
  getWebhookDelivery: () => ({ delivery: delivery(), payload: '{"type":"webhook.ping"}', attempts: [] }),
  retryWebhookDelivery: () => ({ delivery: delivery() }),
};
const notification = Object.fromEntries(
  Object.entries(answers).map(([rpc, answer]) => [
    rpc,
    async (input: Record<string, unknown>) => {
      asked.push([rpc, input]);
      return answer();
    },
  ]),
) as unknown as ServiceClient<typeof NotificationService>;

let database: TestDatabase;
let app: ReturnType<typeof testApp>['app'];
beforeAll(async () => {
  database = await openMigratedDatabase();
  app = testApp(
    {
      db: database.db,
      services: { notification },
      authorize: authorizeWithPolicy(async (query) => ({
        firm: { firmId: query.firmId, onlyAdminsAddClients: false },
      })),
      apiKeys: {
        // the key names its scopes here: `scopes:webhook:read,webhook:write`
        verify: async (key) => ({ kind: 'api_key', subjectId: 'key-1', firmId: FIRM, scopes: key.slice(7).split(',') }),
      },
    },
    routeTable,
    { VALIDATE_RESPONSES: 'true' },
  ).app;
});
afterAll(() => database.dispose());
beforeEach(() => void asked.splice(0));

const admin = bearer(staff({ firmId: FIRM }));
const newWebhook = { url: 'https://partner.example/hooks', eventTypes: ['documents.sent'] };

describe('webhook requests refused at the edge never reach the notification service', () => {
  const refusals: Array<[string, string, string, object | undefined, string]> = [
    [
      'an unknown event type',
      'post',
      '/v1/webhooks',
      { ...newWebhook, eventTypes: ['invoice.paid'] },
      'body.eventTypes[0]',
    ],
    [
      'an event type twice',
      'post',
      '/v1/webhooks',
      { ...newWebhook, eventTypes: ['documents.sent', 'documents.sent'] },
      'body.eventTypes',
    ],
    ['no event type', 'post', '/v1/webhooks', { ...newWebhook, eventTypes: [] }, 'body.eventTypes'],
    [
      'event types not a list',
      'post',
      '/v1/webhooks',
      { ...newWebhook, eventTypes: 'documents.sent' },
      'body.eventTypes',
    ],
    ['a URL that is none', 'post', '/v1/webhooks', { ...newWebhook, url: 'not a url' }, 'body.url'],
    ['an ftp URL', 'post', '/v1/webhooks', { ...newWebhook, url: 'ftp://partner.example/hooks' }, 'body.url'],
    [
      'a URL over 2000 characters',
      'post',
      '/v1/webhooks',
      { ...newWebhook, url: `https://partner.example/${'x'.repeat(2000)}` },
      'body.url',
    ],
    ['no URL', 'post', '/v1/webhooks', { eventTypes: ['documents.sent'] }, 'body.url'],
    ['a secret of its own', 'post', '/v1/webhooks', { ...newWebhook, secret: 'whsec_mine' }, 'body.secret'],
    [
      'a description over 500 characters',
      'post',
      '/v1/webhooks',
      { ...newWebhook, description: 'x'.repeat(501) },
      'body.description',
    ],
    ['a change of nothing', 'patch', `/v1/webhooks/${WEBHOOK_ID}`, {}, 'body'],
    ['a change to no event type', 'patch', `/v1/webhooks/${WEBHOOK_ID}`, { eventTypes: [] }, 'body.eventTypes'],
    ['enabled not a boolean', 'patch', `/v1/webhooks/${WEBHOOK_ID}`, { enabled: 'yes' }, 'body.enabled'],
    [
      'a change of a field one does not set',
      'patch',
      `/v1/webhooks/${WEBHOOK_ID}`,
      { secretHint: 'whsec_' },
      'body.secretHint',
    ],
    ['a webhook id that is no UUID (read)', 'get', '/v1/webhooks/42', undefined, 'params.webhookId'],
    ['a webhook id that is no UUID (delete)', 'delete', '/v1/webhooks/42', undefined, 'params.webhookId'],
    ['a webhook id that is no UUID (ping)', 'post', '/v1/webhooks/42/ping', undefined, 'params.webhookId'],
    [
      'an unknown delivery status',
      'get',
      `/v1/webhooks/${WEBHOOK_ID}/deliveries?status=lost`,
      undefined,
      'query.status',
    ],
    ['a page of no deliveries', 'get', `/v1/webhooks/${WEBHOOK_ID}/deliveries?pageSize=0`, undefined, 'query.pageSize'],
    ['a limit (lists of webhooks never took one)', 'get', '/v1/webhooks?limit=10', undefined, 'query.limit'],
    [
      'a delivery id that is no UUID (read)',
      'get',
      `/v1/webhooks/${WEBHOOK_ID}/deliveries/42`,
      undefined,
      'params.deliveryId',
    ],
    [
      'a delivery id that is no UUID (retry)',
      'post',
      `/v1/webhooks/${WEBHOOK_ID}/deliveries/42/retry`,
      undefined,
      'params.deliveryId',
    ],
  ];
  test.each(refusals)('%s (%s %s): 400 naming the field', async (_what, method, path, body, field) => {
    const call = request(app)[method as 'get'](path).set('authorization', admin);
    const refused = body ? await call.send(body) : await call;
    expect(refused.status).toBe(400);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.body.type).toBe(problemType('validation-failed'));
    expect(refused.body.errors.map((error: { field: string }) => error.field)).toContain(field);
    expect(asked).toEqual([]);
  });

  const people: Array<[string, Caller]> = [
    ['an employee', staff({ firmId: FIRM, role: 'employee' })],
    ['a support member', staff({ firmId: FIRM, role: 'support' })],
    ['a portal user', { kind: 'portal_user', subjectId: 'client-1', firmId: FIRM, scopes: [] }],
  ];
  test.each(people)('%s is refused every webhook route (403)', async (_who, caller) => {
    for (const [method, path, body] of [
      ['get', '/v1/webhooks'],
      ['post', '/v1/webhooks', newWebhook],
      ['get', `/v1/webhooks/${WEBHOOK_ID}/deliveries`],
      ['post', `/v1/webhooks/${WEBHOOK_ID}/rotate-secret`],
    ] as const) {
      const call = request(app)[method](path).set('authorization', bearer(caller));
      const refused = body ? await call.send(body) : await call;
      expect({ path, status: refused.status }).toEqual({ path, status: 403 });
    }
    expect(asked).toEqual([]);
  });

  test('an API key needs webhook:read to read and webhook:write to change', async () => {
    const withScopes = (scopes: string) => `scopes:${scopes}`;
    const subscribe = (key: string) => request(app).post('/v1/webhooks').set('x-api-key', key).send(newWebhook);
    const unscoped = await subscribe(withScopes('dossier:read,document:*'));
    expect(unscoped.status).toBe(403);
    expect(unscoped.body.type).toBe(problemType('missing-scope'));
    expect((await subscribe(withScopes('webhook:read'))).status).toBe(403);
    expect((await request(app).get('/v1/webhooks').set('x-api-key', withScopes('dossier:read'))).status).toBe(403);
    expect(asked).toEqual([]);

    expect((await request(app).get('/v1/webhooks').set('x-api-key', withScopes('webhook:read'))).status).toBe(200);
    expect((await subscribe(withScopes('webhook:write'))).status).toBe(201);
    expect((await subscribe(withScopes('webhook:*'))).status).toBe(201);
    expect(asked.map(([rpc]) => rpc)).toEqual(['listWebhooks', 'createWebhook', 'createWebhook']);
  });
});

describe('what the webhook routes ask the notification service', () => {
  test('a new webhook without a description, and the first page of the list', async () => {
    await request(app).post('/v1/webhooks').set('authorization', admin).send(newWebhook).expect(201);
    await request(app).get('/v1/webhooks').set('authorization', admin).expect(200);
    await request(app)
      .get(`/v1/webhooks/${WEBHOOK_ID}/deliveries?pageSize=10&status=failed`)
      .set('authorization', admin)
      .expect(200);
    expect(asked).toEqual([
      ['createWebhook', { ...newWebhook, description: '' }],
      ['listWebhooks', { pageSize: 50, cursor: '' }],
      ['listWebhookDeliveries', { webhookId: WEBHOOK_ID, status: 'failed', pageSize: 10, cursor: '' }],
    ]);
  });

  test('a change sends only the fields given; new event types replace the list', async () => {
    const patch = (body: object) =>
      request(app).patch(`/v1/webhooks/${WEBHOOK_ID}`).set('authorization', admin).send(body).expect(200);
    await patch({ enabled: false });
    await patch({ eventTypes: ['documents.sent'], url: 'https://partner.example/v2' });
    expect(asked).toEqual([
      ['updateWebhook', { webhookId: WEBHOOK_ID, enabled: false, eventTypes: [], updateEventTypes: false }],
      [
        'updateWebhook',
        {
          webhookId: WEBHOOK_ID,
          url: 'https://partner.example/v2',
          eventTypes: ['documents.sent'],
          updateEventTypes: true,
        },
      ],
    ]);
  });

  test('answers: 201 with the secret, 200 for a rotation, 202 for a ping and a retry, 204 for a deletion', async () => {
    const created = await request(app).post('/v1/webhooks').set('authorization', admin).send(newWebhook);
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ webhook: expect.objectContaining({ id: WEBHOOK_ID }), secret: SECRET });
    const rotated = await request(app).post(`/v1/webhooks/${WEBHOOK_ID}/rotate-secret`).set('authorization', admin);
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toBe(SECRET);
    for (const path of [
      `/v1/webhooks/${WEBHOOK_ID}/ping`,
      `/v1/webhooks/${WEBHOOK_ID}/deliveries/${DELIVERY_ID}/retry`,
    ]) {
      const queued = await request(app).post(path).set('authorization', admin);
      expect(queued.status).toBe(202);
      expect(queued.body.delivery).toMatchObject({ id: DELIVERY_ID, webhookId: WEBHOOK_ID, status: 'pending' });
    }
    const read = await request(app)
      .get(`/v1/webhooks/${WEBHOOK_ID}/deliveries/${DELIVERY_ID}`)
      .set('authorization', admin);
    expect(read.body).toEqual({
      delivery: expect.objectContaining({ id: DELIVERY_ID }),
      payload: '{"type":"webhook.ping"}',
      attempts: [],
    });
    expect((await request(app).delete(`/v1/webhooks/${WEBHOOK_ID}`).set('authorization', admin)).status).toBe(204);
  });
});

describe('a repeated Idempotency-Key where the answer held a secret', () => {
  test.each([
    ['creating a webhook', '/v1/webhooks', newWebhook],
    ['rotating its secret', `/v1/webhooks/${WEBHOOK_ID}/rotate-secret`, undefined],
  ])(
    '%s: the service is asked once, and the repeat gets 409 naming the webhook, never the secret',
    async (_what, path, body) => {
      const key = randomUUID();
      const send = () => {
        const call = request(app).post(path).set('authorization', admin).set('idempotency-key', key);
        return body ? call.send(body) : call;
      };
      expect((await send()).body.secret).toBe(SECRET);
      const repeat = await send();
      expect(repeat.status).toBe(409);
      expect(repeat.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(repeat.body.type).toBe(problemType('idempotent-answer-not-kept'));
      expect(repeat.body.detail).toContain(WEBHOOK_ID);
      expect(JSON.stringify(repeat.body)).not.toContain(SECRET.slice(6));
      expect(asked).toHaveLength(1);
      const { rows } = await database.db.query<{ response: unknown }>('SELECT * FROM idempotency_keys WHERE key = $1', [
        key,
      ]);
      expect(JSON.stringify(rows)).not.toContain(SECRET.slice(6));
    },
  );
});

describe('the OpenAPI document for partner developers', () => {
  const document = buildOpenApiDocument(routeTable) as {
    paths: Record<string, Record<string, { description?: string; tags: string[]; 'x-permission': string }>>;
    components: { schemas: Record<string, { properties: Record<string, { items?: { enum?: string[] } }> }> };
  };

  test('tells how to verify a delivery: the headers, the signed content, the key, the clock, duplicates, 410', () => {
    const guide = document.paths['/v1/webhooks'].post.description!;
    for (const needed of [
      '`webhook-id`',
      '`webhook-timestamp`',
      '`webhook-signature`',
      '`<webhook-id>.<webhook-timestamp>.<body>`',
      'HMAC-SHA256',
      'after `whsec_` and base64-decode it',
      '`v1,<base64>`, separated by spaces',
      'more than 5 minutes',
      'ignore a delivery whose id you have seen',
      '2xx status quickly',
      '410 Gone',
      '5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h',
    ])
      expect(guide).toContain(needed);
    expect(document.paths['/v1/webhooks/{webhookId}/rotate-secret'].post.description).toContain(
      'previousSecretExpiresAt',
    );
  });

  test('lists every webhook operation under webhooks, with its permission, and the event types one may choose', () => {
    const operations = Object.entries(document.paths)
      .filter(([path]) => path.startsWith('/v1/webhooks'))
      .flatMap(([, item]) => Object.values(item));
    expect(operations).toHaveLength(10);
    for (const operation of operations) {
      expect(operation.tags).toEqual(['webhooks']);
      expect(['webhook:read', 'webhook:write']).toContain(operation['x-permission']);
    }
    expect(document.components.schemas.CreateWebhook.properties.eventTypes.items!.enum).toEqual(['documents.sent']);
  });
});
