/**
 * Idempotency-Key on mutating requests, kept in the gateway's database so every replica sees it:
 * - the first request with a key claims it (`in_progress`), runs, and stores its response;
 * - a repeat with the same method, path and body gets the stored response again (Idempotent-Replayed: true);
 * - a repeat with another body is refused (422 idempotency-key-reused), one while the first still runs
 *   gets 409 idempotency-key-in-progress;
 * - answers of 500 and above are not stored: the key is released and the client may retry;
 * - keys expire after IDEMPOTENCY_TTL_HOURS; a claim whose request never finished (the gateway died) is
 *   taken over after ABANDONED_AFTER_MS.
 * Uploads are hashed while they stream, so the key works for them too; streamed downloads are not stored.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Queryable } from '@kantoor/database';
import type { Logger } from '@kantoor/logging';
import { conflict, failedPrecondition, invalidArgument } from '@kantoor/errors';

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export type IdempotencyClaim =
  | { outcome: 'claimed'; claimedAt: Date }
  | { outcome: 'in_progress' }
  | { outcome: 'completed'; requestHash: string; response: StoredResponse };

export const ABANDONED_AFTER_MS = 10 * 60 * 1000;
const KEY_FORMAT = /^[\x21-\x7e]{1,255}$/;

interface KeyRow {
  status: 'in_progress' | 'completed';
  request_hash: string | null;
  response_status: number | null;
  response_headers: Record<string, string> | string | null;
  response_body: Uint8Array | null;
}

export class IdempotencyStore {
  private readonly ttlMs: number;
  private readonly clock: () => number;

  constructor(
    private readonly db: Queryable,
    options: { ttlHours?: number; clock?: () => number } = {},
  ) {
    this.ttlMs = (options.ttlHours ?? 24) * 3600 * 1000;
    this.clock = options.clock ?? Date.now;
  }

  async claim(subject: string, key: string, requestHash: string | null): Promise<IdempotencyClaim> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = this.clock();
      const claimed = await this.db.query<{ created_at: Date }>(
        `INSERT INTO idempotency_keys (subject, key, request_hash, status, created_at)
         VALUES ($1, $2, $3, 'in_progress', $4)
         ON CONFLICT (subject, key) DO UPDATE SET
           request_hash = EXCLUDED.request_hash, status = 'in_progress', response_status = NULL,
           response_headers = NULL, response_body = NULL, created_at = EXCLUDED.created_at, completed_at = NULL
         WHERE idempotency_keys.created_at < $5
            OR (idempotency_keys.status = 'in_progress' AND idempotency_keys.created_at < $6)
         RETURNING created_at`,
        [subject, key, requestHash, new Date(now), new Date(now - this.ttlMs), new Date(now - ABANDONED_AFTER_MS)],
      );
      if (claimed.rows.length > 0) return { outcome: 'claimed', claimedAt: claimed.rows[0].created_at };
      const { rows } = await this.db.query<KeyRow>(
        `SELECT status, request_hash, response_status, response_headers, response_body
         FROM idempotency_keys WHERE subject = $1 AND key = $2`,
        [subject, key],
      );
      const row = rows[0];
      if (!row) continue; // purged between the two statements: claim again
      if (row.status === 'in_progress') return { outcome: 'in_progress' };
      const headers =
        typeof row.response_headers === 'string' ? JSON.parse(row.response_headers) : row.response_headers;
      return {
        outcome: 'completed',
        requestHash: row.request_hash ?? '',
        response: {
          status: row.response_status ?? 500,
          headers: headers ?? {},
          body: Buffer.from(row.response_body ?? []),
        },
      };
    }
    throw conflict('The idempotency key is being changed concurrently; try again.', {
      reason: 'idempotency_key_in_progress',
    });
  }

  /** Stores the response of a claim; does nothing when the claim was taken over meanwhile. */
  async complete(
    subject: string,
    key: string,
    claimedAt: Date,
    requestHash: string,
    response: StoredResponse,
  ): Promise<void> {
    await this.db.query(
      `UPDATE idempotency_keys SET status = 'completed', request_hash = $4, response_status = $5,
         response_headers = $6::jsonb, response_body = $7, completed_at = $8
       WHERE subject = $1 AND key = $2 AND created_at = $3 AND status = 'in_progress'`,
      [
        subject,
        key,
        claimedAt,
        requestHash,
        response.status,
        JSON.stringify(response.headers),
        response.body,
        new Date(this.clock()),
      ],
    );
  }

  /** Gives the key back (the request failed on our side), so the client's retry runs again. */
  async release(subject: string, key: string, claimedAt: Date): Promise<void> {
    await this.db.query(
      `DELETE FROM idempotency_keys WHERE subject = $1 AND key = $2 AND created_at = $3 AND status = 'in_progress'`,
      [subject, key, claimedAt],
    );
  }

  /** Deletes expired keys (purgeExpiredKeys runs it hourly): expired keys are ignored anyway, this frees the space. */
  async purgeExpired(): Promise<number> {
    const { rowCount } = await this.db.query('DELETE FROM idempotency_keys WHERE created_at < $1', [
      new Date(this.clock() - this.ttlMs),
    ]);
    return rowCount;
  }
}

/** How often a gateway deletes expired keys (every replica does; the deletion is the same). */
export const IDEMPOTENCY_PURGE_EVERY_MS = 60 * 60 * 1000;

/**
 * Deletes expired keys now and then every `everyMs` until `stop()`: each keeps the whole answer of its request, so
 * without this the table grows with every mutating request ever made. A purge that fails is logged and tried
 * again at the next turn; `stop()` waits for one under way.
 */
export function purgeExpiredKeys(
  store: IdempotencyStore,
  logger: Pick<Logger, 'info' | 'warn'>,
  everyMs = IDEMPOTENCY_PURGE_EVERY_MS,
): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const purge = () => {
    running ??= store
      .purgeExpired()
      .then(
        (deleted) => void (deleted > 0 && logger.info({ deleted }, 'expired idempotency keys deleted')),
        (error: unknown) => logger.warn({ err: error }, 'expired idempotency keys could not be deleted'),
      )
      .finally(() => (running = undefined));
  };
  const timer = setInterval(purge, everyMs).unref();
  purge();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

export function checkIdempotencyKey(key: string): string {
  if (!KEY_FORMAT.test(key)) {
    throw invalidArgument('The Idempotency-Key must be 1 to 255 visible ASCII characters.', {
      reason: 'invalid_idempotency_key',
      violations: [{ field: 'header.Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters' }],
    });
  }
  return key;
}

/** Hash of method, path with query, and body: what makes two requests "the same". */
export function requestHasher(method: string, url: string): Hash {
  return createHash('sha256').update(`${method} ${url}\n`);
}

export const keyReused = () =>
  failedPrecondition('This Idempotency-Key was already used for a different request.', {
    reason: 'idempotency_key_reused',
  });

export const keyInProgress = () =>
  conflict('A request with this Idempotency-Key is still being processed.', { reason: 'idempotency_key_in_progress' });
