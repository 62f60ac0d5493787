import { randomUUID } from 'node:crypto';
import type { Queryable } from '@kantoor/database';
import type { AttemptOutcome } from '../domain/delivery-policy';
import type { NotificationIntent } from '../domain/notification-intent';

export type NotificationStatus = 'queued' | 'sending' | 'sent' | 'failed';

export interface NotificationRow {
  id: string;
  event_id: string;
  kind: string;
  firm_id: string;
  dossier_id: string | null;
  recipient: string;
  routed_via: string;
  language: string;
  data: Record<string, unknown>;
  sealed_data: string | null;
  message_id: string;
  status: NotificationStatus;
  subject: string | null;
  attempts: number;
  resent: boolean;
  smtp_response: string | null;
  last_error: string | null;
  created_at: Date;
  next_attempt_at: Date;
  sent_at: Date | null;
}

/** A row the worker now owns for one attempt; `interrupted` when a previous attempt died while sending. */
export type ClaimedNotification = NotificationRow & {
  interrupted: boolean;
  /** the trace context of what queued the mail, when it had one */
  traceparent: string | null;
};

export interface DeliveryAttemptRow {
  attempt: number;
  outcome: AttemptOutcome;
  smtp_response: string | null;
  error: string | null;
  resent: boolean;
  started_at: Date;
  finished_at: Date;
}

/**
 * Records the intent to send before anything is sent. The Message-ID is derived from the event, so a second
 * intent for the same event (whatever the recipient turns out to be) hits its unique index and is dropped.
 * `traceparent`: the trace context of the caller (the event's consumer), which the attempts' spans link to.
 */
export async function queueNotification(
  tx: Queryable,
  intent: NotificationIntent,
  traceparent?: string,
): Promise<boolean> {
  const { rows } = await tx.query(
    `INSERT INTO notification (id, event_id, kind, firm_id, dossier_id, recipient, routed_via, language, data, sealed_data,
       message_id, status, last_error, traceparent)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING RETURNING id`,
    [
      randomUUID(),
      intent.eventId,
      intent.kind,
      intent.firmId,
      intent.dossierId || null,
      intent.recipient,
      intent.routedVia,
      intent.language,
      JSON.stringify(intent.data),
      intent.sealedData ?? null,
      intent.messageId,
      intent.failure ? 'failed' : 'queued',
      intent.failure ?? null,
      traceparent ?? null,
    ],
  );
  return rows.length > 0;
}

/**
 * Takes up to `limit` due mails for this worker: queued ones whose time has come and `sending` ones whose
 * lease ran out (their worker died). SKIP LOCKED lets replicas on PostgreSQL claim side by side without
 * ever taking the same row. One statement is its own transaction: the rows are locked, marked `sending` and
 * committed together, without a BEGIN and COMMIT round trip around it.
 */
export async function claimDueNotifications(
  db: Queryable,
  limit: number,
  leaseMs: number,
): Promise<ClaimedNotification[]> {
  const { rows } = await db.query<ClaimedNotification>(
    // `= ANY (ARRAY(...))` finds the claimed rows through the primary key; a join with `due` let the planner
    // scan the whole table, which keeps every mail ever sent
    `WITH due AS (
       SELECT id, status AS previous_status FROM notification
        WHERE (status = 'queued' AND next_attempt_at <= now()) OR (status = 'sending' AND lease_expires_at <= now())
        ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED),
     claimed AS (
       UPDATE notification n
          SET status = 'sending', attempts = n.attempts + 1, resent = n.resent OR n.status = 'sending',
              lease_expires_at = now() + make_interval(secs => $2::double precision / 1000), updated_at = now()
        WHERE n.id = ANY (ARRAY(SELECT id FROM due))
       RETURNING n.*)
     SELECT claimed.*, due.previous_status = 'sending' AS interrupted FROM claimed JOIN due USING (id)`,
    [limit, leaseMs],
  );
  return rows.sort((a, b) => a.next_attempt_at.getTime() - b.next_attempt_at.getTime());
}

/** Single-worker mode (PGlite): whatever is `sending` at start was interrupted by the previous process. */
export async function releaseInterruptedSends(db: Queryable): Promise<number> {
  const { rowCount } = await db.query(`UPDATE notification SET lease_expires_at = now() WHERE status = 'sending'`);
  return rowCount;
}

