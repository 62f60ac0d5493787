import type { Database } from '@kantoor/database';
import { notFound } from '@kantoor/errors';
import type { ObjectStore } from '@kantoor/object-storage';
import { audit, findObject } from '../data-access/archive-repository';
import { findBackupFile, setBackupFileHold, type BackupFileRow } from '../data-access/backup-file-repository';
import { actorId, type Actor } from './ports';

/**
 * A legal hold keeps objects past their retain-until date: on one object, or on a whole dossier (its objects
 * archived later included). The store holds them too, so no direct call to it can remove them.
 */
export async function setLegalHold(
  db: Database,
  store: ObjectStore,
  actor: Actor,
  request: { dossierId: string; objectId?: string; hold: boolean; reason: string },
): Promise<number> {
  const { dossierId, hold } = request;
  const by = actorId(actor);
  if (request.objectId) {
    const object = await findObject(db, request.objectId);
    if (!object || object.dossier_id !== dossierId || object.purged_at)
      throw notFound('No such archived object in this dossier.', { reason: 'object_not_found' });
    const { rows } = await db.query('SELECT 1 FROM dossier_legal_hold WHERE dossier_id = $1', [dossierId]);
    if (hold || rows.length === 0) await store.setLegalHold(object.key, hold);
    await db.transaction(async (tx) => {
      await tx.query('UPDATE archive_object SET legal_hold = $2 WHERE id = $1', [object.id, hold]);
      await audit(tx, {
        firmId: object.firm_id,
        dossierId,
        actorKind: actor.kind,
        actorId: by,
        action: hold ? 'legal_hold.set' : 'legal_hold.released',
        subjectId: object.id,
        details: { reason: request.reason },
      });
    });
    return 1;
  }
  // the hold is recorded first so that objects archived meanwhile are held at ingest
  await db.transaction(async (tx) => {
    if (hold)
      await tx.query(
        `INSERT INTO dossier_legal_hold (dossier_id, firm_id, reason, set_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (dossier_id) DO UPDATE SET reason = $3, set_by = $4, set_at = now()`,
        [dossierId, actor.firmId, request.reason, by],
      );
    else await tx.query('DELETE FROM dossier_legal_hold WHERE dossier_id = $1', [dossierId]);
    await audit(tx, {
      firmId: actor.firmId,
      dossierId,
      actorKind: actor.kind,
      actorId: by,
      action: hold ? 'dossier_legal_hold.set' : 'dossier_legal_hold.released',
      details: { reason: request.reason },
    });
  });
  let affected = 0;
  for (let afterId = '0'; ;) {
    const { rows } = await db.query<{ id: string; key: string; legal_hold: boolean }>(
      `SELECT id::text AS id, key, legal_hold FROM archive_object
       WHERE dossier_id = $1 AND purged_at IS NULL AND id > $2 ORDER BY id LIMIT 500`,
      [dossierId, afterId],
    );
    for (const object of rows) {
      // releasing the dossier keeps the objects held on their own
      if (!hold && object.legal_hold) continue;
      await store.setLegalHold(object.key, hold);
      affected++;
    }
    if (rows.length < 500) return affected;
    afterId = rows[rows.length - 1].id;
  }
}

/**
 * A legal hold on one backup file (of `firmId`): set in the store first, so that no direct call to it can remove
 * the file, then recorded and audited. A purged file, or one of another firm, is not found.
 */
export async function setBackupFileLegalHold(
  db: Database,
  store: ObjectStore,
  actor: Actor,
  request: { firmId: string; backupFileId: string; hold: boolean; reason: string },
): Promise<BackupFileRow> {
  const file = await findBackupFile(db, request.backupFileId);
  if (!file || file.firm_id !== request.firmId || file.purged_at)
    throw notFound('No such archived backup file in this firm.', { reason: 'backup_file_not_found' });
  await store.setLegalHold(file.key, request.hold);
  await db.transaction(async (tx) => {
    await setBackupFileHold(tx, file.id, request.hold);
    await audit(tx, {
      firmId: file.firm_id,
      actorKind: actor.kind,
      actorId: actorId(actor),
      action: request.hold ? 'backup_file_legal_hold.set' : 'backup_file_legal_hold.released',
      subjectId: file.id,
      details: { reason: request.reason, key: file.key },
    });
  });
  return { ...file, legal_hold: request.hold };
}
