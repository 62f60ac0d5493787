import type { Database, Queryable } from '@kantoor/database';
import { failedPrecondition, notFound } from '@kantoor/errors';
import type { Caller } from '@kantoor/grpc';
import {
  AdditionalUserRequestedSchema,
  ClientMessageSentSchema,
  VatDeclarationCompletedSchema,
} from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { recordChange } from '../data-access/audit';
import { findDossier, type DossierView } from '../data-access/dossier-repository';
import { findPortalUser } from '../data-access/portal-user-repository';
import { authorize } from './access';
import { publish } from './events';
import { Violations } from './validation';

export interface Recipient {
  email: string;
  name: string;
  source: 'file_manager' | 'client_group' | 'firm';
}

/**
 * The communication cascade of spec 01: the dossier's file manager, else its client group's address, else
 * the firm's functional address. A file manager who was removed no longer counts.
 */
export async function cascadeRecipient(
  db: Queryable,
  firmId: string,
  dossierId: string,
): Promise<Recipient | undefined> {
  const { rows } = await db.query<{
    fm_email: string | null;
    fm_name: string | null;
    cg_email: string | null;
    cg_name: string | null;
    firm_email: string;
    firm_name: string;
  }>(
    `SELECT s.email AS fm_email, s.name AS fm_name, g.email AS cg_email, g.name AS cg_name, f.functional_email AS firm_email, f.name AS firm_name
     FROM dossier d JOIN firm f ON f.id = d.firm_id
     LEFT JOIN staff s ON s.id = d.file_manager_id AND s.status <> 'removed'
     LEFT JOIN client_group g ON g.id = d.client_group_id
     WHERE d.firm_id = $1 AND d.id = $2`,
    [firmId, dossierId],
  );
  const row = rows[0];
  if (!row) return undefined;
  if (row.fm_email) return { email: row.fm_email, name: row.fm_name!, source: 'file_manager' };
  if (row.cg_email) return { email: row.cg_email, name: row.cg_name!, source: 'client_group' };
  return { email: row.firm_email, name: row.firm_name, source: 'firm' };
}

export async function resolveRecipients(db: Database, caller: Caller, dossierId: string): Promise<Recipient> {
  await authorize(db, caller, 'dossier:read', dossierId);
  const recipient = await cascadeRecipient(db, caller.firmId, dossierId);
  if (!recipient) throw notFound('Dossier not found', { reason: 'dossier_not_found' });
  return recipient;
}

/** The client acting: the portal user, or the one staff act as (both are recorded). */
function portalActor(caller: Caller) {
  return caller.impersonation
    ? { kind: 'portal_user', id: caller.impersonation.portalUserId, onBehalfOf: `staff:${caller.subjectId}` }
    : { kind: caller.kind, id: caller.subjectId, onBehalfOf: '' };
}

/** Shared by the three client → firm messages: access, the dossier, its recipient, the reply address. */
async function fromClient(db: Database, caller: Caller, dossierId: string) {
  await authorize(db, caller, 'portal:use', dossierId);
  const dossier = (await findDossier(db, caller.firmId, dossierId)) as DossierView;
  const recipient = (await cascadeRecipient(db, caller.firmId, dossierId))!;
  const actor = portalActor(caller);
  const client = await findPortalUser(db, actor.id);
  return { dossier, recipient, actor, replyTo: client?.email ?? '' };
}

export async function sendClientMessage(
  db: Database,
  caller: Caller,
  input: { dossierId: string; subject: string; body: string },
): Promise<Recipient> {
  new Violations()
    .check(
      input.subject.trim().length > 0 && input.subject.length <= 200,
      'subject',
      'must be between 1 and 200 characters',
    )
    .check(
      input.body.trim().length > 0 && input.body.length <= 20_000,
      'body',
      'must be between 1 and 20000 characters',
    )
    .throwIfAny();
  const { dossier, recipient, actor, replyTo } = await fromClient(db, caller, input.dossierId);
  await db.transaction(async (tx) => {
    await recordChange(tx, caller, {
      firmId: caller.firmId,
      dossierId: dossier.id,
      action: 'client.message_sent',
      details: { to: recipient.email, subject: input.subject },
    });
    await publish(tx, ClientMessageSentSchema, {
      firmId: caller.firmId,
      dossierId: dossier.id,
      dossierName: dossier.name,
      recipient,
      sentBy: actor,
      replyTo,
      subject: input.subject.trim(),
      body: input.body,
      language: dossier.language,
    });
  });
  return recipient;
}

export async function completeVatDeclaration(db: Database, caller: Caller, dossierId: string): Promise<Recipient> {
  const { dossier, recipient, actor } = await fromClient(db, caller, dossierId);
  await db.transaction(async (tx) => {
    await recordChange(tx, caller, {
      firmId: caller.firmId,
      dossierId,
      action: 'client.vat_declaration_completed',
      details: { to: recipient.email },
    });
    await publish(tx, VatDeclarationCompletedSchema, {
      firmId: caller.firmId,
      dossierId,
      dossierName: dossier.name,
      recipient,
      declaredBy: actor,
      language: dossier.language,
    });
  });
  return recipient;
}

/** A portal user asks the file manager for another user: a request, never a self-service creation. */
export async function requestAdditionalUser(
  db: Database,
  caller: Caller,
  input: { dossierId: string; name: string; email: string; note: string },
): Promise<Recipient> {
  new Violations()
    .name(input.name, 'name')
    .email(input.email, 'email')
    .check(input.note.length <= 2000, 'note', 'may have at most 2000 characters')
    .throwIfAny();
  const { dossier, recipient, actor } = await fromClient(db, caller, input.dossierId);
  if (dossier.status !== 'active')
    throw failedPrecondition('This dossier is not active', { reason: 'dossier_not_active' });
  await db.transaction(async (tx) => {
    await recordChange(tx, caller, {
      firmId: caller.firmId,
      dossierId: dossier.id,
      action: 'client.additional_user_requested',
      details: { to: recipient.email, email: input.email },
    });
    await publish(tx, AdditionalUserRequestedSchema, {
      firmId: caller.firmId,
      dossierId: dossier.id,
      dossierName: dossier.name,
      recipient,
      requestedBy: actor,
      requestedName: input.name.trim(),
      requestedEmail: input.email,
      note: input.note,
      language: dossier.language,
    });
  });
  return recipient;
}
