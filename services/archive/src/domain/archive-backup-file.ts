import { createHash } from 'node:crypto';
import type { Queryable } from '@kantoor/database';
import { failedPrecondition } from '@kantoor/errors';
import {
  findBackupFileBySource,
  saveBackupFile,
  type BackupFileRow,
  type NewBackupFile,
} from '../data-access/backup-file-repository';
import type { ArchiveStores } from './ingest';
import { copyIntoArchive } from './write-once-copy';

export type IncomingBackupFile = Omit<NewBackupFile, 'key' | 'size'>;

/**
 * Where a backup file lives in the archive store: beside the firm's dossiers, under `backups/`, named after a
 * hash of its key in the source store (any text there), so that a hand-over repeated after a crash lands on the
 * same key and is found again by the write-once copy.
 */
export const backupFileKey = (file: { firm_id: string; source: string; source_key: string }) =>
  `${file.firm_id}/backups/${file.source}/${createHash('sha256').update(file.source_key).digest('hex')}`;

/** The same file handed over again is the same file only with the same bytes; archived files never change. */
function refuseOtherChecksum(known: BackupFileRow, announced: string) {
  if (announced.toLowerCase() === known.sha256) return;
  throw failedPrecondition(
    `Backup file "${known.source_key}" of firm ${known.firm_id} is archived with SHA-256 ${known.sha256}, ` +
      `not the announced ${announced}; archived files never change, so nothing was changed.`,
    { reason: 'archived_object_differs' },
  );
}

/**
 * Copies a backup file from its source store into the write-once store, locked until the retain-until date the
 * backup service chose, and records it. Idempotent per (firm, source, key): the same bytes again answer the
 * record made the first time, other bytes are refused and change nothing.
 */
export async function archiveBackupFile(
  db: Queryable,
  stores: ArchiveStores,
  file: IncomingBackupFile,
): Promise<{ file: BackupFileRow; created: boolean }> {
  const known = await findBackupFileBySource(db, file.firm_id, file.source, file.source_key);
  if (known) {
    refuseOtherChecksum(known, file.sha256);
    return { file: known, created: false };
  }
  const key = backupFileKey(file);
  const copied = await copyIntoArchive({
    from: await stores.sourceStore(file.source),
    fromKey: file.source_key,
    to: stores.archive,
    toKey: key,
    sha256: file.sha256,
    contentType: file.content_type,
    retainUntil: file.retain_until,
  });
  const saved = await saveBackupFile(db, { ...file, key, sha256: copied.sha256, size: String(copied.size) });
  if (saved) return { file: saved, created: true };
  // the same hand-over, recorded by a call running beside this one
  const other = await findBackupFileBySource(db, file.firm_id, file.source, file.source_key);
  refuseOtherChecksum(other!, file.sha256);
  return { file: other!, created: false };
}
