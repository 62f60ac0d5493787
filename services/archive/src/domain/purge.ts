import { decodeCursor, isPostgresTime, isSerialId, pageOfRows, type Database, type Queryable } from '@kantoor/database';
import { failedPrecondition } from '@kantoor/errors';
import type { ObjectStore } from '@kantoor/object-storage';
import { audit, findObject, type ObjectRow } from '../data-access/archive-repository';
import {
  findBackupFile,
  purgeableBackupFiles,
  recordBackupFilePurge,
  type BackupFilePurgeRecordRow,
  type BackupFileRow,
} from '../data-access/backup-file-repository';

export interface PurgeRecordRow {
  object_id: string;
  firm_id: string;
  dossier_id: string;
  document_id: string;
  key: string;
  sha256: string;
  retain_until: Date;
  purged_at: Date;
  rule: string;
}

/**
 * The write-once rule of one stored thing (an archived object, a backup file): nothing goes twice, nothing
 * before its retain-until date, nothing under a legal hold. `what` names it in the refusal, e.g. "Object 12".
 */
function refuseIfRetained(
  what: string,
  kept: { purged_at: Date | null; retain_until: Date; held: boolean },
  now: Date,
) {
  if (kept.purged_at) throw failedPrecondition(`${what} was purged already.`, { reason: 'already_purged' });
  if (kept.retain_until.getTime() > now.getTime())
    throw failedPrecondition(
      `${what} is retained until ${kept.retain_until.toISOString()} and cannot be deleted before.`,
      { reason: 'object_retained' },
    );
  if (kept.held)
    throw failedPrecondition(`${what} is under legal hold and cannot be deleted.`, { reason: 'object_retained' });
}

/**
 * The service's own write-once rule, checked before every deletion whatever the store does: nothing goes
 * before its retain-until date, nothing under a legal hold of its own or of its dossier.
 */
export async function refuseIfKept(db: Queryable, object: ObjectRow, now: Date): Promise<void> {
  const { rows } = object.legal_hold
    ? { rows: [] }
    : await db.query('SELECT 1 FROM dossier_legal_hold WHERE dossier_id = $1', [object.dossier_id]);
  refuseIfRetained(`Object ${object.id}`, { ...object, held: object.legal_hold || rows.length > 0 }, now);
}

/** Deletes the stored bytes; bytes gone already are a purge interrupted between the deletion and its record. */
async function deleteStored(store: ObjectStore, key: string): Promise<void> {
  try {
    await store.delete(key);
  } catch (error) {
    if ((error as { reason?: string }).reason !== 'object_not_found') throw error;
  }
}

/**
 * Purges, batch by batch, what `nextBatch` lists after the last id seen; one refused as kept since the batch was
 * read (a hold set meanwhile, purged by another run) is left, and the others go on.
 */
async function purgeInBatches<Row extends { id: string }, Record>(
  batch: number,
  nextBatch: (afterId: string) => Promise<Row[]>,
  purgeOne: (row: Row) => Promise<Record>,
): Promise<Record[]> {
  const records: Record[] = [];
  for (let afterId = '0'; ;) {
    const rows = await nextBatch(afterId);
    for (const row of rows) {
      try {
        records.push(await purgeOne(row));
      } catch (error) {
        if (!isRefusedAsKept(error)) throw error;
      }
    }
    if (rows.length < batch) return records;
    afterId = rows[rows.length - 1].id;
  }
}

/** Who deletes: the admin calling DeleteObject or RunPurge, or the platform's purge job; recorded in the audit log. */
export interface PurgeActor {
  kind: string;
  id: string;
}

export const PURGE_JOB: PurgeActor = { kind: 'system', id: 'system:archive-purge' };

/**
 * Deletes one object whose retention ended and keeps its purge record for ever, with an audit row naming who
 * deleted it. The object's row is read again first: a legal hold set since the caller read it still refuses.
 */
export async function purgeObject(
  db: Database,
  store: ObjectStore,
  object: ObjectRow,
  rule: string,
  by: PurgeActor,
  now = new Date(),
): Promise<PurgeRecordRow> {
  await refuseIfKept(db, (await findObject(db, object.id)) ?? object, now);
  await deleteStored(store, object.key);
  return db.transaction(async (tx) => {
    await tx.query('UPDATE archive_object SET purged_at = $2 WHERE id = $1', [object.id, now]);
    const { rows } = await tx.query<PurgeRecordRow>(
      `INSERT INTO purge_record (object_id, firm_id, dossier_id, document_id, key, sha256, retain_until, purged_at, rule)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (object_id) DO UPDATE SET rule = purge_record.rule
       RETURNING object_id::text AS object_id, firm_id, dossier_id, document_id, key, sha256, retain_until, purged_at, rule`,
      [
        object.id,
        object.firm_id,
        object.dossier_id,
        object.document_id,
        object.key,
        object.sha256,
        object.retain_until,
        now,
        rule,
      ],
    );
    await audit(tx, {
      firmId: object.firm_id,
      dossierId: object.dossier_id,
      actorKind: by.kind,
      actorId: by.id,
      action: 'archive_object.purged',
      subjectId: object.id,
      details: { key: object.key, sha256: object.sha256, rule },
    });
    return rows[0];
  });
}

