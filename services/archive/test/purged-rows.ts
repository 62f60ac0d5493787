/** Archive rows (purges, verification runs) written straight into the database, at times a test chooses. */
import type { Queryable } from '@kantoor/database';

/**
 * A document of the dossier uploaded at `at` (a `timestamptz` as text), with one object purged at the same time
 * and its purge record; answers the object's id.
 */
export async function archivedAndPurged(
  db: Queryable,
  ids: { firmId: string; dossierId: string; documentId: string },
  at: string,
): Promise<string> {
  const { firmId, dossierId, documentId } = ids;
  await db.query(
    `INSERT INTO archive_document (firm_id, dossier_id, source, document_id, mailbox, name, channel, kind,
       document_date, uploaded_at)
     VALUES ($1, $2, 'document-intake', $3, 'purchase', $3, 'upload', 'pdf', '2026-12-03', $4::timestamptz)`,
    [firmId, dossierId, documentId, at],
  );
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO archive_object (source, document_id, firm_id, dossier_id, role, key, source_key, sha256, size,
       content_type, retain_until, retention_rule, purged_at)
     VALUES ('document-intake', $1, $2, $3, 'original', $1, $1, 'x', 1, 'application/pdf', $4::timestamptz, 'test',
       $4::timestamptz)
     RETURNING id::text AS id`,
    [documentId, firmId, dossierId, at],
  );
  await db.query(
    `INSERT INTO purge_record (object_id, firm_id, dossier_id, document_id, key, sha256, retain_until, purged_at, rule)
     VALUES ($1, $2, $3, $4, $4, 'x', $5::timestamptz, $5::timestamptz, 'test')`,
    [rows[0].id, firmId, dossierId, documentId, at],
  );
  return rows[0].id;
}

/** A finished verification run of the firm that started at `at` (a `timestamptz` as text); answers its id. */
export async function verificationRunAt(db: Queryable, firmId: string, at: string): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO verification_run (started_at, finished_at, sample, checked, firm_id)
     VALUES ($1::timestamptz, $1::timestamptz, 0, 0, $2) RETURNING id::text AS id`,
    [at, firmId],
  );
  return rows[0].id;
}
