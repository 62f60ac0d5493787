/**
 * Webhooks to partner applications (spec 08): a firm's subscriptions of a URL to domain events, their signing
 * secrets and their delivery logs, kept and sent by the notification service. Admins, and API keys holding
 * `webhook:read` or `webhook:write`; a key reaches only the webhooks it created.
 */
import {
  WebhookAttemptSchema,
  WebhookDeliverySchema,
  WebhookSchema,
} from '@kantoor/proto/kantoor/notification/v1/notification_pb';
import { defineRoute, namedSchema, reply, type JsonSchema, type OutgoingWebhook } from '../openapi/route';
import { nextCursor, pageOf, pageQuery, type PageQuery } from './list-pages';
import { callFor, json, notificationOf, object } from './notification';

const tags = ['webhooks'];

/**
 * The event types a webhook may subscribe to, with what each tells: the notification service's list
 * (services/notification/src/domain/webhook-event.ts, checked equal by its gateway tests). `webhook.ping` is sent
 * only when asked for (ping).
 */
const WEBHOOK_EVENTS: Record<string, { tells: string; data: JsonSchema }> = {
  'documents.sent': {
    tells: 'documents were sent to the firm (by a client, or automatically for a whitelisted sender)',
    data: {
      type: 'object',
      additionalProperties: false,
      required: ['documentIds', 'sentBy', 'automatic', 'sentAt'],
      properties: {
        documentIds: { type: 'array', minItems: 1, items: { type: 'string' } },
        sentBy: {
          type: 'string',
          description: 'who sent them: the person’s id, or for `automatic` the whitelisted sender’s e-mail address',
        },
        automatic: { type: 'boolean', description: 'sent on arrival, because the sender is whitelisted' },
        sentAt: { type: 'string', format: 'date-time' },
      },
    },
  },
};

export const WEBHOOK_EVENT_TYPES: Record<string, string> = Object.fromEntries(
  Object.entries(WEBHOOK_EVENTS).map(([type, { tells }]) => [type, tells]),
);

const RETRY_SCHEDULE =
  'A delivery not answered with 2xx (or not in time) is tried again, by default after 5 s, 5 min, 30 min, 2 h, ' +
  '5 h, 10 h and 10 h, then marked `failed`; `POST .../deliveries/{deliveryId}/retry` sends it again. A ' +
  'receiver answering 410 Gone disables the webhook (`enabled: false`, `disabledReason` says why).';

const VERIFYING_A_DELIVERY = `Each delivery is an HTTP POST of a JSON body to the webhook's URL, signed as
[Standard Webhooks](https://www.standardwebhooks.com/) describes, with three headers:

- \`webhook-id\`: the delivery's id, the same on every attempt (and on a retry) of it;
- \`webhook-timestamp\`: when the attempt was signed, in seconds since 1970-01-01 UTC;
- \`webhook-signature\`: one or more signatures \`v1,<base64>\`, separated by spaces.

The body: \`{"id": <the event's id>, "type": "documents.sent", "timestamp": <when it happened, ISO 8601>,
"firmId": ..., "dossierId": <or null>, "data": {...}}\`; for \`documents.sent\` the data are \`documentIds\`,
\`sentBy\` (who sent them), \`automatic\` and \`sentAt\`. One event sent to two webhooks has one \`id\` and two
\`webhook-id\`s.

To verify a delivery:

1. Take the secret's part after \`whsec_\` and base64-decode it: that is the key.
2. Compute HMAC-SHA256 with that key over \`<webhook-id>.<webhook-timestamp>.<body>\`: the two header values and
   the body exactly as received (its raw bytes, before any JSON parsing), joined by full stops.
3. Base64-encode the result and compare it, in constant time, with the part after \`v1,\` of each signature in
   \`webhook-signature\`; one match is enough. After a secret was rotated, deliveries carry a signature made with
   the new secret and one made with the previous secret (until \`previousSecretExpiresAt\`), so a receiver still
   holding the previous secret keeps verifying while it is updated.
4. Refuse a \`webhook-timestamp\` more than 5 minutes away from your clock (a replayed delivery).
5. Remember the \`webhook-id\`s you processed and ignore a delivery whose id you have seen: a delivery can arrive
   more than once.

Answer with a 2xx status quickly and do the work afterwards. ${RETRY_SCHEDULE} To unsubscribe from the
receiving side, answer 410 Gone.`;

/** The data of a ping. */
const PING_DATA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['webhookId'],
  properties: { webhookId: { type: 'string', format: 'uuid' } },
};

