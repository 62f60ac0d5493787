import { randomUUID } from 'node:crypto';
import type { Queryable } from '@kantoor/database';

export interface NotificationIntent {
  eventId: string;
  kind: string;
  firmId: string;
  dossierId?: string;
  recipient: string;
  language: string;
  data: Record<string, unknown>;
}

/** Records the intent to send before anything is sent; the unique key makes a second intent impossible. */
export async function queueNotification(tx: Queryable, intent: NotificationIntent): Promise<void> {
  await tx.query(
    `INSERT INTO notification (id, event_id, kind, firm_id, dossier_id, recipient, language, data)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id, kind, recipient) DO NOTHING`,
    [
      randomUUID(),
      intent.eventId,
      intent.kind,
      intent.firmId,
      intent.dossierId ?? null,
      intent.recipient,
      intent.language,
      JSON.stringify(intent.data),
    ],
  );
}
