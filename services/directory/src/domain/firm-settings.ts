import type { Database } from '@kantoor/database';
import { notFound } from '@kantoor/errors';
import type { Caller } from '@kantoor/grpc';
import { DossierAccessChangedSchema } from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { recordChange } from '../data-access/audit';
import { findFirm, updateFirm, type ContactInfo, type FirmRow } from '../data-access/firm-repository';
import { authorize, authorizeAndLoadFirm } from './access';
import { publish } from './events';
import { DOMAIN, LANGUAGES, Violations, cleanContact, type Language } from './validation';

export interface FirmSettingsChange {
  name?: string;
  functionalEmail?: string;
  language?: string;
  onlyAdminsAddClients?: boolean;
  contact?: ContactInfo;
  intakeDomain?: string;
}

export async function getFirm(db: Database, caller: Caller, firmId: string): Promise<FirmRow> {
  // nothing of one firm is ever visible to another: a foreign firm id is answered as not found
  if (caller.kind !== 'system' && caller.firmId !== firmId)
    throw notFound('Firm not found', { reason: 'firm_not_found' });
  // people reading their own firm (every page load): the access facts and the firm in one round trip
  const firm =
    caller.kind === 'system'
      ? await findFirm(db, firmId)
      : await authorizeAndLoadFirm<FirmRow>(db, caller, 'firm:read');
  if (!firm) throw notFound('Firm not found', { reason: 'firm_not_found' });
  return firm;
}

/** Firm settings are the admins' (spec 01); every change is recorded with its author. */
export async function updateFirmSettings(db: Database, caller: Caller, change: FirmSettingsChange): Promise<FirmRow> {
  await authorize(db, caller, 'firm:write');
  const violations = new Violations();
  if (change.name !== undefined) violations.name(change.name, 'name');
  if (change.functionalEmail !== undefined) violations.email(change.functionalEmail, 'functionalEmail');
  if (change.language !== undefined) violations.oneOf(change.language, LANGUAGES, 'language');
  if (change.intakeDomain !== undefined)
    violations.check(DOMAIN.test(change.intakeDomain), 'intakeDomain', 'must be a domain name');
  const contact = change.contact && cleanContact(change.contact, violations, 'contact');
  violations.throwIfAny();
  return db.transaction(async (tx) => {
    const firm = await updateFirm(tx, caller.firmId, {
      ...(change.name !== undefined && { name: change.name.trim() }),
      ...(change.functionalEmail !== undefined && { functional_email: change.functionalEmail }),
      ...(change.language !== undefined && { language: change.language as Language }),
      ...(change.onlyAdminsAddClients !== undefined && { only_admins_add_clients: change.onlyAdminsAddClients }),
      ...(contact && { contact }),
      ...(change.intakeDomain !== undefined && { intake_domain: change.intakeDomain.toLowerCase() }),
    });
    await recordChange(tx, caller, {
      firmId: caller.firmId,
      action: 'firm.settings_changed',
      subjectId: caller.firmId,
      details: change,
    });
    if (change.onlyAdminsAddClients !== undefined)
      await publish(tx, DossierAccessChangedSchema, { firmId: caller.firmId, dossierId: '' });
    return firm;
  });
}