const isRefusedAsKept = (error: unknown) =>
  ['object_retained', 'already_purged'].includes((error as { reason?: string }).reason ?? '');

/**
 * The purge job: every object past its date and without legal hold, in batches; `firmId` limits it to one firm.
 * An object held (or purged by another run) since the batch was read is left, and the job goes on with the others.
 */
export async function runPurge(
  db: Database,
  store: ObjectStore,
  by: PurgeActor,
  now = new Date(),
  batch = 500,
  firmId?: string,
) {
  return purgeInBatches(
    batch,
    async (afterId) =>
      (
        await db.query<ObjectRow>(
          `SELECT o.id::text AS id, o.source, o.document_id, o.firm_id, o.dossier_id, o.role, o.key, o.sha256, o.size::text AS size,
         o.content_type, o.retain_until, o.retention_rule, o.legal_hold, o.purged_at
       FROM archive_object o
       WHERE o.purged_at IS NULL AND o.retain_until <= $1 AND NOT o.legal_hold AND o.id > $2
         AND NOT EXISTS (SELECT 1 FROM dossier_legal_hold h WHERE h.dossier_id = o.dossier_id)
         AND ($4::uuid IS NULL OR o.firm_id = $4)
       ORDER BY o.id LIMIT $3`,
          [now, afterId, batch, firmId ?? null],
        )
      ).rows,
    (object) =>
      purgeObject(db, store, object, `${object.retention_rule}: ended ${object.retain_until.toISOString()}`, by, now),
  );
}

/**
 * One page of purge records, newest purge first; `nextCursor` (empty on the last page) holds the last record's
 * purge time as PostgreSQL writes it, with the microseconds a JavaScript Date would drop, and its object id.
 */
export async function purgeRecords(
  db: Queryable,
  filter: { dossierId?: string; firmId?: string },
  page: { pageSize: number; cursor?: string },
): Promise<{ records: PurgeRecordRow[]; nextCursor: string }> {
  const after = page.cursor ? decodeCursor(page.cursor, isPostgresTime, isSerialId) : undefined;
  const { rows } = await db.query<PurgeRecordRow & { position: string }>(
    `SELECT object_id::text AS object_id, firm_id, dossier_id, document_id, key, sha256, retain_until, purged_at, rule,
       purged_at::text AS position
     FROM purge_record WHERE ($1::uuid IS NULL OR dossier_id = $1) AND ($2::uuid IS NULL OR firm_id = $2)
       AND ($3::timestamptz IS NULL OR (purged_at, object_id) < ($3::timestamptz, $4::bigint))
     ORDER BY purged_at DESC, object_id DESC LIMIT $5`,
    [filter.dossierId ?? null, filter.firmId ?? null, after?.key ?? null, after?.id ?? null, page.pageSize + 1],
  );
  const { rows: records, nextCursor } = pageOfRows(rows, page.pageSize, (row) => [row.position, row.object_id]);
  return { records, nextCursor };
}

/** The write-once rule for a backup file: its own retain-until date and its own legal hold (it has no dossier). */
export function refuseIfBackupFileKept(file: BackupFileRow, now: Date): void {
  refuseIfRetained(`Backup file ${file.id}`, { ...file, held: file.legal_hold }, now);
}

/**
 * Deletes one backup file whose own retention ended and keeps its purge record for ever, with an audit row. Its
 * row is read again first: a hold set since the caller read it still refuses.
 */
export async function purgeBackupFile(
  db: Database,
  store: ObjectStore,
  file: BackupFileRow,
  rule: string,
  by: PurgeActor,
  now = new Date(),
): Promise<BackupFilePurgeRecordRow> {
  refuseIfBackupFileKept((await findBackupFile(db, file.id)) ?? file, now);
  await deleteStored(store, file.key);
  return db.transaction(async (tx) => {
    const record = await recordBackupFilePurge(tx, file, rule, now);
    await audit(tx, {
      firmId: file.firm_id,
      actorKind: by.kind,
      actorId: by.id,
      action: 'backup_file.purged',
      subjectId: file.id,
      details: { key: file.key, sha256: file.sha256, rule },
    });
    return record;
  });
}

/**
 * The purge job's part for backup files: every one past its own retain-until date (the date the backup service
 * gave, not the firm's policy) and without legal hold; `firmId` limits it to one firm. A file held since the
 * batch was read is left, and the job goes on with the others.
 */
export async function runBackupFilePurge(
  db: Database,
  store: ObjectStore,
  by: PurgeActor,
  now = new Date(),
  batch = 500,
  firmId?: string,
): Promise<BackupFilePurgeRecordRow[]> {
  return purgeInBatches(
    batch,
    (afterId) => purgeableBackupFiles(db, now, afterId, batch, firmId),
    (file) =>
      purgeBackupFile(
        db,
        store,
        file,
        `own retention of the ${file.kind} backup of ${file.backup_date}: ended ${file.retain_until.toISOString()}`,
        by,
        now,
      ),
  );
}
