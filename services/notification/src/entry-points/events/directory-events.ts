/**
 * Mails caused by the directory: activation of staff and portal users, and the client-to-firm messages whose
 * recipient the directory found with the cascade when the client sent them. Each handler only records the
 * intent (in the consumer's inbox transaction); the delivery worker sends.
 */
import type { Timestamp } from '@bufbuild/protobuf/wkt';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { Queryable } from '@kantoor/database';
import { handlerFor, injectTraceHeaders, type EventHandlers } from '@kantoor/events';
import {
  AdditionalUserRequestedSchema,
  ClientMessageSentSchema,
  FirmRegisteredSchema,
  PortalUserAddedSchema,
  StaffInvitedSchema,
  VatDeclarationCompletedSchema,
  type Recipient,
} from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { cascadeSource } from '../../adapters/dossier-recipients';
import { findFirmProfile, saveFirmProfile } from '../../data-access/firm-repository';
import { queueNotification } from '../../data-access/notification-repository';
import { isLanguage } from '../../domain/message-kinds';
import { planIntent, type IntentRequest } from '../../domain/notification-intent';
import type { SecretBox } from '../../domain/secret-box';

export interface IntentContext {
  box: SecretBox;
  messageIdDomain: string;
}

const isoDate = (timestamp: Timestamp | undefined): string | undefined =>
  timestamp ? timestampDate(timestamp).toISOString() : undefined;

/** The directory resolved the cascade already; if an event came without a recipient the worker asks it. */
const cascadeTarget = (recipient: Recipient | undefined): IntentRequest['to'] =>
  recipient?.email ? { email: recipient.email, routedVia: cascadeSource(recipient.source) } : 'dossier_cascade';

export function directoryEventHandlers(context: IntentContext): EventHandlers {
  const queue = async (tx: Queryable, request: IntentRequest) => {
    // the firm's language is only the fallback: an event that names a language we write in needs no lookup
    // (one statement less in the consumer's transaction, which is serial per firm)
    const languages = request.languages.some(isLanguage)
      ? request.languages
      : [...request.languages, (await findFirmProfile(tx, request.firmId))?.language];
    await queueNotification(tx, planIntent({ ...request, languages }, context), injectTraceHeaders().traceparent);
  };
  return {
    ...handlerFor(FirmRegisteredSchema, async ({ envelope, payload, tx }) => {
      await saveFirmProfile(tx, {
        firmId: payload.firmId,
        name: payload.name,
        functionalEmail: payload.functionalEmail,
        language: payload.language,
      });
      // an admin who chose a password at registration (the embedded demo firm) has nothing to activate
      if (!payload.activationToken) return;
      await queue(tx, {
        eventId: envelope.id,
        kind: 'staff_activation',
        firmId: payload.firmId,
        to: { email: payload.adminEmail },
        languages: [payload.language],
        data: {
          staffId: payload.adminStaffId,
          name: payload.adminName,
          email: payload.adminEmail,
          role: 'admin',
          expiresAt: isoDate(payload.activationExpiresAt),
        },
        secrets: { activationToken: payload.activationToken },
      });
    }),
    ...handlerFor(StaffInvitedSchema, async ({ envelope, payload, tx }) => {
      await queue(tx, {
        eventId: envelope.id,
        kind: 'staff_activation',
        firmId: payload.firmId,
        to: { email: payload.email },
        languages: [payload.language],
        data: {
          staffId: payload.staffId,
          name: payload.name,
          email: payload.email,
          role: payload.role,
          expiresAt: isoDate(payload.activationExpiresAt),
        },
        secrets: { activationToken: payload.activationToken },
      });
    }),
    ...handlerFor(PortalUserAddedSchema, async ({ envelope, payload, tx }) => {
      const extended = payload.existingUser || !payload.activationToken;
      await queue(tx, {
        eventId: envelope.id,
        kind: extended ? 'portal_user_access_extended' : 'portal_user_activation',
        firmId: payload.firmId,
        dossierId: payload.dossierId,
        to: { email: payload.email },
        languages: [payload.language],
        data: {
          portalUserId: payload.portalUserId,
          name: payload.name,
          email: payload.email,
          dossierName: payload.dossierName,
          intakeAddresses: payload.intakeAddresses,
          expiresAt: isoDate(payload.activationExpiresAt),
        },
        secrets: extended ? undefined : { activationToken: payload.activationToken },
      });
    }),
    ...handlerFor(ClientMessageSentSchema, async ({ envelope, payload, tx }) => {
      await queue(tx, {
        eventId: envelope.id,
        kind: 'client_message',
        firmId: payload.firmId,
        dossierId: payload.dossierId,
        to: cascadeTarget(payload.recipient),
        languages: [payload.language],
        data: {
          dossierName: payload.dossierName,
          subject: payload.subject,
          body: payload.body,
          replyTo: payload.replyTo,
          sentBy: payload.sentBy?.id,
        },
      });
    }),
    ...handlerFor(VatDeclarationCompletedSchema, async ({ envelope, payload, tx }) => {
      await queue(tx, {
        eventId: envelope.id,
        kind: 'vat_declaration_complete',
        firmId: payload.firmId,
        dossierId: payload.dossierId,
        to: cascadeTarget(payload.recipient),
        languages: [payload.language],
        data: { dossierName: payload.dossierName, declaredBy: payload.declaredBy?.id },
      });
    }),
    ...handlerFor(AdditionalUserRequestedSchema, async ({ envelope, payload, tx }) => {
      await queue(tx, {
        eventId: envelope.id,
        kind: 'additional_user_request',
        firmId: payload.firmId,
        dossierId: payload.dossierId,
        to: cascadeTarget(payload.recipient),
        languages: [payload.language],
        data: {
          dossierName: payload.dossierName,
          requestedName: payload.requestedName,
          requestedEmail: payload.requestedEmail,
          note: payload.note,
          requestedBy: payload.requestedBy?.id,
        },
      });
    }),
  };
}
