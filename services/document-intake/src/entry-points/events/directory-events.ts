import { handlerFor, type EventHandlers } from '@kantoor/events';
import { FirmRegisteredSchema } from '@kantoor/proto/kantoor/directory/v1/events_pb';

/** The SMTP endpoint looks intake domains up among the firms it knows; registering a firm makes it known. */
export const directoryEventHandlers = (): EventHandlers => ({
  ...handlerFor(FirmRegisteredSchema, async ({ payload, tx }) => {
    await tx.query('INSERT INTO known_firm (firm_id) VALUES ($1) ON CONFLICT DO NOTHING', [payload.firmId]);
  }),
});
