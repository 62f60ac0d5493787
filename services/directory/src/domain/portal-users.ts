import { randomUUID } from 'node:crypto';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { Database } from '@kantoor/database';
import { failedPrecondition, invalidArgument, notFound } from '@kantoor/errors';
import type { Caller } from '@kantoor/grpc';
import { DossierAccessChangedSchema, PortalUserAddedSchema } from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { recordChange } from '../data-access/audit';
import { findDossier } from '../data-access/dossier-repository';
import { findStaff, updateStaff } from '../data-access/firm-repository';
import {
  addPortalUserToDossier,
  dossierIdsOfPortalUser,
  findPortalUser,
  findPortalUserByEmail,
  insertPortalUser,
  listPortalUsersOfDossier,
  updatePortalUser,
  type PortalUserRow,
  type PortalUserView,
} from '../data-access/portal-user-repository';
import { authorize, termsVersion } from './access';
import { issueActivationToken } from './activation';
import { intakeAddresses } from './dossiers';
import { publish } from './events';
import { readPage, type PageRequest } from './list-page';
import { hashPassword, passwordProblem, verifyPassword } from './passwords';
import { Violations } from './validation';

/**
 * Adds a portal user to a dossier by e-mail address. An address the firm knows already is extended to the
 * dossier (one address may serve several dossiers); a new one gets an activation link.
 */
export async function addPortalUser(
  db: Database,
  caller: Caller,
  input: { dossierId: string; email: string; name: string },
  activationHours: number,
): Promise<{ user: PortalUserRow; existingUser: boolean }> {
  await authorize(db, caller, 'portal_user:write', input.dossierId);
  new Violations().email(input.email, 'email').name(input.name, 'name').throwIfAny();
  return db.transaction(async (tx) => {
    const dossier = (await findDossier(tx, caller.firmId, input.dossierId, { lock: true }))!;
    if (dossier.status === 'deactivated')
      throw failedPrecondition('Portal users cannot be added to a deactivated dossier', {
        reason: 'dossier_deactivated',
      });
    const known = await findPortalUserByEmail(tx, caller.firmId, input.email);
    const user =
      known ??
      (await insertPortalUser(tx, {
        id: randomUUID(),
        firm_id: caller.firmId,
        email: input.email,
        name: input.name.trim(),
      }));
    const added = await addPortalUserToDossier(tx, user.id, input.dossierId);
    if (!added) return { user, existingUser: true };
    const existingUser = user.status === 'active';
    const activation = existingUser
      ? undefined
      : await issueActivationToken(tx, { kind: 'portal_user', id: user.id, firmId: caller.firmId }, activationHours);
    const addresses = intakeAddresses(dossier);
    await recordChange(tx, caller, {
      firmId: caller.firmId,
      dossierId: input.dossierId,
      action: 'portal_user.added',
      subjectId: user.id,
      details: { existingUser },
    });
    await publish(tx, PortalUserAddedSchema, {
      firmId: caller.firmId,
      dossierId: input.dossierId,
      portalUserId: user.id,
      email: user.email,
      name: user.name,
      dossierName: dossier.name,
      language: dossier.language,
      intakeAddresses: [addresses.general, addresses.purchase, addresses.sales, addresses.misc],
      existingUser,
      activationToken: activation?.token ?? '',
      activationExpiresAt: activation && timestampFromDate(activation.expiresAt),
      addedBy: caller.subjectId,
    });
    await publish(tx, DossierAccessChangedSchema, { firmId: caller.firmId, dossierId: input.dossierId });
    return { user, existingUser };
  });
}

/** A dossier's portal users by name (lower(name), then id), one page at a time. */
export async function portalUsersOfDossier(
  db: Database,
  caller: Caller,
  dossierId: string,
  request: PageRequest,
): Promise<{ portalUsers: PortalUserView[]; nextCursor: string }> {
  await authorize(db, caller, 'portal_user:read', dossierId);
  const page = await readPage(request, (at) => listPortalUsersOfDossier(db, dossierId, at));
  return { portalUsers: page.rows, nextCursor: page.nextCursor };
}

export interface MyAccount {
  kind: 'staff' | 'portal_user';
  id: string;
  firmId: string;
  name: string;
  email: string;
  role: string;
  mustChangePassword: boolean;
  mustAcceptTerms: boolean;
  termsVersion: string;
  termsAcceptedAt: Date | null;
  dossierIds: string[];
  currentTermsVersion: string;
}

