import { randomUUID } from 'node:crypto';
import type { Database } from '@kantoor/database';
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from '@kantoor/errors';
import type { Caller } from '@kantoor/grpc';
import {
  DossierAccessChangedSchema,
  DossierCreatedSchema,
  DossierStatusChangedSchema,
} from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { recordChange } from '../data-access/audit';
import {
  findDossier,
  insertDossier,
  listDossiers,
  replaceCollaborators,
  updateDossier,
  type ContactPerson,
  type DossierView,
  type WhitelistedSender,
} from '../data-access/dossier-repository';
import type { ContactInfo } from '../data-access/firm-repository';
import { authorize } from './access';
import { COUNTRIES, normaliseEnterpriseNumber } from './enterprise-number';
import { publish } from './events';
import { cursorAfter, onePage, pagePosition } from './list-page';
import { refuseUnknown } from './staff';
import { LANGUAGES, Violations, cleanContact, type Language } from './validation';

const UNIQUE_VIOLATION = '23505';
const CODE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/;

export interface CreateDossierInput {
  name: string;
  country: string;
  enterpriseNumber: string;
  language: string;
  code?: string;
  contact?: ContactInfo;
  contactPersons?: ContactPerson[];
}

/** The four intake addresses of spec 02: one per mailbox and a general one, on the firm's intake domain. */
export function intakeAddresses(dossier: Pick<DossierView, 'enterprise_number' | 'intake_domain'>) {
  const local = dossier.enterprise_number;
  const at = `@${dossier.intake_domain}`;
  return {
    general: local + at,
    purchase: `${local}.purchase${at}`,
    sales: `${local}.sales${at}`,
    misc: `${local}.misc${at}`,
  };
}

function cleanContactPersons(persons: readonly ContactPerson[], violations: Violations): ContactPerson[] {
  violations.check(persons.length <= 50, 'contactPersons', 'at most 50 contact persons');
  return persons.map((person, index) => {
    violations.name(person.name ?? '', `contactPersons[${index}].name`);
    if (person.email) violations.email(person.email, `contactPersons[${index}].email`);
    return {
      name: (person.name ?? '').trim(),
      ...(person.email && { email: person.email }),
      ...(person.phone && { phone: person.phone.trim() }),
      ...(person.function && { function: person.function.trim() }),
    };
  });
}

/** A new dossier (status `new`): name, a valid enterprise number and a language; the code is fixed for good. */
export async function createDossier(db: Database, caller: Caller, input: CreateDossierInput): Promise<DossierView> {
  await authorize(db, caller, 'dossier:create');
  const violations = new Violations()
    .name(input.name, 'name')
    .oneOf(input.country, COUNTRIES, 'country')
    .oneOf(input.language, LANGUAGES, 'language');
  let enterpriseNumber = '';
  if ((COUNTRIES as readonly string[]).includes(input.country)) {
    const checked = normaliseEnterpriseNumber(input.country, input.enterpriseNumber);
    if ('problem' in checked) {
      throw invalidArgument(`The enterprise number ${input.enterpriseNumber} is not valid: ${checked.problem}`, {
        reason: 'invalid_enterprise_number',
        violations: [{ field: 'enterpriseNumber', message: checked.problem }],
      });
    }
    enterpriseNumber = checked.value;
  }
  const code = input.code?.trim() || enterpriseNumber;
  violations.check(CODE.test(code), 'code', 'must be 1 to 40 letters, digits, dots, dashes or underscores');
  const contact = cleanContact(input.contact ?? {}, violations, 'contact');
  const contactPersons = cleanContactPersons(input.contactPersons ?? [], violations);
  violations.throwIfAny();
  const id = randomUUID();
  try {
    await db.transaction(async (tx) => {
      await insertDossier(tx, {
        id,
        firm_id: caller.firmId,
        code,
        name: input.name.trim(),
        country: input.country as 'BE' | 'NL',
        enterprise_number: enterpriseNumber,
        language: input.language as Language,
        contact,
        contact_persons: contactPersons,
      });
      await recordChange(tx, caller, {
        firmId: caller.firmId,
        dossierId: id,
        action: 'dossier.created',
        subjectId: id,
        details: { code, enterpriseNumber },
      });
      await publish(tx, DossierCreatedSchema, {
        firmId: caller.firmId,
        dossierId: id,
        code,
        name: input.name.trim(),
        enterpriseNumber,
        language: input.language,
      });
    });
  } catch (error) {
    if ((error as { code?: string; constraint?: string }).code === UNIQUE_VIOLATION) {
      const field = String(
        (error as { constraint?: string; message?: string }).constraint ?? (error as Error).message,
      ).includes('code')
        ? 'code'
        : 'enterpriseNumber';
      throw alreadyExists(
        `This firm already has a dossier with this ${field === 'code' ? 'code' : 'enterprise number'}`,
        {
          reason: 'duplicate_dossier',
          violations: [{ field, message: 'is already used by another dossier of this firm' }],
        },
      );
    }
    throw error;
  }
  return (await findDossier(db, caller.firmId, id))!;
}

