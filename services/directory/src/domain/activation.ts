import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from '@kantoor/database';
import { insertActivationToken } from '../data-access/activation-repository';

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/** A new activation link secret: random, mailed through the event, stored only as its hash, expiring. */
export async function issueActivationToken(
  tx: Queryable,
  account: { kind: 'staff' | 'portal_user'; id: string; firmId: string },
  validHours: number,
): Promise<{ token: string; expiresAt: Date }> {
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + validHours * 3600_000);
  await insertActivationToken(tx, {
    token_hash: hashToken(token),
    account_kind: account.kind,
    account_id: account.id,
    firm_id: account.firmId,
    expires_at: expiresAt,
  });
  return { token, expiresAt };
}
