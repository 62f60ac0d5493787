import { randomUUID } from 'node:crypto';
import type { Queryable } from '@kantoor/database';
import type { WebhookAttemptOutcome } from '../domain/webhook-delivery-policy';
import type { DeliveryFilter } from './notification-repository';

export type WebhookDeliveryStatus = 'pending' | 'delivering' | 'delivered' | 'failed' | 'cancelled';

export interface WebhookDeliveryRow {
  id: string;
  webhook_id: string;
  firm_id: string;
  event_id: string;
  event_type: string;
  dossier_id: string | null;
  payload: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  series_start: number;
  next_attempt_at: Date;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Date;
  delivered_at: Date | null;
}

/** A delivery the worker now owns for one attempt, with where to send it and the secrets that sign it (sealed). */
export type ClaimedWebhookDelivery = WebhookDeliveryRow & {
  url: string;
  secret_sealed: string;
  /** only while the rotated-out secret still signs */
  previous_secret_sealed: string | null;
  /** a previous attempt died between sending and recording: the receiver may have it already */
  interrupted: boolean;
  /** the trace context of what queued the delivery, when it had one */
  traceparent: string | null;
};

export interface WebhookAttemptRow {
  attempt: number;
  outcome: WebhookAttemptOutcome;
  status_code: number | null;
  error: string | null;
  response_excerpt: string | null;
  duration_ms: number;
  started_at: Date;
}

const DELIVERY = `id, webhook_id, firm_id, event_id, event_type, dossier_id, payload, status, attempts, series_start,
  next_attempt_at, last_status_code, last_error, created_at, delivered_at`;

/**
 * Queues one event for every enabled webhook of its firm that subscribes to its type, in the caller's transaction
 * (an event consumer's, so it commits with the inbox row). A webhook that has the event already gets nothing more;
 * the number queued. `traceparent`: the caller's trace context, which the attempts' spans link to.
 */
export async function queueWebhookEvent(
  tx: Queryable,
  event: { id: string; type: string; firmId: string; dossierId?: string },
  payload: string,
  traceparent?: string,
): Promise<number> {
  const { rowCount } = await tx.query(
    `INSERT INTO webhook_delivery (id, webhook_id, firm_id, event_id, event_type, dossier_id, payload, traceparent)
     SELECT gen_random_uuid(), id, firm_id, $2, $3, $4, $5, $6 FROM webhook
      WHERE firm_id = $1 AND enabled AND deleted_at IS NULL AND $3 = ANY (event_types)
     ON CONFLICT (webhook_id, event_id) DO NOTHING`,
    [event.firmId, event.id, event.type, event.dossierId || null, payload, traceparent ?? null],
  );
  return rowCount;
}

/** Queues an event for one webhook whatever it subscribes to (a ping). */
export async function queueWebhookDelivery(
  db: Queryable,
  delivery: { webhookId: string; firmId: string; eventId: string; eventType: string; traceparent?: string },
  payload: string,
): Promise<WebhookDeliveryRow> {
  const { rows } = await db.query<WebhookDeliveryRow>(
    `INSERT INTO webhook_delivery (id, webhook_id, firm_id, event_id, event_type, payload, traceparent)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${DELIVERY}`,
    [
      randomUUID(),
      delivery.webhookId,
      delivery.firmId,
      delivery.eventId,
      delivery.eventType,
      payload,
      delivery.traceparent ?? null,
    ],
  );
  return rows[0];
}

/**
 * Takes up to `limit` due deliveries for this worker: pending ones whose time has come and delivering ones whose
 * lease ran out (their worker died). SKIP LOCKED lets replicas on PostgreSQL claim side by side without ever taking
 * the same row; one statement is its own transaction. A due delivery of a webhook disabled or deleted meanwhile
 * (an event queued while it was being disabled) is cancelled here rather than sent.
 *
 * Each kind is taken from its own partial index, in order, up to `limit`, and only then are the two put together:
 * one condition with OR over both made the planner collect every due delivery and sort them all for each claim, which
 * with a backlog of thousands (a burst of events, retries waiting) cost more than the attempts it handed out. Up to
 * `limit` of each kind are locked; those the final `limit` leaves out are free again when the statement commits.
 */
