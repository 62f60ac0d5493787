import type { Queryable } from '@kantoor/database';

/** A message of a polled mailbox: its mailbox's UIDVALIDITY and its UID there. */
export interface ImapMessageKey {
  account: string;
  uidValidity: bigint;
  uid: number;
}

export type ImapOutcome = 'stored' | 'no_recipient' | 'too_large';

/** Records that the message was taken; false when it had been before (nothing changed then). */
export async function recordImapMessage(
  db: Queryable,
  key: ImapMessageKey,
  outcome: ImapOutcome,
  messageId?: string,
): Promise<boolean> {
  const { rows } = await db.query(
    `INSERT INTO imap_message (account, uid_validity, uid, outcome, message_id) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT DO NOTHING RETURNING uid`,
    [key.account, key.uidValidity.toString(), key.uid, outcome, messageId ?? null],
  );
  return rows.length === 1;
}

/**
 * Forgets the messages no longer in the mailbox (moved on, or deleted by someone): a UID is never given again within
 * a UIDVALIDITY, so only a record of a message still there can matter. Records of an older UIDVALIDITY go too.
 */
export async function forgetImapMessagesGone(
  db: Queryable,
  account: string,
  uidValidity: bigint,
  uidsInMailbox: readonly number[],
): Promise<void> {
  await db.query(`DELETE FROM imap_message WHERE account = $1 AND (uid_validity <> $2 OR uid <> ALL($3::bigint[]))`, [
    account,
    uidValidity.toString(),
    uidsInMailbox,
  ]);
}

/** How the message was taken before, if it was. */
export async function imapOutcomeOf(db: Queryable, key: ImapMessageKey): Promise<ImapOutcome | undefined> {
  const { rows } = await db.query<{ outcome: ImapOutcome }>(
    'SELECT outcome FROM imap_message WHERE account = $1 AND uid_validity = $2 AND uid = $3',
    [key.account, key.uidValidity.toString(), key.uid],
  );
  return rows[0]?.outcome;
}

/** Takes or renews the mailbox's lease for `holder`; false while another holder's lease runs. */
export async function takeImapLease(db: Queryable, account: string, holder: string, seconds: number): Promise<boolean> {
  const { rows } = await db.query(
    `INSERT INTO imap_poll_lease AS lease (account, holder, expires_at)
     VALUES ($1, $2, now() + make_interval(secs => $3))
     ON CONFLICT (account) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
       WHERE lease.holder = excluded.holder OR lease.expires_at < now()
     RETURNING holder`,
    [account, holder, seconds],
  );
  return rows.length === 1;
}

/** Hands the lease back, so that another replica polls at once. */
export async function releaseImapLease(db: Queryable, account: string, holder: string): Promise<void> {
  await db.query('DELETE FROM imap_poll_lease WHERE account = $1 AND holder = $2', [account, holder]);
}
