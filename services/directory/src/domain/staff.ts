import { randomBytes, randomUUID } from 'node:crypto';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { Database, Queryable } from '@kantoor/database';
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from '@kantoor/errors';
import type { Caller } from '@kantoor/grpc';
import {
  StaffActivatedSchema,
  StaffInvitedSchema,
  StaffRemovedSchema,
  StaffRoleChangedSchema,
  DossierAccessChangedSchema,
} from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { claimActivationToken } from '../data-access/activation-repository';
import { recordChange } from '../data-access/audit';
import {
  countOtherActiveAdmins,
  detachStaff,
  findFirm,
  findStaff,
  insertStaff,
  listStaff,
  lockFirm,
  updateStaff,
  type StaffView,
} from '../data-access/firm-repository';
import { addCollaborator } from '../data-access/dossier-repository';
import { findPortalUser, updatePortalUser } from '../data-access/portal-user-repository';
import { replaceClientGroupStaff, findClientGroup, unknownIds } from '../data-access/group-repository';
import { authorize } from './access';
import { hashToken, issueActivationToken } from './activation';
import { publish } from './events';
import { readPage, type PageRequest } from './list-page';
import { hashPassword, passwordProblem } from './passwords';
import { ROLES, Violations, type Role } from './validation';

export interface InviteStaffInput {
  name: string;
  email: string;
  role: string;
  dossierIds?: readonly string[];
  clientGroupIds?: readonly string[];
}

const UNIQUE_VIOLATION = '23505';

export const duplicateStaffEmail = (email: string) =>
  alreadyExists(`A staff member with e-mail ${email} already exists in this firm`, {
    reason: 'duplicate_email',
    violations: [{ field: 'email', message: 'is already used by a staff member of this firm' }],
  });

/** The firm's staff, removed members left out, by name (lower(name), then id), one page at a time. */
export async function staffMembers(
  db: Database,
  caller: Caller,
  request: PageRequest,
): Promise<{ staff: StaffView[]; nextCursor: string }> {
  await authorize(db, caller, 'staff:read');
  const page = await readPage(request, (at) => listStaff(db, caller.firmId, at));
  return { staff: page.rows, nextCursor: page.nextCursor };
}

/** Only admins manage staff; a new member starts `invited` and gets an activation e-mail (through the event). */
export async function inviteStaff(
  db: Database,
  caller: Caller,
  input: InviteStaffInput,
  activationHours: number,
): Promise<StaffView> {
  await authorize(db, caller, 'staff:write');
  new Violations().name(input.name, 'name').email(input.email, 'email').oneOf(input.role, ROLES, 'role').throwIfAny();
  const dossierIds = input.dossierIds ?? [];
  const clientGroupIds = input.clientGroupIds ?? [];
  await refuseUnknown(db, caller.firmId, { dossier: dossierIds, client_group: clientGroupIds });
  try {
    const staffId = await db.transaction(async (tx) => {
      const firm = (await findFirm(tx, caller.firmId))!;
      const staff = await insertStaff(tx, {
        id: randomUUID(),
        firm_id: caller.firmId,
        name: input.name.trim(),
        email: input.email,
        role: input.role as Role,
        status: 'invited',
        password_hash: null,
      });
      for (const dossierId of dossierIds) await addCollaborator(tx, dossierId, staff.id);
      for (const groupId of clientGroupIds) {
        const group = (await findClientGroup(tx, caller.firmId, groupId))!;
        await replaceClientGroupStaff(tx, groupId, [...group.staff_ids, staff.id], group.staff_group_ids);
      }
      const activation = await issueActivationToken(
        tx,
        { kind: 'staff', id: staff.id, firmId: caller.firmId },
        activationHours,
      );
      await recordChange(tx, caller, {
        firmId: caller.firmId,
        action: 'staff.invited',
        subjectId: staff.id,
        details: { role: staff.role, dossierIds, clientGroupIds },
      });
      await publish(tx, StaffInvitedSchema, {
        firmId: caller.firmId,
        staffId: staff.id,
        name: staff.name,
        email: staff.email,
        role: staff.role,
        invitedBy: caller.subjectId,
        activationToken: activation.token,
        activationExpiresAt: timestampFromDate(activation.expiresAt),
        language: firm.language,
      });
      if (dossierIds.length + clientGroupIds.length > 0)
        await publish(tx, DossierAccessChangedSchema, { firmId: caller.firmId, dossierId: '' });
      return staff.id;
    });
    return (await findStaff(db, caller.firmId, staffId))!;
  } catch (error) {
    if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw duplicateStaffEmail(input.email);
    throw error;
  }
}

/** Refuses ids that are unknown or belong to another firm, naming each field. */
export async function refuseUnknown(
  db: Queryable,
  firmId: string,
  references: Partial<Record<'staff' | 'staff_group' | 'client_group' | 'dossier', readonly string[]>>,
): Promise<void> {
  const violations = new Violations();
  for (const [table, ids] of Object.entries(references) as Array<
    ['staff' | 'staff_group' | 'client_group' | 'dossier', readonly string[]]
  >) {
    const unknown = await unknownIds(db, table, firmId, ids);
    violations.check(unknown.length === 0, table, `unknown ${table.replace('_', ' ')}: ${unknown.join(', ')}`);
  }
  violations.throwIfAny('The request names things that do not exist in this firm');
}

