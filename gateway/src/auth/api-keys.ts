/**
 * API keys of partner applications: scoped to one firm and a set of permissions, revocable, stored hashed.
 * A key reads `kntr_<prefix>_<secret>`: the prefix finds the row, only the SHA-256 of the secret is kept
 * (the secret is 256 random bits, so a plain hash suffices where a password would need a slow one). The
 * directory will own API keys later; until then the gateway keeps them in its own database.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { pageOfRows, type Queryable } from '@kantoor/database';
import { invalidArgument, notFound } from '@kantoor/errors';
import type { Caller } from './caller';

export interface ApiKeyVerifier {
  /** the caller a presented key stands for, or null when it is unknown, malformed or revoked */
  verify(presentedKey: string): Promise<Caller | null>;
}

export interface ApiKey {
  id: string;
  firmId: string;
  name: string;
  /** shown in lists so people can tell their keys apart; not secret */
  prefix: string;
  scopes: string[];
  createdAt: Date;
  /** the staff member who created it; null for keys made before creators were recorded */
  createdBy: string | null;
  revokedAt: Date | null;
  /** the staff member who revoked it */
  revokedBy: string | null;
}

export interface CreatedApiKey {
  apiKey: ApiKey;
  /** the whole key; shown once, never stored */
  key: string;
}

const KEY_FORMAT = /^kntr_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
const SCOPE_FORMAT = /^[a-z][a-z_]*:([a-z][a-z_]*|\*)$/;

/** Where the previous page of keys ended: the last key's creation time (as the database wrote it) and id. */
export interface ApiKeyPosition {
  createdAt: string;
  id: string;
}

interface ApiKeyRow {
  id: string;
  firm_id: string;
  name: string;
  prefix: string;
  hash: string;
  scopes: string[];
  created_at: Date;
  created_by: string | null;
  revoked_at: Date | null;
  revoked_by: string | null;
}

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

const toApiKey = (row: ApiKeyRow): ApiKey => ({
  id: row.id,
  firmId: row.firm_id,
  name: row.name,
  prefix: row.prefix,
  scopes: row.scopes,
  createdAt: row.created_at,
  createdBy: row.created_by,
  revokedAt: row.revoked_at,
  revokedBy: row.revoked_by,
});

/**
 * A partner application sends its key with every request: a verified key is trusted for a few seconds without
 * asking the database again. Revoking here forgets it at once; a key revoked through another gateway replica
 * is refused by this one at most this long after.
 */
export const VERIFIED_KEY_TTL_MS = 5_000;
const VERIFIED_KEYS_KEPT = 1_000;

export class ApiKeyStore implements ApiKeyVerifier {
  private readonly verified = new Map<string, { caller: Caller; untilMs: number }>();

  constructor(
    private readonly db: Queryable,
    private readonly clock: () => number = Date.now,
  ) {}

  /** `createdBy`: the staff member creating it, kept with the key */
  async create(input: { firmId: string; name: string; scopes: string[]; createdBy: string }): Promise<CreatedApiKey> {
    const badScopes = input.scopes.filter((scope) => !SCOPE_FORMAT.test(scope));
    if (badScopes.length > 0 || input.scopes.length === 0) {
      throw invalidArgument('An API key needs at least one scope like "dossier:read".', {
        reason: 'invalid_scopes',
        violations: (badScopes.length ? badScopes : ['']).map((scope) => ({
          field: 'scopes',
          message: `"${scope}" is not a scope like dossier:read`,
        })),
      });
    }
    const prefix = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const { rows } = await this.db.query<ApiKeyRow>(
      `INSERT INTO api_keys (id, firm_id, name, prefix, hash, scopes, created_at, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
      [
        randomUUID(),
        input.firmId,
        input.name,
        prefix,
        sha256(secret),
        [...new Set(input.scopes)],
        new Date(this.clock()),
        input.createdBy,
      ],
    );
    return { apiKey: toApiKey(rows[0]), key: `kntr_${prefix}_${secret}` };
  }

  async verify(presentedKey: string): Promise<Caller | null> {
    const known = this.verified.get(presentedKey);
    if (known && known.untilMs > this.clock()) return { ...known.caller, scopes: [...known.caller.scopes] };
    if (known) this.verified.delete(presentedKey);
    const match = KEY_FORMAT.exec(presentedKey);
    if (!match) return null;
    const { rows } = await this.db.query<ApiKeyRow>('SELECT * FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL', [
      match[1],
    ]);
    const row = rows[0];
    if (!row || !timingSafeEqual(Buffer.from(sha256(match[2]), 'hex'), Buffer.from(row.hash, 'hex'))) return null;
    const caller: Caller = { kind: 'api_key', subjectId: row.id, firmId: row.firm_id, scopes: row.scopes };
    if (this.verified.size >= VERIFIED_KEYS_KEPT) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(presentedKey, {
      caller: { ...caller, scopes: [...caller.scopes] },
      untilMs: this.clock() + VERIFIED_KEY_TTL_MS,
    });
    return caller;
  }

  /**
   * Revoking twice is not an error, and the first revocation's time and revoker stay; a key of another firm is
   * "not found", never "forbidden".
   */
  async revoke(firmId: string, id: string, revokedBy: string): Promise<ApiKey> {
    const { rows } = await this.db.query<ApiKeyRow>(
      `UPDATE api_keys
          SET revoked_by = CASE WHEN revoked_at IS NULL THEN $4 ELSE revoked_by END,
              revoked_at = COALESCE(revoked_at, $3)
        WHERE id::text = $2 AND firm_id = $1 RETURNING *`,
      [firmId, id, new Date(this.clock()), revokedBy],
    );
    if (rows.length === 0) throw notFound('There is no such API key.', { reason: 'api_key_not_found' });
    for (const [presented, { caller }] of this.verified) if (caller.subjectId === id) this.verified.delete(presented);
    return toApiKey(rows[0]);
  }

  /**
   * One page of the firm's keys, oldest first: `pageSize` of them after `after` (the position the previous page
   * ended at), and the cursor of the next page ('' on the last).
   */
  async list(
    firmId: string,
    { pageSize, after }: { pageSize: number; after?: ApiKeyPosition },
  ): Promise<{ keys: ApiKey[]; nextCursor: string }> {
    // the position's time as PostgreSQL writes it (microseconds, with its offset): a Date would drop digits
    const { rows } = await this.db.query<ApiKeyRow & { position: string }>(
      `SELECT *, created_at::text AS position FROM api_keys
        WHERE firm_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2::timestamptz, $3::uuid))
        ORDER BY created_at, id LIMIT $4`,
      [firmId, after?.createdAt ?? null, after?.id ?? null, pageSize + 1],
    );
    const page = pageOfRows(rows, pageSize, (row) => [row.position, row.id]);
    return { keys: page.rows.map(toApiKey), nextCursor: page.nextCursor };
  }
}

/** Creating, listing and revoking keys; the gateway's ApiKeyStore does it until the directory takes over. */
export type ApiKeyManagement = ApiKeyVerifier & Pick<ApiKeyStore, 'create' | 'revoke' | 'list'>;

export const managesApiKeys = (verifier: ApiKeyVerifier | undefined): verifier is ApiKeyManagement =>
  typeof (verifier as Partial<ApiKeyManagement> | undefined)?.create === 'function';