export async function setResolvedRecipient(
  db: Queryable,
  id: string,
  recipient: string,
  routedVia: string,
): Promise<void> {
  await db.query('UPDATE notification SET recipient = $2, routed_via = $3, updated_at = now() WHERE id = $1', [
    id,
    recipient,
    routedVia,
  ]);
}

export interface AttemptRecord {
  attempt: number;
  outcome: AttemptOutcome;
  startedAt: Date;
  resent: boolean;
  subject?: string;
  smtpResponse?: string;
  error?: string;
  /** retry_scheduled only */
  nextAttemptAt?: Date;
}

/**
 * Ends attempts: each row's new state and its line in the delivery log commit together, in one statement (a
 * data-modifying CTE is atomic on its own, without a BEGIN and COMMIT round trip). The worker records each
 * mail on its own, as soon as its SMTP conversation ends.
 */
export async function recordAttempts(db: Queryable, records: Array<AttemptRecord & { id: string }>): Promise<void> {
  if (records.length === 0) return;
  const column = <T>(pick: (record: AttemptRecord & { id: string }) => T) => records.map(pick);
  await db.query(
    `WITH v AS (
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[],
                            $8::timestamptz[], $9::boolean[], $10::timestamptz[])
         AS v(id, attempt_id, attempt, outcome, subject, smtp_response, error, next_attempt_at, resent, started_at)),
     ended AS (
       UPDATE notification n
          SET status = CASE WHEN v.outcome = 'retry_scheduled' THEN 'queued' ELSE v.outcome END,
              subject = COALESCE(v.subject, n.subject), smtp_response = COALESCE(v.smtp_response, n.smtp_response),
              last_error = v.error, next_attempt_at = COALESCE(v.next_attempt_at, n.next_attempt_at), lease_expires_at = NULL,
              sent_at = CASE WHEN v.outcome = 'sent' THEN now() ELSE n.sent_at END, updated_at = now()
         FROM v WHERE n.id = v.id AND n.id = ANY ($1::uuid[]))
     INSERT INTO delivery_attempt (id, notification_id, attempt, outcome, smtp_response, error, resent, started_at)
     SELECT attempt_id, id, attempt, outcome, smtp_response, error, resent, started_at FROM v`,
    [
      column((r) => r.id),
      column(() => randomUUID()),
      column((r) => r.attempt),
      column((r) => r.outcome),
      column((r) => r.subject ?? null),
      column((r) => r.smtpResponse ?? null),
      column((r) => r.error ?? null),
      column((r) => r.nextAttemptAt?.toISOString() ?? null),
      column((r) => r.resent),
      column((r) => r.startedAt.toISOString()),
    ],
  );
}

export interface DeliveryFilter {
  status?: string;
  kind?: string;
  limit: number;
  /** the last row of the previous page: its created_at as PostgreSQL wrote it (`position`) and its id */
  after?: { key: string; id: string };
}

/**
 * The firm's mails, newest first (created_at, then id, descending), with `position`: created_at as text, with
 * the microseconds PostgreSQL keeps, for the next page's cursor.
 */
export async function listDeliveries(
  db: Queryable,
  firmId: string,
  filter: DeliveryFilter,
): Promise<Array<NotificationRow & { position: string }>> {
  const { rows } = await db.query<NotificationRow & { position: string }>(
    `SELECT *, created_at::text AS position FROM notification
      WHERE firm_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR kind = $3)
        AND ($4::timestamptz IS NULL OR (created_at, id) < ($4::timestamptz, $5::uuid))
      ORDER BY created_at DESC, id DESC LIMIT $6`,
    [
      firmId,
      filter.status || null,
      filter.kind || null,
      filter.after?.key ?? null,
      filter.after?.id ?? null,
      filter.limit,
    ],
  );
  return rows;
}

export async function findDelivery(
  db: Queryable,
  firmId: string,
  id: string,
): Promise<{ delivery: NotificationRow; attempts: DeliveryAttemptRow[] } | null> {
  const { rows } = await db.query<NotificationRow>('SELECT * FROM notification WHERE firm_id = $1 AND id = $2', [
    firmId,
    id,
  ]);
  if (rows.length === 0) return null;
  const attempts = await db.query<DeliveryAttemptRow>(
    'SELECT attempt, outcome, smtp_response, error, resent, started_at, finished_at FROM delivery_attempt WHERE notification_id = $1 ORDER BY attempt, finished_at',
    [id],
  );
  return { delivery: rows[0], attempts: attempts.rows };
}