/** An event type (or the ping) as the document's top-level `webhooks` lists it: what a receiver gets. */
function outgoing(type: string, summary: string, data: JsonSchema): OutgoingWebhook {
  const name = type.replace(/(^|\.)(.)/g, (_match, _dot: string, next: string) => next.toUpperCase());
  return {
    summary,
    description:
      `Sent to the URL of each webhook subscribed to \`${type}\`${type === 'webhook.ping' ? ' (to that one webhook)' : ''}, ` +
      'signed with its secret: verify it as the operation createWebhook (POST /v1/webhooks) describes.',
    body: namedSchema(`${name}Event`, {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'type', 'timestamp', 'firmId', 'dossierId', 'data'],
      properties: {
        id: { type: 'string', description: 'the event’s id: the same in every webhook it goes to' },
        type: { const: type },
        timestamp: { type: 'string', format: 'date-time', description: 'when it happened' },
        firmId: { type: 'string', format: 'uuid' },
        dossierId: { type: ['string', 'null'], description: 'the dossier it concerns; null when none' },
        data,
      },
    }),
    headers: {
      'webhook-id': {
        description: 'the delivery’s id, the same on every attempt (and retry) of it: ignore one you processed',
        schema: { type: 'string' },
      },
      'webhook-timestamp': {
        description: 'when the attempt was signed, in seconds since 1970-01-01 UTC; refuse one 5 minutes off',
        schema: { type: 'string', pattern: '^[0-9]+$' },
      },
      'webhook-signature': {
        description: 'one or more `v1,<base64>` HMAC-SHA256 signatures, separated by spaces',
        schema: { type: 'string', pattern: '^v1,[A-Za-z0-9+/]+=*( v1,[A-Za-z0-9+/]+=*)*$' },
      },
    },
    answers: {
      '2XX': 'Received; answer quickly and do the work afterwards.',
      '410': 'Gone: the webhook is disabled and nothing more is sent to it.',
      default: `Not received. ${RETRY_SCHEDULE}`,
    },
  };
}

const OUTGOING_WEBHOOKS: Record<string, OutgoingWebhook> = {
  ...Object.fromEntries(
    Object.entries(WEBHOOK_EVENTS).map(([type, { tells, data }]) => [
      type,
      outgoing(type, tells.charAt(0).toUpperCase() + tells.slice(1), data),
    ]),
  ),
  'webhook.ping': outgoing('webhook.ping', 'A test of the receiver, sent only when asked for (ping)', PING_DATA),
};

const webhookId = { type: 'string', format: 'uuid' } as const;
const webhookParams = object({ webhookId }, ['webhookId']);
const deliveryParams = object({ webhookId, deliveryId: { type: 'string', format: 'uuid' } }, [
  'webhookId',
  'deliveryId',
]);

const url = {
  type: 'string',
  format: 'uri',
  pattern: '^https?://',
  maxLength: 2000,
  description:
    'where deliveries are POSTed: an absolute https URL without user or password; http and private addresses ' +
    '(loopback, private networks) only where the installation allows them (embedded mode does, a cluster does ' +
    'not unless configured to)',
} as const;
const eventTypes = {
  type: 'array',
  minItems: 1,
  maxItems: 20,
  uniqueItems: true,
  items: { type: 'string', enum: Object.keys(WEBHOOK_EVENT_TYPES) },
  description: Object.entries(WEBHOOK_EVENT_TYPES)
    .map(([type, tells]) => `\`${type}\`: ${tells}`)
    .join('; '),
} as const;
const description = { type: 'string', maxLength: 500, description: 'for people: what the webhook is for' } as const;
const timestamp = { type: 'string', format: 'date-time' } as const;

const WebhookJson = namedSchema('Webhook', {
  type: 'object',
  additionalProperties: false,
  description: 'A subscription of a URL to event types. Its signing secret is shown only when it is made.',
  required: ['id', 'url', 'eventTypes', 'description', 'enabled', 'disabledReason', 'secretHint', 'createdAt'],
  properties: {
    id: webhookId,
    url: { type: 'string' },
    eventTypes: { type: 'array', items: { type: 'string' } },
    description: { type: 'string' },
    enabled: { type: 'boolean', description: 'false: events are neither sent nor queued until it is enabled again' },
    disabledReason: {
      type: 'string',
      description:
        'why the platform disabled it: `gone` (the receiver answered 410 Gone) or `api_key_revoked` (the API key ' +
        'that created it was revoked); empty otherwise',
    },
    secretHint: { type: 'string', description: '`whsec_` and the first characters of the current secret' },
    previousSecretExpiresAt: {
      ...timestamp,
      description: 'present after a rotation: until then the previous secret signs each delivery too',
    },
    createdAt: timestamp,
    createdBy: { type: 'string', description: '`staff:<id>` or `api_key:<id>`' },
    ownerApiKeyId: {
      type: 'string',
      description:
        'the API key that created it: of the firm’s API keys only that one sees and manages it, and revoking the key ' +
        'disables it; empty when staff created it (admins see and manage every webhook of the firm)',
    },
    updatedAt: timestamp,
    updatedBy: { type: 'string' },
  },
});