export async function claimDueWebhookDeliveries(
  db: Queryable,
  limit: number,
  leaseMs: number,
): Promise<ClaimedWebhookDelivery[]> {
  const { rows } = await db.query<ClaimedWebhookDelivery>(
    `WITH pending AS (
       SELECT id FROM webhook_delivery WHERE status = 'pending' AND next_attempt_at <= now()
        ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED),
     expired AS (
       SELECT id FROM webhook_delivery WHERE status = 'delivering' AND lease_until <= now()
        ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED),
     due AS (
       SELECT d.id, d.status AS previous_status, w.enabled AND w.deleted_at IS NULL AS live
         FROM webhook_delivery d JOIN webhook w ON w.id = d.webhook_id
        WHERE d.id = ANY (ARRAY(SELECT id FROM pending UNION ALL SELECT id FROM expired))
        ORDER BY d.next_attempt_at, d.id LIMIT $1),
     cancelled AS (
       UPDATE webhook_delivery SET status = 'cancelled', lease_until = NULL,
              last_error = 'the webhook was disabled or deleted before it could be sent'
        WHERE id = ANY (ARRAY(SELECT id FROM due WHERE NOT live))),
     claimed AS (
       UPDATE webhook_delivery d
          SET status = 'delivering', attempts = d.attempts + 1,
              lease_until = now() + make_interval(secs => $2::double precision / 1000)
        WHERE d.id = ANY (ARRAY(SELECT id FROM due WHERE live))
       RETURNING d.*)
     SELECT claimed.*, due.previous_status = 'delivering' AS interrupted, w.url, w.secret_sealed,
            CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret_sealed END AS previous_secret_sealed
       FROM claimed JOIN due USING (id) JOIN webhook w ON w.id = claimed.webhook_id`,
    [limit, leaseMs],
  );
  return rows.sort((a, b) => a.next_attempt_at.getTime() - b.next_attempt_at.getTime());
}

/** Single-worker mode (PGlite): whatever is `delivering` at start was interrupted by the previous process. */
export async function releaseInterruptedWebhookDeliveries(db: Queryable): Promise<number> {
  const { rowCount } = await db.query(`UPDATE webhook_delivery SET lease_until = now() WHERE status = 'delivering'`);
  return rowCount;
}

export interface WebhookAttemptRecord {
  deliveryId: string;
  webhookId: string;
  attempt: number;
  outcome: WebhookAttemptOutcome;
  /** retry_scheduled: the pause before the next attempt */
  retryInMs?: number;
  /** the receiver answered 410 Gone: the webhook is disabled and its other pending deliveries cancelled */
  disable?: 'gone';
  statusCode?: number;
  error?: string;
  responseExcerpt?: string;
  durationMs: number;
  startedAt: Date;
}

/**
 * Ends an attempt: the delivery's new state, its line in the log and (410) the webhook disabled commit together in
 * one statement. A delivery the worker no longer owns (its lease ran out and another attempt claimed it) keeps the
 * state that attempt gives it; the log still shows this attempt. A retry for a webhook disabled or deleted
 * meanwhile cancels the delivery instead.
 */
