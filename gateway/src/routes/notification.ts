/**
 * The notification service's endpoints (spec 07) for a firm's admins: the delivery log, the firm's SMTP
 * server and logo; and in embedded mode the local mailbox, which shows the mails the platform sent (the SMTP
 * sink receives them all), each firm seeing only its own.
 */
import { toJson, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { decodeCursor, pageOfRows, pageSizeOf } from '@kantoor/database';
import { invalidArgument, notFound, permissionDenied, unavailable } from '@kantoor/errors';
import type { ServiceClient } from '@kantoor/grpc';
import {
  DeliveryAttemptSchema,
  DeliverySchema,
  NotificationService,
  SmtpSettingsSchema,
} from '@kantoor/proto/kantoor/notification/v1/notification_pb';
import type { Caller } from '../auth/caller';
import type { ServiceClients } from '../app';
import { defineRoute, namedSchema, reply, type JsonSchema, type RouteContext, type RouteTypes } from '../openapi/route';
import { nextCursor, pageOf, pageQuery, type PageQuery } from './list-pages';

/** What the gateway reads of embedded mode's SMTP sink (@kantoor/smtp-sink), by shape only. */
export interface MailboxMessageSummary {
  id: string;
  messageId: string | null;
  envelopeTo: string[];
  from: string | null;
  subject: string;
  receivedAt: Date;
  size: number;
  headers: Record<string, string>;
}

export interface Mailbox {
  messages(): MailboxMessageSummary[];
  message(
    id: string,
  ): (MailboxMessageSummary & { text: string | null; html: string | null; attachments: unknown[] }) | undefined;
}

declare module '../app' {
  interface ServiceClients {
    notification?: ServiceClient<typeof NotificationService>;
    /** embedded mode only: the local SMTP sink */
    mailbox?: Mailbox;
  }
}

type Ctx = Pick<RouteContext<RouteTypes, Caller>, 'caller' | 'requestId' | 'signal' | 'services'>;

// notificationOf, callFor, json and object serve the webhook routes (routes/webhooks.ts) too
export function notificationOf(services: ServiceClients): ServiceClient<typeof NotificationService> {
  if (!services.notification)
    throw unavailable('The notification service is not available.', { reason: 'notification_unavailable' });
  return services.notification;
}

export const callFor = (ctx: Ctx) => ({ caller: { ...ctx.caller, requestId: ctx.requestId }, signal: ctx.signal });

export const json = <D extends DescMessage>(schema: D, message: MessageShape<D> | undefined) =>
  message ? toJson(schema, message, { alwaysEmitImplicit: true }) : null;

export const object = (properties: Record<string, unknown>, required: string[] = []): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  properties,
  required,
});
const tags = ['notifications'];

const DeliveryJson = namedSchema('Delivery', {
  type: 'object',
  description:
    'One mail of the delivery log. status: queued, sending, sent or failed; resent: sent again after an interruption, with the same Message-ID.',
  properties: {
    id: { type: 'string' },
    kind: { type: 'string' },
    recipient: { type: 'string' },
    language: { type: 'string' },
    subject: { type: 'string' },
    status: { type: 'string' },
    attempts: { type: 'integer' },
    messageId: { type: 'string' },
    resent: { type: 'boolean' },
    smtpResponse: { type: 'string' },
    lastError: { type: 'string' },
    routedVia: { type: 'string' },
  },
});

const SmtpSettingsJson = namedSchema('SmtpSettings', {
  type: 'object',
  description: 'The firm’s SMTP server; the password is never shown, only whether there is one.',
  properties: {
    host: { type: 'string' },
    port: { type: 'integer' },
    tls: { type: 'string' },
    username: { type: 'string' },
    hasPassword: { type: 'boolean' },
    senderAddress: { type: 'string' },
    senderName: { type: 'string' },
  },
});