const WebhookDeliveryJson = namedSchema('WebhookDelivery', {
  type: 'object',
  additionalProperties: false,
  description: `One event sent (or to be sent) to a webhook. status: pending, delivering, delivered, failed or
cancelled (the webhook was deleted first). ${RETRY_SCHEDULE}`,
  required: ['id', 'webhookId', 'eventId', 'eventType', 'status', 'attempts', 'createdAt'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    webhookId,
    eventId: { type: 'string', description: "the event's id; a ping has one of its own" },
    eventType: { type: 'string' },
    status: { enum: ['pending', 'delivering', 'delivered', 'failed', 'cancelled'] },
    attempts: { type: 'integer' },
    lastStatusCode: { type: 'integer', description: "the last attempt's HTTP status; 0 when none was received" },
    lastError: { type: 'string' },
    createdAt: timestamp,
    nextAttemptAt: timestamp,
    deliveredAt: timestamp,
    dossierId: { type: 'string', description: 'the dossier the event concerns; empty when none' },
  },
});

const WebhookAttemptJson = namedSchema('WebhookAttempt', {
  type: 'object',
  additionalProperties: false,
  properties: {
    attempt: { type: 'integer' },
    outcome: { enum: ['delivered', 'retry_scheduled', 'failed'] },
    statusCode: { type: 'integer' },
    error: { type: 'string' },
    responseExcerpt: { type: 'string', description: "the first characters of the receiver's answer" },
    durationMs: { type: 'integer' },
    startedAt: timestamp,
  },
});

const WebhookWithSecret = namedSchema(
  'WebhookWithSecret',
  object(
    {
      webhook: WebhookJson,
      secret: {
        type: 'string',
        pattern: '^whsec_',
        description: 'the signing secret, `whsec_<base64>`; shown only in this answer, keep it with the receiver',
      },
    },
    ['webhook', 'secret'],
  ),
);

const DeliveryAnswer = object({ delivery: WebhookDeliveryJson }, ['delivery']);

const secretShownOnce = (what: string) => (answer: { webhook: { id: string } }) =>
  `Its answer held ${what} of webhook ${answer.webhook.id}, which is shown only once; if it was lost, rotate ` +
  'that webhook’s secret (POST /v1/webhooks/{webhookId}/rotate-secret).';

export const createWebhook = defineRoute<{ body: { url: string; eventTypes: string[]; description?: string } }>({
  method: 'post',
  path: '/v1/webhooks',
  operationId: 'createWebhook',
  summary: 'Subscribe a partner application’s URL to events of the firm; the answer holds the signing secret',
  description: VERIFYING_A_DELIVERY,
  tags,
  auth: 'authenticated',
  permission: 'webhook:write',
  idempotency: { answerNotKept: secretShownOnce('the signing secret') },
  outgoingWebhooks: OUTGOING_WEBHOOKS,
  request: {
    body: namedSchema('CreateWebhook', object({ url, eventTypes, description }, ['url', 'eventTypes'])),
  },
  responses: { 201: { description: 'Created; the secret is shown only now', schema: WebhookWithSecret } },
  async handler(ctx) {
    const { url: target, eventTypes: types, description: about } = ctx.body;
    const created = await notificationOf(ctx.services).createWebhook(
      { url: target, eventTypes: types, description: about ?? '' },
      callFor(ctx),
    );
    return { webhook: json(WebhookSchema, created.webhook), secret: created.secret };
  },
});

export const listWebhooks = defineRoute<{ query: PageQuery }>({
  method: 'get',
  path: '/v1/webhooks',
  operationId: 'listWebhooks',
  summary: "The firm's webhooks, oldest first, a page at a time",
  description:
    'Oldest first (created, then id). When more follow, `nextCursor` is set: pass it as `cursor` for the next ' +
    'page; on the last page it is empty. Secrets are never listed.',
  tags,
  auth: 'authenticated',
  permission: 'webhook:read',
  request: { query: object(pageQuery()) },
  responses: {
    200: {
      description: 'A page of webhooks',
      schema: object({ items: { type: 'array', items: WebhookJson }, nextCursor }, ['items', 'nextCursor']),
    },
  },
  async handler(ctx) {
    const { pageSize, cursor } = pageOf(ctx.query);
    const page = await notificationOf(ctx.services).listWebhooks({ pageSize, cursor }, callFor(ctx));
    return { items: page.webhooks.map((webhook) => json(WebhookSchema, webhook)), nextCursor: page.nextCursor };
  },
});

