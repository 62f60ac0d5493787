import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { decodeCursor, isPostgresTime, pageOfRows, type Database } from '@kantoor/database';
import { invalidArgument, notFound, permissionDenied } from '@kantoor/errors';
import { implement, type Caller } from '@kantoor/grpc';
import { NotificationService } from '@kantoor/proto/kantoor/notification/v1/notification_pb';
import {
  deleteSmtpSettings,
  findSmtpSettings,
  saveFirmLogo,
  saveSmtpSettings,
  type SmtpSettingsRow,
} from '../../data-access/firm-repository';
import { findDelivery, listDeliveries, type NotificationRow } from '../../data-access/notification-repository';
import { checkLogo, checkSmtpSettings } from '../../domain/firm-settings';
import type { SecretBox } from '../../domain/secret-box';
import { webhookRpc, type WebhookRpcContext } from './webhook-rpc';
import { isUuid } from '../../domain/ids';

/** Sending is a firm setting and the log shows who was mailed what: admins of the firm only. */
function firmOfAdmin(caller: Caller): string {
  if (caller.kind !== 'staff' || caller.role !== 'admin' || !caller.firmId) {
    throw permissionDenied("Only the firm's admins manage e-mail settings and read the delivery log.", {
      reason: 'admin_only',
    });
  }
  return caller.firmId;
}

const STATUSES = ['', 'queued', 'sending', 'sent', 'failed'];

const deliveryMessage = (row: NotificationRow) => ({
  id: row.id,
  kind: row.kind,
  recipient: row.recipient,
  language: row.language,
  subject: row.subject ?? '',
  status: row.status,
  attempts: row.attempts,
  messageId: row.message_id,
  resent: row.resent,
  smtpResponse: row.smtp_response ?? '',
  lastError: row.last_error ?? '',
  createdAt: timestampFromDate(row.created_at),
  nextAttemptAt: row.status === 'queued' ? timestampFromDate(row.next_attempt_at) : undefined,
  sentAt: row.sent_at ? timestampFromDate(row.sent_at) : undefined,
  dossierId: row.dossier_id ?? '',
  eventId: row.event_id,
  routedVia: row.routed_via,
});

const settingsMessage = (row: SmtpSettingsRow) => ({
  host: row.host,
  port: row.port,
  tls: row.tls,
  username: row.username,
  hasPassword: Boolean(row.sealed_password),
  senderAddress: row.sender_address,
  senderName: row.sender_name,
  updatedAt: timestampFromDate(row.updated_at),
  updatedBy: row.updated_by,
});

/**
 * The cursor of the delivery log: a page's last row's created_at as PostgreSQL writes it (with its
 * microseconds; a JavaScript Date keeps milliseconds, so mails less than a millisecond apart were skipped) and its
 * id. `page_token` is the cursor's deprecated name: one of them, not both.
 */
function positionOf(request: { cursor: string; pageToken: string }) {
  if (request.cursor && request.pageToken)
    throw invalidArgument('Give cursor or its deprecated name pageToken, not both.', {
      reason: 'validation_failed',
      violations: [{ field: 'pageToken', message: 'is the deprecated name of cursor; give only cursor' }],
    });
  const cursor = request.cursor || request.pageToken;
  return cursor ? decodeCursor(cursor, isPostgresTime) : undefined;
}

export function notificationRpc(db: Database, box: SecretBox, webhooks: Omit<WebhookRpcContext, 'db' | 'box'>) {
  return implement(NotificationService, {
    ...webhookRpc({ db, box, ...webhooks }),
    async listDeliveries(request, { caller }) {
      const firmId = firmOfAdmin(caller);
      if (!STATUSES.includes(request.status))
        throw invalidArgument('status must be queued, sending, sent or failed', { reason: 'invalid_status' });
      const pageSize = request.pageSize === 0 ? 50 : request.pageSize;
      if (pageSize < 1 || pageSize > 200)
        throw invalidArgument('page size must be between 1 and 200', { reason: 'invalid_page_size' });
      const rows = await listDeliveries(db, firmId, {
        status: request.status,
        kind: request.kind,
        limit: pageSize + 1,
        after: positionOf(request),
      });
      const page = pageOfRows(rows, pageSize, (row) => [row.position, row.id]);
      return {
        deliveries: page.rows.map(deliveryMessage),
        nextCursor: page.nextCursor,
        nextPageToken: page.nextCursor,
      };
    },
    async getDelivery(request, { caller }) {
      const firmId = firmOfAdmin(caller);
      // another firm's mail is as unknown as a mail that does not exist
      const found = isUuid(request.deliveryId) ? await findDelivery(db, firmId, request.deliveryId) : null;
      if (!found) throw notFound('There is no such mail in the delivery log.', { reason: 'delivery_not_found' });
      return {
        delivery: deliveryMessage(found.delivery),
        attempts: found.attempts.map((attempt) => ({
          attempt: attempt.attempt,
          outcome: attempt.outcome,
          smtpResponse: attempt.smtp_response ?? '',
          error: attempt.error ?? '',
          resent: attempt.resent,
          startedAt: timestampFromDate(attempt.started_at),
          finishedAt: timestampFromDate(attempt.finished_at),
        })),
      };
    },
    async getSmtpSettings(_request, { caller }) {
      const row = await findSmtpSettings(db, firmOfAdmin(caller));
      return { settings: row ? settingsMessage(row) : undefined };
    },
    async setSmtpSettings(request, { caller }) {
      const firmId = firmOfAdmin(caller);
      const checked = checkSmtpSettings({ ...request, password: request.password });
      const stored = await findSmtpSettings(db, firmId);
      const sealedPassword =
        request.password === undefined
          ? (stored?.sealed_password ?? null)
          : request.password
            ? box.seal(request.password)
            : null;
      const row = await saveSmtpSettings(db, {
        firm_id: firmId,
        host: checked.host,
        port: checked.port,
        tls: checked.tls,
        username: checked.username,
        sealed_password: sealedPassword,
        sender_address: checked.senderAddress,
        sender_name: checked.senderName,
        updated_by: caller.subjectId,
      });
      return { settings: settingsMessage(row) };
    },
    async clearSmtpSettings(_request, { caller }) {
      await deleteSmtpSettings(db, firmOfAdmin(caller), caller.subjectId);
      return {};
    },
    async setFirmLogo(request, { caller }) {
      const firmId = firmOfAdmin(caller);
      const removed = request.logo.length === 0;
      if (!removed) checkLogo(request.logo, request.contentType);
      await saveFirmLogo(db, {
        firmId,
        logo: removed ? null : request.logo,
        contentType: removed ? null : request.contentType,
        updatedBy: caller.subjectId,
      });
      return {};
    },
  });
}
