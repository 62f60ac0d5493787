/** SQL of the backup files' tables (migration 0005); returns plain rows. */
import type { Queryable } from '@kantoor/database';

export interface BackupFileRow {
  id: string;
  firm_id: string;
  source: string;
  source_key: string;
  key: string;
  account_id: string;
  kind: string;
  backup_date: string;
  file_name: string;
  sha256: string;
  size: string;
  content_type: string;
  retain_until: Date;
  legal_hold: boolean;
  archived_at: Date;
  purged_at: Date | null;
  /** from its purge record, once purged */
  purge_rule: string | null;
}

export type NewBackupFile = Omit<BackupFileRow, 'id' | 'legal_hold' | 'archived_at' | 'purged_at' | 'purge_rule'> & {
  archived_by: string;
};

export interface BackupFilePurgeRecordRow {
  backup_file_id: string;
  firm_id: string;
  key: string;
  file_name: string;
  sha256: string;
  retain_until: Date;
  purged_at: Date;
  rule: string;
}

const COLUMNS = `f.id::text AS id, f.firm_id, f.source, f.source_key, f.key, f.account_id, f.kind,
  to_char(f.backup_date, 'YYYY-MM-DD') AS backup_date, f.file_name, f.sha256, f.size::text AS size, f.content_type,
  f.retain_until, f.legal_hold, f.archived_at, f.purged_at, p.rule AS purge_rule`;
const FROM = 'backup_file f LEFT JOIN backup_file_purge_record p ON p.backup_file_id = f.id';

export async function findBackupFile(db: Queryable, id: string): Promise<BackupFileRow | undefined> {
  if (!/^\d{1,18}$/.test(id)) return undefined;
  const { rows } = await db.query<BackupFileRow>(`SELECT ${COLUMNS} FROM ${FROM} WHERE f.id = $1`, [id]);
  return rows[0];
}

export async function findBackupFileBySource(
  db: Queryable,
  firmId: string,
  source: string,
  sourceKey: string,
): Promise<BackupFileRow | undefined> {
  const { rows } = await db.query<BackupFileRow>(
    `SELECT ${COLUMNS} FROM ${FROM} WHERE f.firm_id = $1 AND f.source = $2 AND f.source_key = $3`,
    [firmId, source, sourceKey],
  );
  return rows[0];
}

/** Records a backup file once; undefined when another call recorded the same (firm, source, key) first. */
export async function saveBackupFile(db: Queryable, file: NewBackupFile): Promise<BackupFileRow | undefined> {
  const { rows } = await db.query<BackupFileRow>(
    `WITH f AS (
       INSERT INTO backup_file (firm_id, source, source_key, key, account_id, kind, backup_date, file_name, sha256, size,
         content_type, retain_until, archived_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
       ON CONFLICT (firm_id, source, source_key) DO NOTHING RETURNING *)
     SELECT ${COLUMNS} FROM f LEFT JOIN backup_file_purge_record p ON false`,
    [
      file.firm_id,
      file.source,
      file.source_key,
      file.key,
      file.account_id,
      file.kind,
      file.backup_date,
      file.file_name,
      file.sha256,
      file.size,
      file.content_type,
      file.retain_until,
      file.archived_by,
    ],
  );
  return rows[0];
}

export interface BackupFileFilter {
  firmId: string;
  kind?: string;
  accountId?: string;
  includePurged: boolean;
}

export interface BackupFileCursor {
  backupDate: string;
  id: string;
}

/** One page of a firm's backup files, newest backup first; keyset pagination on (backup_date, id). */
export async function listBackupFiles(
  db: Queryable,
  filter: BackupFileFilter,
  limit: number,
  after?: BackupFileCursor,
): Promise<BackupFileRow[]> {
  const { rows } = await db.query<BackupFileRow>(
    `SELECT ${COLUMNS} FROM ${FROM}
     WHERE f.firm_id = $1 AND ($2::text IS NULL OR f.kind = $2) AND ($3::text IS NULL OR f.account_id = $3)
       AND ($4 OR f.purged_at IS NULL)
       AND ($5::date IS NULL OR (f.backup_date, f.id) < ($5::date, $6::bigint))
     ORDER BY f.backup_date DESC, f.id DESC LIMIT $7`,
    [
      filter.firmId,
      filter.kind ?? null,
      filter.accountId ?? null,
      filter.includePurged,
      after?.backupDate ?? null,
      after?.id ?? null,
      limit,
    ],
  );
  return rows;
}

export async function setBackupFileHold(db: Queryable, id: string, hold: boolean): Promise<void> {
  await db.query('UPDATE backup_file SET legal_hold = $2 WHERE id = $1', [id, hold]);
}

/** Marks a backup file purged and keeps its purge record (a record already there stays as it was). */
export async function recordBackupFilePurge(
  db: Queryable,
  file: BackupFileRow,
  rule: string,
  at: Date,
): Promise<BackupFilePurgeRecordRow> {
  await db.query('UPDATE backup_file SET purged_at = $2 WHERE id = $1', [file.id, at]);
  const { rows } = await db.query<BackupFilePurgeRecordRow>(
    `INSERT INTO backup_file_purge_record (backup_file_id, firm_id, key, file_name, sha256, retain_until, purged_at, rule)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (backup_file_id) DO UPDATE SET rule = backup_file_purge_record.rule
     RETURNING backup_file_id::text AS backup_file_id, firm_id, key, file_name, sha256, retain_until, purged_at, rule`,
    [file.id, file.firm_id, file.key, file.file_name, file.sha256, file.retain_until, at, rule],
  );
  return rows[0];
}

/** Backup files past their date, not held, not purged; `firmId` limits it to one firm. */
export async function purgeableBackupFiles(
  db: Queryable,
  now: Date,
  afterId: string,
  batch: number,
  firmId?: string,
): Promise<BackupFileRow[]> {
  const { rows } = await db.query<BackupFileRow>(
    `SELECT ${COLUMNS} FROM ${FROM}
     WHERE f.purged_at IS NULL AND f.retain_until <= $1 AND NOT f.legal_hold AND f.id > $2
       AND ($4::uuid IS NULL OR f.firm_id = $4)
     ORDER BY f.id LIMIT $3`,
    [now, afterId, batch, firmId ?? null],
  );
  return rows;
}
