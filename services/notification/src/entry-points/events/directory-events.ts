import { handlerFor, type EventHandlers } from '@kantoor/events';
import { FirmRegisteredSchema, StaffInvitedSchema } from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { queueNotification } from '../../data-access/notification-repository';

/** Activation e-mails for the first admin of a new firm and for every invited staff member. */
export const directoryEventHandlers: EventHandlers = {
  ...handlerFor(FirmRegisteredSchema, async ({ envelope, payload, tx }) => {
    await queueNotification(tx, {
      eventId: envelope.id,
      kind: 'staff_activation',
      firmId: payload.firmId,
      recipient: payload.adminEmail,
      language: payload.language,
      data: { staffId: payload.adminStaffId, name: payload.adminName, firmName: payload.name },
    });
  }),
  ...handlerFor(StaffInvitedSchema, async ({ envelope, payload, tx }) => {
    await queueNotification(tx, {
      eventId: envelope.id,
      kind: 'staff_activation',
      firmId: payload.firmId,
      recipient: payload.email,
      language: 'nl',
      data: { staffId: payload.staffId, name: payload.name, role: payload.role },
    });
  }),
};