export async function recordWebhookAttempt(db: Queryable, record: WebhookAttemptRecord): Promise<void> {
  await db.query(
    `WITH ended AS (
       UPDATE webhook_delivery d
          SET status = CASE WHEN $3 <> 'retry_scheduled' THEN $3
                            WHEN w.enabled AND w.deleted_at IS NULL THEN 'pending'
                            ELSE 'cancelled' END,
              next_attempt_at = CASE WHEN $3 = 'retry_scheduled'
                THEN now() + make_interval(secs => $5::double precision / 1000) ELSE d.next_attempt_at END,
              lease_until = NULL, last_status_code = $6, last_error = $7,
              delivered_at = CASE WHEN $3 = 'delivered' THEN now() ELSE d.delivered_at END
         FROM webhook w
        WHERE d.id = $1 AND d.attempts = $2 AND d.status = 'delivering' AND w.id = d.webhook_id
       RETURNING d.status),
     disabled AS (
       UPDATE webhook SET enabled = false, disabled_reason = $4, updated_at = now(), updated_by = 'system:notification'
        WHERE $4::text IS NOT NULL AND id = $10
       RETURNING id),
     cancelled AS (
       UPDATE webhook_delivery SET status = 'cancelled',
              last_error = 'the webhook was disabled: its receiver answered 410 Gone'
        WHERE webhook_id IN (SELECT id FROM disabled) AND status = 'pending')
     INSERT INTO webhook_attempt (delivery_id, attempt, outcome, status_code, error, response_excerpt, duration_ms, started_at)
     VALUES ($1, $2, CASE WHEN (SELECT status FROM ended) = 'cancelled' THEN 'failed' ELSE $3 END, $6, $7, $8, $9, $11)
     ON CONFLICT DO NOTHING`,
    [
      record.deliveryId,
      record.attempt,
      record.outcome,
      record.disable ?? null,
      record.retryInMs ?? 0,
      record.statusCode ?? null,
      record.error ?? null,
      record.responseExcerpt ?? null,
      record.durationMs,
      record.webhookId,
      record.startedAt.toISOString(),
    ],
  );
}

/** A webhook's deliveries, newest first (created_at, then id, descending), with `position` for the next cursor. */
export async function listWebhookDeliveries(
  db: Queryable,
  webhookId: string,
  filter: Omit<DeliveryFilter, 'kind'>,
): Promise<Array<WebhookDeliveryRow & { position: string }>> {
  const { rows } = await db.query<WebhookDeliveryRow & { position: string }>(
    `SELECT ${DELIVERY}, created_at::text AS position FROM webhook_delivery
      WHERE webhook_id = $1 AND ($2::text IS NULL OR status = $2)
        AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::uuid))
      ORDER BY created_at DESC, id DESC LIMIT $5`,
    [webhookId, filter.status || null, filter.after?.key ?? null, filter.after?.id ?? null, filter.limit],
  );
  return rows;
}

/** The attempts a delivery's detail shows: its latest (the delivery's `attempts` says how many there were). */
export const ATTEMPTS_SHOWN = 100;
/** A delivery is retried by hand until it has had this many attempts; its history stays bounded. */
export const MAX_DELIVERY_ATTEMPTS = 1000;

export async function findWebhookDelivery(
  db: Queryable,
  webhookId: string,
  id: string,
): Promise<{ delivery: WebhookDeliveryRow; attempts: WebhookAttemptRow[] } | null> {
  const { rows } = await db.query<WebhookDeliveryRow>(
    `SELECT ${DELIVERY} FROM webhook_delivery WHERE webhook_id = $1 AND id = $2`,
    [webhookId, id],
  );
  if (rows.length === 0) return null;
  const attempts = await db.query<WebhookAttemptRow>(
    `SELECT * FROM (
       SELECT attempt, outcome, status_code, error, response_excerpt, duration_ms, started_at
         FROM webhook_attempt WHERE delivery_id = $1 ORDER BY attempt DESC LIMIT $2) AS latest
      ORDER BY attempt`,
    [id, ATTEMPTS_SHOWN],
  );
  return { delivery: rows[0], attempts: attempts.rows };
}

/**
 * Queues a finished delivery (failed, delivered or cancelled) again, due now, as a new series of attempts: the
 * retry schedule starts over, the attempt numbers go on. Null when it is not finished (pending or delivering).
 */
export async function requeueWebhookDelivery(
  db: Queryable,
  webhookId: string,
  id: string,
): Promise<WebhookDeliveryRow | null> {
  const { rows } = await db.query<WebhookDeliveryRow>(
    `UPDATE webhook_delivery SET status = 'pending', next_attempt_at = now(), series_start = attempts, last_error = NULL
      WHERE webhook_id = $1 AND id = $2 AND status IN ('failed', 'delivered', 'cancelled') AND attempts < $3
     RETURNING ${DELIVERY}`,
    [webhookId, id, MAX_DELIVERY_ATTEMPTS],
  );
  return rows[0] ?? null;
}
