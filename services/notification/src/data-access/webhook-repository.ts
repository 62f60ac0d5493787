import type { Database, Queryable } from '@kantoor/database';

export interface WebhookRow {
  id: string;
  firm_id: string;
  url: string;
  event_types: string[];
  description: string;
  enabled: boolean;
  disabled_reason: string;
  secret_sealed: string;
  secret_hint: string;
  /** only while it still signs (its expiry is in the future); null otherwise */
  previous_secret_sealed: string | null;
  previous_secret_expires_at: Date | null;
  created_at: Date;
  created_by: string;
  updated_at: Date;
  updated_by: string;
  /** the API key that created it; null when staff did */
  owner_api_key_id: string | null;
}

/**
 * Whose webhooks a caller reaches: the firm's, and of those only its own when the caller is an API key (partners
 * do not see or change each other's subscriptions); admins reach them all.
 */
export interface WebhookScope {
  firmId: string;
  ownerApiKeyId?: string;
}

/** `firm_id = $<firm> AND (owner is $<owner>, unless that is null)`, for a scope passed as [firmId, owner]. */
const IN_SCOPE = (firm: number, owner: number) =>
  `firm_id = $${firm} AND ($${owner}::text IS NULL OR owner_api_key_id = $${owner})`;
const scopeParameters = (scope: WebhookScope) => [scope.firmId, scope.ownerApiKeyId ?? null];

/** A webhook's columns, with a rotated-out secret only while it still signs. */
const WEBHOOK = `id, firm_id, url, event_types, description, enabled, disabled_reason, secret_sealed, secret_hint,
  CASE WHEN previous_secret_expires_at > now() THEN previous_secret_sealed END AS previous_secret_sealed,
  CASE WHEN previous_secret_expires_at > now() THEN previous_secret_expires_at END AS previous_secret_expires_at,
  created_at, created_by, updated_at, updated_by, owner_api_key_id`;

/** The pending deliveries of webhooks just disabled or deleted: they are cancelled in the same statement. */
const CANCEL_PENDING = (changed: string, why: string) =>
  `UPDATE webhook_delivery d SET status = 'cancelled', last_error = '${why}'
    FROM ${changed} WHERE d.webhook_id = ${changed}.id AND d.status = 'pending'`;

/** The most webhooks a firm has at once: each event is copied to each of them, and sent to each. */
export const MAX_WEBHOOKS_PER_FIRM = 50;

/**
 * Inserts a webhook unless its firm has MAX_WEBHOOKS_PER_FIRM already (then null). The firm's webhooks are
 * counted under a lock of the firm, so two creations at once cannot both take the last place.
 */
export async function insertWebhookWithinLimit(
  db: Database,
  webhook: Parameters<typeof insertWebhook>[1],
): Promise<WebhookRow | null> {
  return db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(hashtextextended('webhook:' || $1, 0))", [webhook.firm_id]);
    const { rows } = await tx.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM webhook WHERE firm_id = $1 AND deleted_at IS NULL',
      [webhook.firm_id],
    );
    if (rows[0].n >= MAX_WEBHOOKS_PER_FIRM) return null;
    return insertWebhook(tx, webhook);
  });
}

export async function insertWebhook(
  db: Queryable,
  webhook: Pick<
    WebhookRow,
    'id' | 'firm_id' | 'url' | 'event_types' | 'description' | 'secret_sealed' | 'secret_hint'
  > & {
    created_by: string;
    owner_api_key_id?: string | null;
  },
): Promise<WebhookRow> {
  const { rows } = await db.query<WebhookRow>(
    `INSERT INTO webhook (id, firm_id, url, event_types, description, secret_sealed, secret_hint, created_by, updated_by,
                          owner_api_key_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) RETURNING ${WEBHOOK}`,
    [
      webhook.id,
      webhook.firm_id,
      webhook.url,
      webhook.event_types,
      webhook.description,
      webhook.secret_sealed,
      webhook.secret_hint,
      webhook.created_by,
      webhook.owner_api_key_id ?? null,
    ],
  );
  return rows[0];
}

/** The webhooks in scope (not deleted), oldest first, with `position` (created_at as PostgreSQL writes it). */
export async function listWebhooks(
  db: Queryable,
  scope: WebhookScope,
  page: { limit: number; after?: { key: string; id: string } },
): Promise<Array<WebhookRow & { position: string }>> {
  const { rows } = await db.query<WebhookRow & { position: string }>(
    `SELECT ${WEBHOOK}, created_at::text AS position FROM webhook
      WHERE ${IN_SCOPE(1, 2)} AND deleted_at IS NULL
        AND ($3::timestamptz IS NULL OR (created_at, id) > ($3::timestamptz, $4::uuid))
      ORDER BY created_at, id LIMIT $5`,
    [...scopeParameters(scope), page.after?.key ?? null, page.after?.id ?? null, page.limit],
  );
  return rows;
}