const PutSmtpSettings = namedSchema(
  'PutSmtpSettings',
  object(
    {
      host: { type: 'string', minLength: 1, maxLength: 253 },
      port: { type: 'integer', minimum: 1, maximum: 65535 },
      tls: { enum: ['none', 'starttls', 'tls'] },
      username: { type: 'string', maxLength: 320 },
      password: {
        type: 'string',
        maxLength: 1000,
        description: 'absent: keep the stored password; empty: no password',
      },
      senderAddress: { type: 'string', format: 'email', maxLength: 254 },
      senderName: { type: 'string', maxLength: 200 },
    },
    ['host', 'port', 'tls', 'senderAddress'],
  ),
);

export const listDeliveries = defineRoute<{
  query: { status?: string; kind?: string; pageToken?: string } & PageQuery;
}>({
  method: 'get',
  path: '/v1/notifications/deliveries',
  operationId: 'listDeliveries',
  summary: "The firm's delivery log, newest first, a page at a time (admins)",
  description:
    'Newest first (created, then id). When more follow, `nextCursor` is set: pass it as `cursor` for the next ' +
    'page; on the last page it is empty. `pageToken` and `nextPageToken` are the deprecated names of `cursor` ' +
    'and `nextCursor`.',
  tags,
  auth: 'authenticated',
  permission: 'notification:read',
  request: {
    query: object({
      status: { enum: ['queued', 'sending', 'sent', 'failed'] },
      kind: { type: 'string', maxLength: 64 },
      ...pageQuery(),
      pageToken: {
        type: 'string',
        maxLength: 1000,
        deprecated: true,
        description: 'deprecated: use `cursor` (the same value); give one of them, not both. Empty: the first page',
      },
    }),
  },
  responses: {
    200: {
      description: 'A page of the log',
      schema: object(
        {
          items: { type: 'array', items: DeliveryJson },
          nextCursor,
          nextPageToken: {
            type: ['string', 'null'],
            deprecated: true,
            description: 'deprecated: use `nextCursor`; the same value, but null on the last page',
          },
        },
        ['items', 'nextCursor', 'nextPageToken'],
      ),
    },
  },
  async handler(ctx) {
    const { pageToken, ...query } = ctx.query;
    // an empty pageToken asked for the first page before cursors, as no pageToken does
    if (query.cursor !== undefined && pageToken)
      throw invalidArgument('Give cursor or its deprecated name pageToken, not both.', {
        reason: 'validation_failed',
        violations: [{ field: 'query.pageToken', message: 'is the deprecated name of cursor; give only cursor' }],
      });
    const { pageSize, cursor } = pageOf({ ...query, cursor: query.cursor ?? (pageToken || undefined) });
    const page = await notificationOf(ctx.services).listDeliveries(
      { status: query.status ?? '', kind: query.kind ?? '', pageSize, cursor },
      callFor(ctx),
    );
    return {
      items: page.deliveries.map((delivery) => json(DeliverySchema, delivery)),
      nextCursor: page.nextCursor,
      nextPageToken: page.nextCursor || null,
    };
  },
});

export const getDelivery = defineRoute<{ params: { deliveryId: string } }>({
  method: 'get',
  path: '/v1/notifications/deliveries/{deliveryId}',
  operationId: 'getDelivery',
  summary: 'One mail of the delivery log with every attempt to send it (admins)',
  tags,
  auth: 'authenticated',
  permission: 'notification:read',
  request: { params: object({ deliveryId: { type: 'string', format: 'uuid' } }, ['deliveryId']) },
  responses: {
    200: {
      description: 'The mail and its attempts',
      schema: object({ delivery: DeliveryJson, attempts: { type: 'array', items: { type: 'object' } } }, [
        'delivery',
        'attempts',
      ]),
    },
  },
  async handler(ctx) {
    const found = await notificationOf(ctx.services).getDelivery({ deliveryId: ctx.params.deliveryId }, callFor(ctx));
    return {
      delivery: json(DeliverySchema, found.delivery),
      attempts: found.attempts.map((attempt) => json(DeliveryAttemptSchema, attempt)),
    };
  },
});