/** The caller's own account with the first-login steps still to do (the portal shows them before anything else). */
export async function myAccount(db: Database, caller: Caller): Promise<MyAccount> {
  if (caller.kind === 'staff') {
    const staff = await findStaff(db, caller.firmId, caller.subjectId);
    if (!staff) throw notFound('Account not found', { reason: 'account_not_found' });
    return {
      kind: 'staff',
      id: staff.id,
      firmId: staff.firm_id,
      name: staff.name,
      email: staff.email,
      role: staff.role,
      mustChangePassword: false,
      mustAcceptTerms: false,
      termsVersion: '',
      termsAcceptedAt: null,
      dossierIds: [],
      currentTermsVersion: termsVersion(),
    };
  }
  const user = caller.kind === 'portal_user' ? await findPortalUser(db, caller.subjectId) : undefined;
  if (!user || user.firm_id !== caller.firmId || user.status === 'removed')
    throw notFound('Account not found', { reason: 'account_not_found' });
  return {
    kind: 'portal_user',
    id: user.id,
    firmId: user.firm_id,
    name: user.name,
    email: user.email,
    role: '',
    mustChangePassword: user.must_change_password,
    mustAcceptTerms: user.terms_version !== termsVersion(),
    termsVersion: user.terms_version ?? '',
    termsAcceptedAt: user.terms_accepted_at,
    dossierIds: await dossierIdsOfPortalUser(db, user.id),
    currentTermsVersion: termsVersion(),
  };
}

/** Records which version of the terms of use the portal user accepted, and when. */
export async function acceptTerms(db: Database, caller: Caller, version: string): Promise<Date> {
  if (caller.kind !== 'portal_user')
    throw failedPrecondition('Only portal users accept the terms of use', { reason: 'portal_users_only' });
  await authorize(db, caller, 'account:write');
  if (version !== termsVersion()) {
    throw invalidArgument(`The current terms of use have version ${termsVersion()}`, {
      reason: 'terms_version_mismatch',
      violations: [{ field: 'version', message: `must be ${termsVersion()}` }],
    });
  }
  return db.transaction(async (tx) => {
    const user = await updatePortalUser(tx, caller.subjectId, {
      terms_version: version,
      terms_accepted_at: new Date(),
    });
    await recordChange(tx, caller, {
      firmId: caller.firmId,
      action: 'portal_user.terms_accepted',
      subjectId: user.id,
      details: { version },
    });
    return user.terms_accepted_at!;
  });
}

// a form error, not a 401: the caller is signed in, and a front end must not take it for an expired session
const wrongPassword = () =>
  invalidArgument('The current password is not correct', {
    reason: 'wrong_password',
    violations: [{ field: 'currentPassword', message: 'is not correct' }],
  });

export async function changePassword(db: Database, caller: Caller, current: string, next: string): Promise<void> {
  if (caller.impersonation)
    throw failedPrecondition("Staff acting as a client cannot change the client's password", {
      reason: 'impersonating',
    });
  await authorize(db, caller, 'account:write');
  const problem = passwordProblem(next);
  if (problem)
    throw invalidArgument(problem, {
      reason: 'weak_password',
      violations: [{ field: 'newPassword', message: problem }],
    });
  if (next === current)
    throw invalidArgument('The new password must differ from the current one', {
      reason: 'same_password',
      violations: [{ field: 'newPassword', message: 'must differ from the current password' }],
    });
  const stored =
    caller.kind === 'staff'
      ? (await findStaff(db, caller.firmId, caller.subjectId))?.password_hash
      : caller.kind === 'portal_user'
        ? (await findPortalUser(db, caller.subjectId))?.password_hash
        : undefined;
  if (!stored || !(await verifyPassword(current, stored))) throw wrongPassword();
  const hash = await hashPassword(next);
  await db.transaction(async (tx) => {
    if (caller.kind === 'staff') await updateStaff(tx, caller.subjectId, { password_hash: hash });
    else await updatePortalUser(tx, caller.subjectId, { password_hash: hash, must_change_password: false });
    await recordChange(tx, caller, {
      firmId: caller.firmId,
      action: `${caller.kind}.password_changed`,
      subjectId: caller.subjectId,
    });
  });
}
