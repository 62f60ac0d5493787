import type { Database } from '@kantoor/database';
import { unauthenticated } from '@kantoor/errors';
import { findStaffByEmail, type StaffRow } from '../data-access/firm-repository';
import { verifyPassword } from './passwords';

// compared against when the e-mail is unknown, so that a wrong e-mail takes as long as a wrong password
const DECOY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

/** Embedded-mode login: one refusal for every failure, so it never tells which part was wrong. */
export async function verifyLogin(db: Database, email: string, password: string): Promise<StaffRow> {
  const candidates = (await findStaffByEmail(db, email)).filter(
    (staff) => staff.status === 'active' && staff.password_hash,
  );
  if (candidates.length === 0) {
    await verifyPassword(password, DECOY_HASH);
    throw unauthenticated('E-mail address or password is not correct', { reason: 'login_failed' });
  }
  for (const staff of candidates) {
    if (await verifyPassword(password, staff.password_hash!)) return staff;
  }
  throw unauthenticated('E-mail address or password is not correct', { reason: 'login_failed' });
}
