import type { Database } from '@kantoor/database';
import { unauthenticated } from '@kantoor/errors';
import { findStaffByEmail } from '../data-access/firm-repository';
import { findPortalUsersByEmail } from '../data-access/portal-user-repository';
import { termsVersion } from './access';
import { verifyPassword } from './passwords';

// compared against when the e-mail is unknown, so that a wrong e-mail takes as long as a wrong password
const DECOY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

export interface LoginIdentity {
  kind: 'staff' | 'portal_user';
  subjectId: string;
  firmId: string;
  role: string;
  email: string;
  mustChangePassword: boolean;
  mustAcceptTerms: boolean;
}

/**
 * Embedded-mode login for staff and portal users: one refusal for every failure, so it never tells which
 * part was wrong. Staff win when one address is both (an accountant testing the portal).
 */
export async function verifyLogin(db: Database, email: string, password: string): Promise<LoginIdentity> {
  const staff = (await findStaffByEmail(db, email)).filter((row) => row.status === 'active' && row.password_hash);
  const users = (await findPortalUsersByEmail(db, email)).filter((row) => row.status === 'active' && row.password_hash);
  if (staff.length + users.length === 0) {
    await verifyPassword(password, DECOY_HASH);
    throw unauthenticated('E-mail address or password is not correct', { reason: 'login_failed' });
  }
  for (const row of staff) {
    if (await verifyPassword(password, row.password_hash!)) {
      return {
        kind: 'staff',
        subjectId: row.id,
        firmId: row.firm_id,
        role: row.role,
        email: row.email,
        mustChangePassword: false,
        mustAcceptTerms: false,
      };
    }
  }
  for (const row of users) {
    if (await verifyPassword(password, row.password_hash!)) {
      return {
        kind: 'portal_user',
        subjectId: row.id,
        firmId: row.firm_id,
        role: '',
        email: row.email,
        mustChangePassword: row.must_change_password,
        mustAcceptTerms: row.terms_version !== termsVersion(),
      };
    }
  }
  throw unauthenticated('E-mail address or password is not correct', { reason: 'login_failed' });
}

/**
 * Cluster mode: the firm's OpenID Connect provider vouches for the e-mail address; staff are matched on it
 * first, portal users next. Undefined when nobody active has the address, or when it is ambiguous (the same
 * address in two firms): the gateway then refuses the token rather than guess a firm.
 */
export async function resolveIdentity(
  db: Database,
  email: string,
): Promise<Omit<LoginIdentity, 'mustChangePassword' | 'mustAcceptTerms'> | undefined> {
  const staff = await findStaffByEmail(db, email);
  if (staff.length > 1) return undefined;
  if (staff.length === 1) {
    // the provider vouches for the address, which is what the activation link would have proven
    if (staff[0].status === 'invited')
      await db.query(`UPDATE staff SET status = 'active' WHERE id = $1 AND status = 'invited'`, [staff[0].id]);
    return {
      kind: 'staff',
      subjectId: staff[0].id,
      firmId: staff[0].firm_id,
      role: staff[0].role,
      email: staff[0].email,
    };
  }
  const users = await findPortalUsersByEmail(db, email);
  if (users.length !== 1) return undefined;
  if (users[0].status === 'invited')
    await db.query(`UPDATE portal_user SET status = 'active' WHERE id = $1 AND status = 'invited'`, [users[0].id]);
  return { kind: 'portal_user', subjectId: users[0].id, firmId: users[0].firm_id, role: '', email: users[0].email };
}