export const getWebhook = defineRoute<{ params: { webhookId: string } }>({
  method: 'get',
  path: '/v1/webhooks/{webhookId}',
  operationId: 'getWebhook',
  summary: 'One webhook of the firm (without its secret)',
  tags,
  auth: 'authenticated',
  permission: 'webhook:read',
  request: { params: webhookParams },
  responses: { 200: { description: 'The webhook', schema: WebhookJson } },
  async handler(ctx) {
    const found = await notificationOf(ctx.services).getWebhook(ctx.params, callFor(ctx));
    return json(WebhookSchema, found.webhook);
  },
});

export const updateWebhook = defineRoute<{
  params: { webhookId: string };
  body: { url?: string; eventTypes?: string[]; description?: string; enabled?: boolean };
}>({
  method: 'patch',
  path: '/v1/webhooks/{webhookId}',
  operationId: 'updateWebhook',
  summary: 'Change a webhook’s URL, event types or description, or disable and enable it',
  description:
    'Fields left out stay as they are; at least one is needed. `eventTypes` replaces the list. `enabled: true` ' +
    'enables again a webhook the platform disabled (its receiver answered 410 Gone).',
  tags,
  auth: 'authenticated',
  permission: 'webhook:write',
  request: {
    params: webhookParams,
    body: namedSchema('UpdateWebhook', {
      ...object({ url, eventTypes, description, enabled: { type: 'boolean' } }),
      minProperties: 1,
    }),
  },
  responses: { 200: { description: 'The webhook as changed', schema: WebhookJson } },
  async handler(ctx) {
    const { eventTypes: types, ...rest } = ctx.body;
    const updated = await notificationOf(ctx.services).updateWebhook(
      { ...ctx.params, ...rest, eventTypes: types ?? [], updateEventTypes: types !== undefined },
      callFor(ctx),
    );
    return json(WebhookSchema, updated.webhook);
  },
});

export const deleteWebhook = defineRoute<{ params: { webhookId: string } }>({
  method: 'delete',
  path: '/v1/webhooks/{webhookId}',
  operationId: 'deleteWebhook',
  summary: 'Delete a webhook: nothing more is sent to it, deliveries not yet made are cancelled',
  description: 'Its delivery log stays readable (`GET .../deliveries`); everything else answers 404.',
  tags,
  auth: 'authenticated',
  permission: 'webhook:write',
  request: { params: webhookParams },
  responses: { 204: { description: 'Deleted' } },
  async handler(ctx) {
    await notificationOf(ctx.services).deleteWebhook(ctx.params, callFor(ctx));
    return reply(204);
  },
});

export const rotateWebhookSecret = defineRoute<{ params: { webhookId: string } }>({
  method: 'post',
  path: '/v1/webhooks/{webhookId}/rotate-secret',
  operationId: 'rotateWebhookSecret',
  summary: 'A new signing secret for a webhook, shown only in this answer',
  description:
    'The previous secret keeps signing beside the new one until `previousSecretExpiresAt`: each delivery ' +
    'carries a signature of both (`webhook-signature` lists them separated by spaces), so the receiver can ' +
    'switch to the new secret in that time without refusing a delivery. See createWebhook for verifying.',
  tags,
  auth: 'authenticated',
  permission: 'webhook:write',
  idempotency: { answerNotKept: secretShownOnce('the new signing secret') },
  request: { params: webhookParams },
  responses: { 200: { description: 'Rotated; the new secret is shown only now', schema: WebhookWithSecret } },
  async handler(ctx) {
    const rotated = await notificationOf(ctx.services).rotateWebhookSecret(ctx.params, callFor(ctx));
    return { webhook: json(WebhookSchema, rotated.webhook), secret: rotated.secret };
  },
});