export const getSmtpSettings = defineRoute({
  method: 'get',
  path: '/v1/notifications/smtp-settings',
  operationId: 'getSmtpSettings',
  summary: "The firm's SMTP server; null when mails go through the platform's server (admins)",
  tags,
  auth: 'authenticated',
  permission: 'notification:read',
  responses: {
    200: {
      description: 'The settings',
      schema: object({ settings: { oneOf: [SmtpSettingsJson, { type: 'null' }] } }, ['settings']),
    },
  },
  async handler(ctx) {
    const { settings } = await notificationOf(ctx.services).getSmtpSettings({}, callFor(ctx));
    return { settings: json(SmtpSettingsSchema, settings) };
  },
});

export const putSmtpSettings = defineRoute<{
  body: {
    host: string;
    port: number;
    tls: string;
    username?: string;
    password?: string;
    senderAddress: string;
    senderName?: string;
  };
}>({
  method: 'put',
  path: '/v1/notifications/smtp-settings',
  operationId: 'putSmtpSettings',
  summary: "Sets the firm's SMTP server; the password is stored encrypted (admins)",
  tags,
  auth: 'authenticated',
  permission: 'notification:write',
  request: { body: PutSmtpSettings },
  responses: { 200: { description: 'The stored settings', schema: SmtpSettingsJson } },
  async handler(ctx) {
    const { body } = ctx;
    const { settings } = await notificationOf(ctx.services).setSmtpSettings(
      { ...body, username: body.username ?? '', senderName: body.senderName ?? '' },
      callFor(ctx),
    );
    return json(SmtpSettingsSchema, settings);
  },
});

export const deleteSmtpSettings = defineRoute({
  method: 'delete',
  path: '/v1/notifications/smtp-settings',
  operationId: 'deleteSmtpSettings',
  summary: "Forgets the firm's SMTP server: mails go through the platform's server again (admins)",
  tags,
  auth: 'authenticated',
  permission: 'notification:write',
  responses: { 204: { description: 'Forgotten' } },
  async handler(ctx) {
    await notificationOf(ctx.services).clearSmtpSettings({}, callFor(ctx));
    return reply(204);
  },
});

export const putFirmLogo = defineRoute<{ body: { contentType: string; data: string } }>({
  method: 'put',
  path: '/v1/notifications/logo',
  operationId: 'putFirmLogo',
  summary: 'Sets the logo shown in every mail of the firm; empty data removes it (admins)',
  tags,
  auth: 'authenticated',
  permission: 'notification:write',
  bodyLimit: 400_000,
  request: {
    body: object(
      {
        contentType: { enum: ['image/png', 'image/jpeg'] },
        data: { type: 'string', contentEncoding: 'base64', maxLength: 350_000, pattern: '^[A-Za-z0-9+/]*={0,2}$' },
      },
      ['contentType', 'data'],
    ),
  },
  responses: { 204: { description: 'Stored' } },
  async handler(ctx) {
    await notificationOf(ctx.services).setFirmLogo(
      { logo: Buffer.from(ctx.body.data, 'base64'), contentType: ctx.body.contentType },
      callFor(ctx),
    );
    return reply(204);
  },
});

/** Embedded mode's mailbox: only where the sink runs, only for admins, only their firm's mails. */
function mailboxOfAdmin(ctx: Ctx): Mailbox {
  if (ctx.caller.kind !== 'staff' || ctx.caller.role !== 'admin')
    throw permissionDenied('Only admins read the local mailbox.', { reason: 'admin_only' });
  if (!ctx.services.mailbox)
    throw notFound('There is no local mailbox: this installation sends real mail.', {
      reason: 'mailbox_not_available',
    });
  return ctx.services.mailbox;
}

const ofFirm = (ctx: Ctx) => (message: MailboxMessageSummary) =>
  message.headers['x-kantoor-firm'] === ctx.caller.firmId;

