/** Intake log rows written straight into the database, at times a test chooses to the microsecond. */
import type { Queryable } from '@kantoor/database';

/** A file of the dossier refused at `receivedAt` (a `timestamptz` as text). */
export const refusedAt = (db: Queryable, ids: { id: string; firmId: string; dossierId: string }, receivedAt: string) =>
  db.query(
    `INSERT INTO refused_file (id, firm_id, dossier_id, file_name, channel, reason, message, received_at)
     VALUES ($1, $2, $3, $4, 'email', 'unsupported_type', 'not a PDF', $5::timestamptz)`,
    [ids.id, ids.firmId, ids.dossierId, `file ${ids.id.slice(-4)}.docx`, receivedAt],
  );
