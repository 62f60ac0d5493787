import { randomUUID } from 'node:crypto';
import type { Database } from '@kantoor/database';
import { alreadyExists, notFound } from '@kantoor/errors';
import type { Caller } from '@kantoor/grpc';
import { DossierAccessChangedSchema } from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { recordChange } from '../data-access/audit';
import {
  findClientGroup,
  findStaffGroup,
  insertClientGroup,
  insertStaffGroup,
  listClientGroups,
  listStaffGroups,
  renameStaffGroup,
  replaceClientGroupStaff,
  replaceStaffGroupMembers,
  updateClientGroupDetails,
  type ClientGroupView,
  type StaffGroupView,
} from '../data-access/group-repository';
import { authorize } from './access';
import { publish } from './events';
import { readPage, type PageRequest } from './list-page';
import { refuseUnknown } from './staff';
import { Violations } from './validation';

const UNIQUE_VIOLATION = '23505';
const duplicateName = (what: string, name: string) => (error: unknown) => {
  if ((error as { code?: string }).code === UNIQUE_VIOLATION) {
    throw alreadyExists(`A ${what} named ${name} already exists`, {
      reason: 'duplicate_name',
      violations: [{ field: 'name', message: 'is already used' }],
    });
  }
  throw error;
};

/** The firm's staff groups by name (lower(name), then id), one page at a time. */
export async function staffGroups(
  db: Database,
  caller: Caller,
  request: PageRequest,
): Promise<{ staffGroups: StaffGroupView[]; nextCursor: string }> {
  await authorize(db, caller, 'group:read');
  const page = await readPage(request, (at) => listStaffGroups(db, caller.firmId, at));
  return { staffGroups: page.rows, nextCursor: page.nextCursor };
}

/** The firm's client groups by name (lower(name), then id), one page at a time. */
export async function clientGroups(
  db: Database,
  caller: Caller,
  request: PageRequest,
): Promise<{ clientGroups: ClientGroupView[]; nextCursor: string }> {
  await authorize(db, caller, 'group:read');
  const page = await readPage(request, (at) => listClientGroups(db, caller.firmId, at));
  return { clientGroups: page.rows, nextCursor: page.nextCursor };
}

/** Staff groups model the firm's teams; assigned to dossiers or client groups they give their members access. */
export async function saveStaffGroup(
  db: Database,
  caller: Caller,
  input: { id?: string; name?: string; memberIds?: readonly string[] },
): Promise<StaffGroupView> {
  await authorize(db, caller, 'group:write');
  const violations = new Violations();
  if (input.name !== undefined || !input.id) violations.name(input.name ?? '', 'name');
  violations.throwIfAny();
  if (input.id && !(await findStaffGroup(db, caller.firmId, input.id)))
    throw notFound('Staff group not found', { reason: 'staff_group_not_found' });
  if (input.memberIds) await refuseUnknown(db, caller.firmId, { staff: input.memberIds });
  const id = input.id ?? randomUUID();
  await db
    .transaction(async (tx) => {
      if (!input.id) await insertStaffGroup(tx, { id, firmId: caller.firmId, name: input.name!.trim() });
      else if (input.name !== undefined) await renameStaffGroup(tx, id, input.name.trim());
      if (input.memberIds) await replaceStaffGroupMembers(tx, id, input.memberIds);
      await recordChange(tx, caller, {
        firmId: caller.firmId,
        action: input.id ? 'staff_group.changed' : 'staff_group.created',
        subjectId: id,
        details: input,
      });
      if (input.id && input.memberIds)
        await publish(tx, DossierAccessChangedSchema, { firmId: caller.firmId, dossierId: '' });
    })
    .catch(duplicateName('staff group', input.name ?? ''));
  return (await findStaffGroup(db, caller.firmId, id))!;
}

/** A client group has a name, an e-mail address (the cascade's second step), staff and staff groups. */
export async function saveClientGroup(
  db: Database,
  caller: Caller,
  input: {
    id?: string;
    name?: string;
    email?: string;
    staffIds?: readonly string[];
    staffGroupIds?: readonly string[];
  },
): Promise<ClientGroupView> {
  await authorize(db, caller, 'group:write');
  const violations = new Violations();
  if (input.name !== undefined || !input.id) violations.name(input.name ?? '', 'name');
  if (input.email !== undefined || !input.id) violations.email(input.email ?? '', 'email');
  violations.throwIfAny();
  const existing = input.id ? await findClientGroup(db, caller.firmId, input.id) : undefined;
  if (input.id && !existing) throw notFound('Client group not found', { reason: 'client_group_not_found' });
  await refuseUnknown(db, caller.firmId, { staff: input.staffIds ?? [], staff_group: input.staffGroupIds ?? [] });
  const id = input.id ?? randomUUID();
  await db
    .transaction(async (tx) => {
      if (!existing)
        await insertClientGroup(tx, { id, firmId: caller.firmId, name: input.name!.trim(), email: input.email! });
      else await updateClientGroupDetails(tx, id, { name: input.name?.trim(), email: input.email });
      if (input.staffIds || input.staffGroupIds || !existing) {
        await replaceClientGroupStaff(
          tx,
          id,
          input.staffIds ?? existing?.staff_ids ?? [],
          input.staffGroupIds ?? existing?.staff_group_ids ?? [],
        );
      }
      await recordChange(tx, caller, {
        firmId: caller.firmId,
        action: existing ? 'client_group.changed' : 'client_group.created',
        subjectId: id,
        details: input,
      });
      if (existing) await publish(tx, DossierAccessChangedSchema, { firmId: caller.firmId, dossierId: '' });
    })
    .catch(duplicateName('client group', input.name ?? ''));
  return (await findClientGroup(db, caller.firmId, id))!;
}
