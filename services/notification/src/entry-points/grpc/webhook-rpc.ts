/**
 * The webhook RPCs: a firm's subscriptions, their secrets and their delivery log. The gateway lets staff admins and
 * API keys holding `webhook:read` (List, Get, ListDeliveries, GetDelivery) or `webhook:write` (the rest) through;
 * this service checks the same again and acts on the caller's firm only: another firm's webhook is not found. An API
 * key reaches only the webhooks it created (partners do not see or change each other's), admins all of the firm's;
 * DisableApiKeyWebhooks (admins, when they revoke a key) disables a key's webhooks.
 */
import { randomUUID } from 'node:crypto';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { scopeGrants } from '@kantoor/access-policy';
import { decodeCursor, isPostgresTime, pageOfRows, pageSizeOf, type Database } from '@kantoor/database';
import { failedPrecondition, invalidArgument, notFound, permissionDenied } from '@kantoor/errors';
import { injectTraceHeaders } from '@kantoor/events';
import type { Caller, ServiceImpl } from '@kantoor/grpc';
import type { NotificationService } from '@kantoor/proto/kantoor/notification/v1/notification_pb';
import {
  findWebhookDelivery,
  listWebhookDeliveries,
  MAX_DELIVERY_ATTEMPTS,
  queueWebhookDelivery,
  requeueWebhookDelivery,
  type WebhookDeliveryRow,
} from '../../data-access/webhook-delivery-repository';
import {
  deleteWebhook,
  disableApiKeyWebhooks,
  findWebhook,
  insertWebhookWithinLimit,
  listWebhooks,
  MAX_WEBHOOKS_PER_FIRM,
  rotateWebhookSecret,
  updateWebhook,
  type WebhookRow,
  type WebhookScope,
} from '../../data-access/webhook-repository';
import type { SecretBox } from '../../domain/secret-box';
import { checkWebhookUrl, type WebhookAddressRules } from '../../domain/webhook-address';
import { checkEventTypes, PING_EVENT_TYPE, webhookBody } from '../../domain/webhook-event';
import { generateWebhookSecret, secretHint } from '../../domain/webhook-signature';
import { isUuid } from '../../domain/ids';

export interface WebhookRpcContext {
  db: Database;
  box: SecretBox;
  rules: WebhookAddressRules;
  /** how long a rotated-out secret keeps signing beside the new one */
  secretOverlapHours: number;
  /** a delivery was queued (a ping, a retry): the worker should look now */
  onQueued: () => void;
}

type WebhookMethods = Pick<
  ServiceImpl<typeof NotificationService>,
  | 'createWebhook'
  | 'listWebhooks'
  | 'getWebhook'
  | 'updateWebhook'
  | 'deleteWebhook'
  | 'rotateWebhookSecret'
  | 'pingWebhook'
  | 'listWebhookDeliveries'
  | 'getWebhookDelivery'
  | 'retryWebhookDelivery'
  | 'disableApiKeyWebhooks'
>;

/**
 * The caller's firm, who they are (`staff:<id>`, `api_key:<id>`) and the webhooks they reach (an API key: its own),
 * when they may use `permission`.
 */
function webhookCaller(caller: Caller, permission: 'webhook:read' | 'webhook:write') {
  const admin = caller.kind === 'staff' && caller.role === 'admin' && !caller.impersonation;
  const apiKey = caller.kind === 'api_key' && scopeGrants(caller.scopes, permission);
  if (!(admin || apiKey) || !caller.firmId) {
    throw permissionDenied(`Only the firm's admins and API keys with the scope ${permission} may do this.`, {
      reason: caller.kind === 'api_key' ? 'missing_scope' : 'admin_only',
    });
  }
  const scope: WebhookScope = {
    firmId: caller.firmId,
    ownerApiKeyId: caller.kind === 'api_key' ? caller.subjectId : undefined,
  };
  return { firmId: caller.firmId, actor: `${caller.kind}:${caller.subjectId}`, scope };
}

function idOf(value: string, field: 'webhookId' | 'deliveryId'): string {
  if (!isUuid(value))
    throw invalidArgument(`${field} must be a UUID.`, {
      reason: 'validation_failed',
      violations: [{ field, message: 'must be a UUID' }],
    });
  return value;
}

export const MAX_DESCRIPTION_LENGTH = 500;

function checkDescription(description: string): string {
  if (description.length > MAX_DESCRIPTION_LENGTH)
    throw invalidArgument(`The description must be at most ${MAX_DESCRIPTION_LENGTH} characters.`, {
      reason: 'validation_failed',
      violations: [{ field: 'description', message: `must be at most ${MAX_DESCRIPTION_LENGTH} characters` }],
    });
  return description;
}

const DELIVERY_STATUSES = ['', 'pending', 'delivering', 'delivered', 'failed', 'cancelled'];

const webhookNotFound = () => notFound('There is no such webhook.', { reason: 'webhook_not_found' });
const deliveryNotFound = () => notFound('The webhook has no such delivery.', { reason: 'webhook_delivery_not_found' });