const summaryJson = (message: MailboxMessageSummary) => ({
  id: message.id,
  messageId: message.messageId,
  to: message.envelopeTo,
  from: message.from,
  subject: message.subject,
  receivedAt: message.receivedAt.toISOString(),
  size: message.size,
  kind: message.headers['x-kantoor-kind'] ?? null,
});

const MailboxMessageJson = namedSchema('MailboxMessage', {
  type: 'object',
  properties: {
    id: { type: 'string' },
    messageId: { type: ['string', 'null'] },
    to: { type: 'array', items: { type: 'string' } },
    subject: { type: 'string' },
    receivedAt: { type: 'string' },
  },
});

/** The mailbox's order: newest first, by the time the sink received a mail (milliseconds), then its id. */
type MailboxPosition = Pick<MailboxMessageSummary, 'receivedAt' | 'id'>;
const newerFirst = (a: MailboxPosition, b: MailboxPosition) =>
  b.receivedAt.getTime() - a.receivedAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

const RECEIVED_AT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** The mails after a cursor's mail in the mailbox's order; the key is its receivedAt in ISO form. */
function after(messages: MailboxMessageSummary[], cursor: string): MailboxMessageSummary[] {
  const position = decodeCursor(cursor, (key) => RECEIVED_AT.test(key) && !Number.isNaN(Date.parse(key)));
  const last = { id: position.id, receivedAt: new Date(position.key) };
  return messages.filter((message) => newerFirst(last, message) < 0);
}

export const listMailboxMessages = defineRoute<{ query: PageQuery }>({
  method: 'get',
  path: '/v1/mailbox/messages',
  operationId: 'listMailboxMessages',
  summary:
    'Embedded mode: the mails the platform sent for the firm, as the local SMTP sink received them, newest first',
  description:
    'Newest first (received, then id), a page at a time: when more follow, `nextCursor` is set; pass it as ' +
    '`cursor` for the next page. `limit` is the deprecated name of `pageSize`.',
  tags,
  auth: 'authenticated',
  permission: 'notification:read',
  request: { query: object(pageQuery(1000)) },
  responses: {
    200: {
      description: 'The received mails',
      schema: object({ items: { type: 'array', items: MailboxMessageJson }, nextCursor }, ['items', 'nextCursor']),
    },
  },
  handler(ctx) {
    const mailbox = mailboxOfAdmin(ctx);
    const request = pageOf(ctx.query);
    const newestFirst = mailbox.messages().filter(ofFirm(ctx)).sort(newerFirst);
    const page = pageOfRows(
      request.cursor ? after(newestFirst, request.cursor) : newestFirst,
      pageSizeOf(request, 1000),
      (message) => [message.receivedAt.toISOString(), message.id],
    );
    return { items: page.rows.map(summaryJson), nextCursor: page.nextCursor };
  },
});

export const getMailboxMessage = defineRoute<{ params: { mailId: string } }>({
  method: 'get',
  path: '/v1/mailbox/messages/{mailId}',
  operationId: 'getMailboxMessage',
  summary: 'Embedded mode: one received mail with its text and HTML parts',
  tags,
  auth: 'authenticated',
  permission: 'notification:read',
  request: { params: object({ mailId: { type: 'string', maxLength: 64 } }, ['mailId']) },
  responses: { 200: { description: 'The mail', schema: MailboxMessageJson } },
  handler(ctx) {
    const mail = mailboxOfAdmin(ctx).message(ctx.params.mailId);
    // another firm's mail is as unknown as one that never arrived
    if (!mail || !ofFirm(ctx)(mail))
      throw notFound('There is no such mail in the local mailbox.', { reason: 'mail_not_found' });
    return { ...summaryJson(mail), text: mail.text, html: mail.html, attachments: mail.attachments };
  },
});

export const notificationRoutes = [
  listDeliveries,
  getDelivery,
  getSmtpSettings,
  putSmtpSettings,
  deleteSmtpSettings,
  putFirmLogo,
  listMailboxMessages,
  getMailboxMessage,
];