async function existingDossier(db: Database, firmId: string, dossierId: string): Promise<DossierView> {
  const dossier = await findDossier(db, firmId, dossierId);
  if (!dossier) throw notFound('Dossier not found', { reason: 'dossier_not_found' });
  return dossier;
}

export async function getDossier(db: Database, caller: Caller, dossierId: string): Promise<DossierView> {
  await authorize(db, caller, 'dossier:read', dossierId);
  return existingDossier(db, caller.firmId, dossierId);
}

export interface DossierFilter {
  status?: string;
  search?: string;
  fileManagerId?: string;
  clientGroupId?: string;
  /** only the dossiers this staff member is assigned to, whichever way (see DossierListing) */
  assignedStaffId?: string;
  pageSize?: number;
  cursor?: string;
}

/**
 * The dossiers the caller may see, in a stable order, one page at a time; with each dossier the cursor that
 * continues after it, for a caller that filters them further and ends its own page within this one.
 */
export async function listVisibleDossiers(
  db: Database,
  caller: Caller,
  filter: DossierFilter,
): Promise<{ dossiers: DossierView[]; nextCursor: string; cursorsAfter: string[] }> {
  await authorize(db, caller, 'dossier:list');
  const violations = new Violations();
  if (filter.status) violations.oneOf(filter.status, ['new', 'active', 'deactivated'], 'status');
  violations.check((filter.search ?? '').length <= 200, 'search', 'may have at most 200 characters');
  for (const [field, id] of [
    ['fileManagerId', filter.fileManagerId],
    ['clientGroupId', filter.clientGroupId],
    ['assignedStaffId', filter.assignedStaffId],
  ] as const) {
    if (id) violations.check(/^[0-9a-f-]{36}$/i.test(id), field, 'must be an id');
  }
  const { pageSize, after } = pagePosition(filter, violations);
  const visibility =
    caller.kind === 'portal_user'
      ? ({ kind: 'portal_user', portalUserId: caller.subjectId } as const)
      : caller.impersonation
        ? ({
            kind: 'portal_user',
            portalUserId: caller.impersonation.portalUserId,
            dossierId: caller.impersonation.dossierId,
          } as const)
        : caller.kind === 'staff' && caller.role !== 'admin'
          ? ({ kind: 'staff', staffId: caller.subjectId } as const)
          : ({ kind: 'all' } as const);
  const rows = await listDossiers(db, {
    firmId: caller.firmId,
    visibility,
    status: filter.status || undefined,
    search: filter.search?.trim() || undefined,
    fileManagerId: filter.fileManagerId || undefined,
    clientGroupId: filter.clientGroupId || undefined,
    assignedStaffId: filter.assignedStaffId || undefined,
    after,
    limit: pageSize + 1,
  });
  const page = onePage(rows, pageSize);
  return { dossiers: page.rows, nextCursor: page.nextCursor, cursorsAfter: page.rows.map(cursorAfter) };
}

export interface Assignment {
  fileManagerId?: string;
  clientGroupId?: string;
  collaboratorStaffIds?: readonly string[];
  collaboratorGroupIds?: readonly string[];
}

async function checkAssignment(db: Database, firmId: string, assignment: Assignment): Promise<void> {
  await refuseUnknown(db, firmId, {
    staff: [
      ...(assignment.fileManagerId ? [assignment.fileManagerId] : []),
      ...(assignment.collaboratorStaffIds ?? []),
    ],
    client_group: assignment.clientGroupId ? [assignment.clientGroupId] : [],
    staff_group: assignment.collaboratorGroupIds ?? [],
  });
}

/** On activation a dossier gets a file manager and/or a client group (spec 01). */
export async function activateDossier(
  db: Database,
  caller: Caller,
  dossierId: string,
  assignment: Assignment,
): Promise<DossierView> {
  await authorize(db, caller, 'dossier:activate', dossierId);
  if (!assignment.fileManagerId && !assignment.clientGroupId) {
    throw invalidArgument('A dossier is activated with a file manager, a client group, or both', {
      reason: 'assignment_required',
      violations: [{ field: 'fileManagerId', message: 'give a file manager or a client group' }],
    });
  }
  await checkAssignment(db, caller.firmId, assignment);
  await db.transaction(async (tx) => {
    const dossier = (await findDossier(tx, caller.firmId, dossierId, { lock: true }))!;
    if (dossier.status !== 'new')
      throw failedPrecondition(`This dossier is ${dossier.status} already`, { reason: 'dossier_not_new' });
    await updateDossier(tx, dossierId, {
      status: 'active',
      file_manager_id: assignment.fileManagerId || null,
      client_group_id: assignment.clientGroupId || null,
      activated_at: new Date(),
    });
    await recordChange(tx, caller, {
      firmId: caller.firmId,
      dossierId,
      action: 'dossier.activated',
      subjectId: dossierId,
      details: assignment,
    });
    await publish(tx, DossierStatusChangedSchema, {
      firmId: caller.firmId,
      dossierId,
      status: 'active',
      changedBy: caller.subjectId,
    });
    await publish(tx, DossierAccessChangedSchema, { firmId: caller.firmId, dossierId });
  });
  return existingDossier(db, caller.firmId, dossierId);
}

