import type { Queryable } from '@kantoor/database';

export interface ActivationTokenRow {
  token_hash: string;
  account_kind: 'staff' | 'portal_user';
  account_id: string;
  firm_id: string;
  expires_at: Date;
  used_at: Date | null;
}

export async function insertActivationToken(tx: Queryable, row: Omit<ActivationTokenRow, 'used_at'>): Promise<void> {
  // a new link replaces the ones mailed before: only the latest works
  await tx.query('UPDATE activation_token SET used_at = now() WHERE account_id = $1 AND used_at IS NULL', [
    row.account_id,
  ]);
  await tx.query(
    'INSERT INTO activation_token (token_hash, account_kind, account_id, firm_id, expires_at) VALUES ($1, $2, $3, $4, $5)',
    [row.token_hash, row.account_kind, row.account_id, row.firm_id, row.expires_at],
  );
}

/** Claims an unused token once: a second use, even concurrent, finds it used. */
export async function claimActivationToken(tx: Queryable, tokenHash: string): Promise<ActivationTokenRow | undefined> {
  const { rows } = await tx.query<ActivationTokenRow>(
    `UPDATE activation_token SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING *`,
    [tokenHash],
  );
  return rows[0];
}
