import { randomUUID } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import type { Database } from '@kantoor/database';
import { alreadyExists, permissionDenied } from '@kantoor/errors';
import { appendEvent } from '@kantoor/events';
import type { Caller } from '@kantoor/grpc';
import { StaffInvitedSchema } from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { insertStaff, recordAudit, type StaffRow } from '../data-access/firm-repository';
import { ROLES, Violations, type Role } from './validation';

export interface InviteStaffInput {
  name: string;
  email: string;
  role: string;
}

const UNIQUE_VIOLATION = '23505';

/** Only admins manage staff; a new member starts `invited` and gets an activation e-mail (through the event). */
export async function inviteStaff(db: Database, caller: Caller, input: InviteStaffInput): Promise<StaffRow> {
  if (caller.kind !== 'staff' || caller.role !== 'admin') {
    throw permissionDenied('Only admins may add staff members', { reason: 'admin_required' });
  }
  new Violations().name(input.name, 'name').email(input.email, 'email').oneOf(input.role, ROLES, 'role').throwIfAny();
  try {
    return await db.transaction(async (tx) => {
      const staff = await insertStaff(tx, {
        id: randomUUID(),
        firm_id: caller.firmId,
        name: input.name.trim(),
        email: input.email,
        role: input.role as Role,
        status: 'invited',
        password_hash: null,
      });
      await recordAudit(tx, {
        firmId: caller.firmId,
        actorKind: caller.kind,
        actorId: caller.subjectId,
        action: 'staff.invited',
        subjectId: staff.id,
        details: { role: staff.role },
      });
      await appendEvent(tx, {
        source: 'directory',
        firmId: caller.firmId,
        payload: {
          schema: StaffInvitedSchema,
          value: create(StaffInvitedSchema, {
            firmId: caller.firmId,
            staffId: staff.id,
            name: staff.name,
            email: staff.email,
            role: staff.role,
            invitedBy: caller.subjectId,
          }),
        },
      });
      return staff;
    });
  } catch (error) {
    if ((error as { code?: string }).code === UNIQUE_VIOLATION) {
      throw alreadyExists(`A staff member with e-mail ${input.email} already exists in this firm`, {
        reason: 'duplicate_email',
        violations: [{ field: 'email', message: 'is already used by a staff member of this firm' }],
      });
    }
    throw error;
  }
}