/** Never the secrets: the hint tells them apart. */
const webhookMessage = (row: WebhookRow) => ({
  id: row.id,
  url: row.url,
  eventTypes: row.event_types,
  description: row.description,
  enabled: row.enabled,
  disabledReason: row.disabled_reason,
  secretHint: row.secret_hint,
  previousSecretExpiresAt: row.previous_secret_expires_at
    ? timestampFromDate(row.previous_secret_expires_at)
    : undefined,
  createdAt: timestampFromDate(row.created_at),
  createdBy: row.created_by,
  updatedAt: timestampFromDate(row.updated_at),
  updatedBy: row.updated_by,
  ownerApiKeyId: row.owner_api_key_id ?? '',
});

const deliveryMessage = (row: WebhookDeliveryRow) => ({
  id: row.id,
  webhookId: row.webhook_id,
  eventId: row.event_id,
  eventType: row.event_type,
  status: row.status,
  attempts: row.attempts,
  lastStatusCode: row.last_status_code ?? 0,
  lastError: row.last_error ?? '',
  createdAt: timestampFromDate(row.created_at),
  nextAttemptAt: row.status === 'pending' ? timestampFromDate(row.next_attempt_at) : undefined,
  deliveredAt: row.delivered_at ? timestampFromDate(row.delivered_at) : undefined,
  dossierId: row.dossier_id ?? '',
});

const cursorOf = (cursor: string) => (cursor ? decodeCursor(cursor, isPostgresTime) : undefined);

