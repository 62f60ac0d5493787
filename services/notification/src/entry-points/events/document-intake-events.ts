/**
 * Mails caused by document intake: the signed download link a staff member asked to receive. The link is a
 * credential, so it travels sealed (a secret) and is opened only to render the mail.
 */
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { handlerFor, injectTraceHeaders, type EventHandlers } from '@kantoor/events';
import { DownloadLinkRequestedSchema } from '@kantoor/proto/kantoor/document_intake/v1/events_pb';
import { findFirmProfile } from '../../data-access/firm-repository';
import { queueNotification } from '../../data-access/notification-repository';
import { planIntent } from '../../domain/notification-intent';
import type { IntentContext } from './directory-events';

export function documentIntakeEventHandlers(context: IntentContext): EventHandlers {
  return handlerFor(DownloadLinkRequestedSchema, async ({ envelope, payload, tx }) => {
    const firm = await findFirmProfile(tx, payload.firmId);
    await queueNotification(
      tx,
      planIntent(
        {
          eventId: envelope.id,
          kind: 'download_link',
          firmId: payload.firmId,
          dossierId: payload.dossierId,
          to: { email: payload.recipientEmail },
          languages: [firm?.language],
          data: {
            dossierName: payload.dossierName,
            dossierCode: payload.dossierCode,
            documentCount: payload.documentCount,
            expiresAt: payload.expiresAt ? timestampDate(payload.expiresAt).toISOString() : undefined,
          },
          secrets: { downloadUrl: payload.link },
        },
        context,
      ),
      injectTraceHeaders().traceparent,
    );
  });
}