/** Replaces what is given: file manager, client group, collaborators (staff and staff groups). */
export async function assignDossier(
  db: Database,
  caller: Caller,
  dossierId: string,
  assignment: Assignment,
): Promise<DossierView> {
  await authorize(db, caller, 'dossier:write', dossierId);
  await checkAssignment(db, caller.firmId, assignment);
  await db.transaction(async (tx) => {
    await findDossier(tx, caller.firmId, dossierId, { lock: true });
    await updateDossier(tx, dossierId, {
      ...(assignment.fileManagerId !== undefined && { file_manager_id: assignment.fileManagerId || null }),
      ...(assignment.clientGroupId !== undefined && { client_group_id: assignment.clientGroupId || null }),
    });
    await replaceCollaborators(tx, dossierId, assignment.collaboratorStaffIds, assignment.collaboratorGroupIds);
    await recordChange(tx, caller, {
      firmId: caller.firmId,
      dossierId,
      action: 'dossier.assigned',
      subjectId: dossierId,
      details: assignment,
    });
    await publish(tx, DossierAccessChangedSchema, { firmId: caller.firmId, dossierId });
  });
  return existingDossier(db, caller.firmId, dossierId);
}

/** Deactivated: the client left; the firm keeps the archive. Reactivation brings it back as it was. */
export async function changeDossierStatus(
  db: Database,
  caller: Caller,
  dossierId: string,
  to: 'active' | 'deactivated',
): Promise<DossierView> {
  await authorize(db, caller, 'dossier:write', dossierId);
  await db.transaction(async (tx) => {
    const dossier = (await findDossier(tx, caller.firmId, dossierId, { lock: true }))!;
    const from = to === 'deactivated' ? 'active' : 'deactivated';
    if (dossier.status !== from) {
      throw failedPrecondition(
        `Only ${from} dossiers can be ${to === 'active' ? 'reactivated' : 'deactivated'}; this one is ${dossier.status}`,
        {
          reason: to === 'active' ? 'dossier_not_deactivated' : 'dossier_not_active',
        },
      );
    }
    await updateDossier(tx, dossierId, { status: to, deactivated_at: to === 'deactivated' ? new Date() : null });
    await recordChange(tx, caller, {
      firmId: caller.firmId,
      dossierId,
      action: to === 'active' ? 'dossier.reactivated' : 'dossier.deactivated',
      subjectId: dossierId,
    });
    await publish(tx, DossierStatusChangedSchema, {
      firmId: caller.firmId,
      dossierId,
      status: to,
      changedBy: caller.subjectId,
    });
    await publish(tx, DossierAccessChangedSchema, { firmId: caller.firmId, dossierId });
  });
  return existingDossier(db, caller.firmId, dossierId);
}

export interface DossierSettingsChange {
  name?: string;
  language?: string;
  contact?: ContactInfo;
  contactPersons?: ContactPerson[];
  senderWhitelist?: WhitelistedSender[];
}

/** Everything of a dossier's settings but the code, which is fixed at creation. */
export async function updateDossierSettings(
  db: Database,
  caller: Caller,
  dossierId: string,
  change: DossierSettingsChange,
): Promise<DossierView> {
  await authorize(db, caller, 'dossier:write', dossierId);
  const violations = new Violations();
  if (change.name !== undefined) violations.name(change.name, 'name');
  if (change.language !== undefined) violations.oneOf(change.language, LANGUAGES, 'language');
  const contact = change.contact && cleanContact(change.contact, violations, 'contact');
  const contactPersons = change.contactPersons && cleanContactPersons(change.contactPersons, violations);
  const senders = change.senderWhitelist?.map((sender, index) => {
    violations.email(sender.email, `senderWhitelist[${index}].email`);
    return { email: sender.email.toLowerCase(), autoSend: sender.autoSend };
  });
  if (senders) {
    violations.check(senders.length <= 200, 'senderWhitelist', 'at most 200 senders');
    violations.check(
      new Set(senders.map((s) => s.email)).size === senders.length,
      'senderWhitelist',
      'names an address twice',
    );
  }
  violations.throwIfAny();
  await db.transaction(async (tx) => {
    await updateDossier(tx, dossierId, {
      ...(change.name !== undefined && { name: change.name.trim() }),
      ...(change.language !== undefined && { language: change.language as Language }),
      ...(contact && { contact }),
      ...(contactPersons && { contact_persons: contactPersons }),
      ...(senders && { sender_whitelist: senders }),
    });
    await recordChange(tx, caller, {
      firmId: caller.firmId,
      dossierId,
      action: 'dossier.settings_changed',
      subjectId: dossierId,
      details: change,
    });
  });
  return existingDossier(db, caller.firmId, dossierId);
}