export function webhookRpc(context: WebhookRpcContext): WebhookMethods {
  const { db, box, rules } = context;

  /** The caller's webhook (in its scope); a deleted one only for reading its delivery log. */
  const webhookOf = async (scope: WebhookScope, webhookId: string, options: { deleted?: boolean } = {}) => {
    const found = await findWebhook(db, scope, idOf(webhookId, 'webhookId'), options);
    if (!found) throw webhookNotFound();
    return found;
  };
  const live = (webhook: WebhookRow, action: string) => {
    if (!webhook.enabled)
      throw failedPrecondition(`The webhook is disabled; enable it before you ${action}.`, {
        reason: 'webhook_disabled',
      });
    return webhook;
  };

  return {
    async createWebhook(request, { caller }) {
      const { firmId, actor, scope } = webhookCaller(caller, 'webhook:write');
      const url = checkWebhookUrl(request.url, rules);
      const eventTypes = checkEventTypes(request.eventTypes);
      const description = checkDescription(request.description);
      const secret = generateWebhookSecret();
      const row = await insertWebhookWithinLimit(db, {
        id: randomUUID(),
        firm_id: firmId,
        url,
        event_types: eventTypes,
        description,
        secret_sealed: box.seal(secret),
        secret_hint: secretHint(secret),
        created_by: actor,
        owner_api_key_id: scope.ownerApiKeyId,
      });
      if (!row)
        throw failedPrecondition(
          `The firm has ${MAX_WEBHOOKS_PER_FIRM} webhooks, the most it can have; delete one it no longer needs first.`,
          { reason: 'too_many_webhooks' },
        );
      return { webhook: webhookMessage(row), secret };
    },

    async listWebhooks(request, { caller }) {
      const { scope } = webhookCaller(caller, 'webhook:read');
      const pageSize = pageSizeOf(request);
      const rows = await listWebhooks(db, scope, { limit: pageSize + 1, after: cursorOf(request.cursor) });
      const page = pageOfRows(rows, pageSize, (row) => [row.position, row.id]);
      return { webhooks: page.rows.map(webhookMessage), nextCursor: page.nextCursor };
    },

    async getWebhook(request, { caller }) {
      const { scope } = webhookCaller(caller, 'webhook:read');
      return { webhook: webhookMessage(await webhookOf(scope, request.webhookId)) };
    },

    async updateWebhook(request, { caller }) {
      const { scope, actor } = webhookCaller(caller, 'webhook:write');
      const webhookId = idOf(request.webhookId, 'webhookId');
      if (!request.updateEventTypes && request.eventTypes.length > 0)
        throw invalidArgument('Set updateEventTypes to replace the event types.', {
          reason: 'validation_failed',
          violations: [{ field: 'updateEventTypes', message: 'must be set when eventTypes are given' }],
        });
      const row = await updateWebhook(
        db,
        scope,
        webhookId,
        {
          url: request.url === undefined ? undefined : checkWebhookUrl(request.url, rules),
          eventTypes: request.updateEventTypes ? checkEventTypes(request.eventTypes) : undefined,
          description: request.description === undefined ? undefined : checkDescription(request.description),
          enabled: request.enabled,
        },
        actor,
      );
      if (!row) throw webhookNotFound();
      return { webhook: webhookMessage(row) };
    },

    async deleteWebhook(request, { caller }) {
      const { scope, actor } = webhookCaller(caller, 'webhook:write');
      if (!(await deleteWebhook(db, scope, idOf(request.webhookId, 'webhookId'), actor))) throw webhookNotFound();
      return {};
    },

    async rotateWebhookSecret(request, { caller }) {
      const { scope, actor } = webhookCaller(caller, 'webhook:write');
      const webhookId = idOf(request.webhookId, 'webhookId');
      const secret = generateWebhookSecret();
      const row = await rotateWebhookSecret(db, scope, webhookId, {
        sealed: box.seal(secret),
        hint: secretHint(secret),
        overlapHours: context.secretOverlapHours,
        rotatedBy: actor,
      });
      if (!row) throw webhookNotFound();
      if (!row)
        throw failedPrecondition(
          `The firm has ${MAX_WEBHOOKS_PER_FIRM} webhooks, the most it can have; delete one it no longer needs first.`,
          { reason: 'too_many_webhooks' },
        );
      return { webhook: webhookMessage(row), secret };
    },

    async pingWebhook(request, { caller }) {
      const { firmId, scope } = webhookCaller(caller, 'webhook:write');
      const webhook = live(await webhookOf(scope, request.webhookId), 'ping it');
      const eventId = randomUUID();
      const body = webhookBody({
        id: eventId,
        type: PING_EVENT_TYPE,
        occurredAt: new Date(),
        firmId,
        data: { webhookId: webhook.id },
      });
      const delivery = await queueWebhookDelivery(
        db,
        {
          webhookId: webhook.id,
          firmId,
          eventId,
          eventType: PING_EVENT_TYPE,
          traceparent: injectTraceHeaders().traceparent,
        },
        body,
      );
      context.onQueued();
      return { delivery: deliveryMessage(delivery) };
    },

    async listWebhookDeliveries(request, { caller }) {
      const { scope } = webhookCaller(caller, 'webhook:read');
      const webhook = await webhookOf(scope, request.webhookId, { deleted: true });
      if (!DELIVERY_STATUSES.includes(request.status))
        throw invalidArgument('status must be pending, delivering, delivered, failed or cancelled.', {
          reason: 'invalid_status',
          violations: [{ field: 'status', message: 'must be pending, delivering, delivered, failed or cancelled' }],
        });
      const pageSize = pageSizeOf(request);
      const rows = await listWebhookDeliveries(db, webhook.id, {
        status: request.status,
        limit: pageSize + 1,
        after: cursorOf(request.cursor),
      });
      const page = pageOfRows(rows, pageSize, (row) => [row.position, row.id]);
      return { deliveries: page.rows.map(deliveryMessage), nextCursor: page.nextCursor };
    },

    async getWebhookDelivery(request, { caller }) {
      const { scope } = webhookCaller(caller, 'webhook:read');
      const deliveryId = idOf(request.deliveryId, 'deliveryId');
      const webhook = await webhookOf(scope, request.webhookId, { deleted: true });
      const found = await findWebhookDelivery(db, webhook.id, deliveryId);
      if (!found) throw deliveryNotFound();
      return {
        delivery: deliveryMessage(found.delivery),
        payload: found.delivery.payload,
        attempts: found.attempts.map((attempt) => ({
          attempt: attempt.attempt,
          outcome: attempt.outcome,
          statusCode: attempt.status_code ?? 0,
          error: attempt.error ?? '',
          responseExcerpt: attempt.response_excerpt ?? '',
          durationMs: attempt.duration_ms,
          startedAt: timestampFromDate(attempt.started_at),
        })),
      };
    },

    async retryWebhookDelivery(request, { caller }) {
      const { scope } = webhookCaller(caller, 'webhook:write');
      const deliveryId = idOf(request.deliveryId, 'deliveryId');
      const webhook = live(await webhookOf(scope, request.webhookId), 'retry its deliveries');
      const requeued = await requeueWebhookDelivery(db, webhook.id, deliveryId);
      if (!requeued) {
        const found = await findWebhookDelivery(db, webhook.id, deliveryId);
        if (!found) throw deliveryNotFound();
        if (found.delivery.attempts >= MAX_DELIVERY_ATTEMPTS)
          throw failedPrecondition(
            `The delivery was tried ${found.delivery.attempts} times, the most a delivery is; the event stays in its body.`,
            { reason: 'webhook_delivery_attempts_exhausted' },
          );
        throw failedPrecondition('The delivery is still being tried; retry it once it has failed or ended.', {
          reason: 'webhook_delivery_in_progress',
        });
      }
      context.onQueued();
      return { delivery: deliveryMessage(requeued) };
    },

    async disableApiKeyWebhooks(request, { caller }) {
      const { firmId, actor, scope } = webhookCaller(caller, 'webhook:write');
      // a key's own webhooks are ended by revoking it, which only admins do
      if (scope.ownerApiKeyId)
        throw permissionDenied("Only the firm's admins may disable an API key's webhooks.", { reason: 'admin_only' });
      if (!isUuid(request.apiKeyId))
        throw invalidArgument('apiKeyId must be a UUID.', {
          reason: 'validation_failed',
          violations: [{ field: 'apiKeyId', message: 'must be a UUID' }],
        });
      return { disabled: await disableApiKeyWebhooks(db, firmId, request.apiKeyId, actor) };
    },
  };
}