export const pingWebhook = defineRoute<{ params: { webhookId: string } }>({
  method: 'post',
  path: '/v1/webhooks/{webhookId}/ping',
  operationId: 'pingWebhook',
  summary: 'Send a `webhook.ping` event to the webhook, to test its receiver',
  description:
    'The ping is queued, signed and retried like every delivery; follow it in the delivery log. A disabled ' +
    'webhook is not pinged (422 `webhook-disabled`): enable it first.',
  tags,
  auth: 'authenticated',
  permission: 'webhook:write',
  request: { params: webhookParams },
  responses: { 202: { description: 'Queued', schema: DeliveryAnswer } },
  async handler(ctx) {
    const pinged = await notificationOf(ctx.services).pingWebhook(ctx.params, callFor(ctx));
    return { delivery: json(WebhookDeliverySchema, pinged.delivery) };
  },
});

export const listWebhookDeliveries = defineRoute<{
  params: { webhookId: string };
  query: { status?: string } & PageQuery;
}>({
  method: 'get',
  path: '/v1/webhooks/{webhookId}/deliveries',
  operationId: 'listWebhookDeliveries',
  summary: 'A webhook’s delivery log, newest first, a page at a time',
  description:
    'Newest first (created, then id). When more follow, `nextCursor` is set: pass it as `cursor` for the next ' +
    `page; on the last page it is empty. ${RETRY_SCHEDULE}`,
  tags,
  auth: 'authenticated',
  permission: 'webhook:read',
  request: {
    params: webhookParams,
    query: object({ status: WebhookDeliveryJson.properties.status, ...pageQuery() }),
  },
  responses: {
    200: {
      description: 'A page of the log',
      schema: object({ items: { type: 'array', items: WebhookDeliveryJson }, nextCursor }, ['items', 'nextCursor']),
    },
  },
  async handler(ctx) {
    const { pageSize, cursor } = pageOf(ctx.query);
    const page = await notificationOf(ctx.services).listWebhookDeliveries(
      { webhookId: ctx.params.webhookId, status: ctx.query.status ?? '', pageSize, cursor },
      callFor(ctx),
    );
    return {
      items: page.deliveries.map((delivery) => json(WebhookDeliverySchema, delivery)),
      nextCursor: page.nextCursor,
    };
  },
});

export const getWebhookDelivery = defineRoute<{ params: { webhookId: string; deliveryId: string } }>({
  method: 'get',
  path: '/v1/webhooks/{webhookId}/deliveries/{deliveryId}',
  operationId: 'getWebhookDelivery',
  summary: 'One delivery with the body sent and its latest 100 attempts (the delivery says how many there were)',
  tags,
  auth: 'authenticated',
  permission: 'webhook:read',
  request: { params: deliveryParams },
  responses: {
    200: {
      description: 'The delivery, its body and its attempts',
      schema: object(
        {
          delivery: WebhookDeliveryJson,
          payload: { type: 'string', description: 'the JSON body sent, as sent (the same for every attempt)' },
          attempts: { type: 'array', items: WebhookAttemptJson },
        },
        ['delivery', 'payload', 'attempts'],
      ),
    },
  },
  async handler(ctx) {
    const found = await notificationOf(ctx.services).getWebhookDelivery(ctx.params, callFor(ctx));
    return {
      delivery: json(WebhookDeliverySchema, found.delivery),
      payload: found.payload,
      attempts: found.attempts.map((attempt) => json(WebhookAttemptSchema, attempt)),
    };
  },
});

export const retryWebhookDelivery = defineRoute<{ params: { webhookId: string; deliveryId: string } }>({
  method: 'post',
  path: '/v1/webhooks/{webhookId}/deliveries/{deliveryId}/retry',
  operationId: 'retryWebhookDelivery',
  summary: 'Send a delivery again now, as a new series of attempts with the same `webhook-id`',
  description:
    'For a failed, delivered or cancelled delivery of an enabled webhook: the same body, the retry schedule from ' +
    'its start. Refused (422) while the webhook is disabled (`webhook-disabled`) or the delivery is still being ' +
    'tried (`webhook-delivery-in-progress`).',
  tags,
  auth: 'authenticated',
  permission: 'webhook:write',
  request: { params: deliveryParams },
  responses: { 202: { description: 'Queued again', schema: DeliveryAnswer } },
  async handler(ctx) {
    const retried = await notificationOf(ctx.services).retryWebhookDelivery(ctx.params, callFor(ctx));
    return { delivery: json(WebhookDeliverySchema, retried.delivery) };
  },
});

export const webhookRoutes = [
  createWebhook,
  listWebhooks,
  getWebhook,
  updateWebhook,
  deleteWebhook,
  rotateWebhookSecret,
  pingWebhook,
  listWebhookDeliveries,
  getWebhookDelivery,
  retryWebhookDelivery,
];