const lastAdmin = (what: string) =>
  failedPrecondition(`The firm's last admin cannot be ${what}; make someone else admin first.`, {
    reason: 'last_admin',
  });

/**
 * The set of admins changes only with the firm row locked, so two concurrent demotions of the last two
 * admins queue: the second sees one admin left and is refused.
 */
export async function changeStaffRole(db: Database, caller: Caller, staffId: string, role: string): Promise<StaffView> {
  await authorize(db, caller, 'staff:write');
  new Violations().oneOf(role, ROLES, 'role').throwIfAny();
  await db.transaction(async (tx) => {
    await lockFirm(tx, caller.firmId);
    const staff = await findStaff(tx, caller.firmId, staffId);
    if (!staff) throw notFound('Staff member not found', { reason: 'staff_not_found' });
    if (staff.role === role) return;
    if (staff.role === 'admin' && (await countOtherActiveAdmins(tx, caller.firmId, staffId)) === 0)
      throw lastAdmin('demoted');
    await updateStaff(tx, staffId, { role: role as Role });
    await recordChange(tx, caller, {
      firmId: caller.firmId,
      action: 'staff.role_changed',
      subjectId: staffId,
      details: { from: staff.role, to: role },
    });
    await publish(tx, StaffRoleChangedSchema, {
      firmId: caller.firmId,
      staffId,
      previousRole: staff.role,
      role,
      changedBy: caller.subjectId,
    });
  });
  return (await findStaff(db, caller.firmId, staffId))!;
}

export async function removeStaff(db: Database, caller: Caller, staffId: string): Promise<void> {
  await authorize(db, caller, 'staff:write');
  await db.transaction(async (tx) => {
    await lockFirm(tx, caller.firmId);
    const staff = await findStaff(tx, caller.firmId, staffId);
    if (!staff) throw notFound('Staff member not found', { reason: 'staff_not_found' });
    if (staff.role === 'admin' && (await countOtherActiveAdmins(tx, caller.firmId, staffId)) === 0)
      throw lastAdmin('removed');
    await updateStaff(tx, staffId, { status: 'removed', password_hash: null });
    await detachStaff(tx, staffId);
    await recordChange(tx, caller, { firmId: caller.firmId, action: 'staff.removed', subjectId: staffId });
    await publish(tx, StaffRemovedSchema, { firmId: caller.firmId, staffId, removedBy: caller.subjectId });
    await publish(tx, DossierAccessChangedSchema, { firmId: caller.firmId, dossierId: '' });
  });
}

const invalidLink = () =>
  failedPrecondition(
    'This activation link is not valid: it was used already, replaced by a newer one, or it expired.',
    {
      reason: 'activation_link_invalid',
    },
  );

/** Sets the first password with the link's secret; the link then stops working. */
export async function activateAccount(
  db: Database,
  kind: 'staff' | 'portal_user',
  token: string,
  password: string,
): Promise<{ subjectId: string; firmId: string; email: string; generatedPassword?: string }> {
  // a portal user may leave the password to us (seed 004: login details by e-mail); it must be changed later
  const generatedPassword = kind === 'portal_user' && !password ? randomBytes(12).toString('base64url') : undefined;
  const chosen = generatedPassword ?? password;
  const problem = passwordProblem(chosen);
  if (problem)
    throw invalidArgument(problem, { reason: 'weak_password', violations: [{ field: 'password', message: problem }] });
  if (!token) throw invalidLink();
  const passwordHash = await hashPassword(chosen);
  return db.transaction(async (tx) => {
    const claimed = await claimActivationToken(tx, hashToken(token));
    if (!claimed || claimed.account_kind !== kind) throw invalidLink();
    const actor: Caller = { kind, subjectId: claimed.account_id, firmId: claimed.firm_id, scopes: [] };
    if (kind === 'staff') {
      const staff = await findStaff(tx, claimed.firm_id, claimed.account_id);
      if (!staff) throw invalidLink();
      await updateStaff(tx, staff.id, { status: 'active', password_hash: passwordHash });
      await recordChange(tx, actor, { firmId: claimed.firm_id, action: 'staff.activated', subjectId: staff.id });
      await publish(tx, StaffActivatedSchema, { firmId: claimed.firm_id, staffId: staff.id });
      return { subjectId: staff.id, firmId: staff.firm_id, email: staff.email };
    }
    const user = await findPortalUser(tx, claimed.account_id);
    if (!user || user.status === 'removed') throw invalidLink();
    // a password the user chose through the link is their own; a generated one must be changed after login
    await updatePortalUser(tx, user.id, {
      status: 'active',
      password_hash: passwordHash,
      must_change_password: generatedPassword !== undefined,
    });
    await recordChange(tx, actor, { firmId: user.firm_id, action: 'portal_user.activated', subjectId: user.id });
    return { subjectId: user.id, firmId: user.firm_id, email: user.email, generatedPassword };
  });
}