/** The webhook in scope (another firm's, or another key's, is as unknown as none); a deleted one only when asked for. */
export async function findWebhook(
  db: Queryable,
  scope: WebhookScope,
  id: string,
  options: { deleted?: boolean } = {},
): Promise<WebhookRow | null> {
  const { rows } = await db.query<WebhookRow>(
    `SELECT ${WEBHOOK} FROM webhook WHERE ${IN_SCOPE(1, 2)} AND id = $3 AND ($4 OR deleted_at IS NULL)`,
    [...scopeParameters(scope), id, options.deleted ?? false],
  );
  return rows[0] ?? null;
}

export interface WebhookChanges {
  url?: string;
  eventTypes?: string[];
  description?: string;
  enabled?: boolean;
}

/**
 * Changes what is given and records who did it. Enabling or disabling by a user clears the platform's
 * `disabled_reason`; disabling cancels the deliveries not yet made, in the same statement. Null: no such webhook.
 */
export async function updateWebhook(
  db: Queryable,
  scope: WebhookScope,
  id: string,
  changes: WebhookChanges,
  updatedBy: string,
): Promise<WebhookRow | null> {
  const { rows } = await db.query<WebhookRow>(
    `WITH changed AS (
       UPDATE webhook SET url = COALESCE($4, url), event_types = COALESCE($5::text[], event_types),
              description = COALESCE($6, description), enabled = COALESCE($7, enabled),
              disabled_reason = CASE WHEN $7::boolean IS NULL THEN disabled_reason ELSE '' END,
              updated_at = now(), updated_by = $8
        WHERE ${IN_SCOPE(1, 2)} AND id = $3 AND deleted_at IS NULL
       RETURNING *),
     disabled AS (SELECT id FROM changed WHERE NOT enabled),
     cancelled AS (${CANCEL_PENDING('disabled', 'the webhook was disabled')})
     SELECT ${WEBHOOK} FROM changed`,
    [
      ...scopeParameters(scope),
      id,
      changes.url ?? null,
      changes.eventTypes ?? null,
      changes.description ?? null,
      changes.enabled ?? null,
      updatedBy,
    ],
  );
  return rows[0] ?? null;
}

/** Deletes the webhook (its delivery log stays) and cancels its deliveries not yet made; false: no such webhook. */
export async function deleteWebhook(
  db: Queryable,
  scope: WebhookScope,
  id: string,
  deletedBy: string,
): Promise<boolean> {
  const { rows } = await db.query(
    `WITH deleted AS (
       UPDATE webhook SET deleted_at = now(), updated_at = now(), updated_by = $4
        WHERE ${IN_SCOPE(1, 2)} AND id = $3 AND deleted_at IS NULL RETURNING id),
     cancelled AS (${CANCEL_PENDING('deleted', 'the webhook was deleted')})
     SELECT id FROM deleted`,
    [...scopeParameters(scope), id, deletedBy],
  );
  return rows.length > 0;
}

/**
 * Disables the firm's enabled webhooks that `apiKeyId` created (its key was revoked) and cancels their deliveries
 * not yet made; how many it disabled.
 */
export async function disableApiKeyWebhooks(
  db: Queryable,
  firmId: string,
  apiKeyId: string,
  disabledBy: string,
): Promise<number> {
  const { rows } = await db.query(
    `WITH disabled AS (
       UPDATE webhook SET enabled = false, disabled_reason = 'api_key_revoked', updated_at = now(), updated_by = $3
        WHERE firm_id = $1 AND owner_api_key_id = $2 AND enabled AND deleted_at IS NULL RETURNING id),
     cancelled AS (${CANCEL_PENDING('disabled', 'the webhook was disabled: the API key that created it was revoked')})
     SELECT id FROM disabled`,
    [firmId, apiKeyId, disabledBy],
  );
  return rows.length;
}

/**
 * Makes `sealed` the current secret. The secret it replaces keeps signing for `overlapHours` (none at 0); a
 * secret rotated out earlier and still in its overlap is dropped.
 */
export async function rotateWebhookSecret(
  db: Queryable,
  scope: WebhookScope,
  id: string,
  secret: { sealed: string; hint: string; overlapHours: number; rotatedBy: string },
): Promise<WebhookRow | null> {
  const { rows } = await db.query<WebhookRow>(
    `UPDATE webhook
        SET previous_secret_sealed = CASE WHEN $6::double precision > 0 THEN secret_sealed END,
            previous_secret_expires_at = CASE WHEN $6::double precision > 0
              THEN now() + make_interval(secs => $6::double precision * 3600) END,
            secret_sealed = $4, secret_hint = $5, updated_at = now(), updated_by = $7
      WHERE ${IN_SCOPE(1, 2)} AND id = $3 AND deleted_at IS NULL
     RETURNING ${WEBHOOK}`,
    [...scopeParameters(scope), id, secret.sealed, secret.hint, secret.overlapHours, secret.rotatedBy],
  );
  return rows[0] ?? null;
}
