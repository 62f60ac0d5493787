import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { Caller } from '@kantoor/grpc';
import type { ObjectStore } from '@kantoor/object-storage';
import {
  adminCaller,
  collect,
  dossierId,
  employeeCaller,
  eventually,
  firmId,
  secondFirmAdmin,
  secondFirmId,
  startArchive,
  storeInIntake,
  systemCaller,
  type Harness,
} from './archive-harness';
import { findBackupFile } from '../src/data-access/backup-file-repository';
import { PURGE_JOB, purgeBackupFile } from '../src/domain/purge';

const backupService: Caller = { kind: 'system', subjectId: 'backup', firmId: '', scopes: [] };
const portalUser: Caller = { kind: 'portal_user', subjectId: 'client-1', firmId, scopes: [] };
const DAY = 24 * 3600_000;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

let h: Harness;
let backupStore: ObjectStore;
beforeEach(async () => {
  h = await startArchive();
  backupStore = await h.platform.openObjectStore('backup');
});
afterEach(() => h.close());

/** What the backup service does: writes the ZIP to its own store, then hands it to the archive. */
async function handOver(file: {
  key?: string;
  bytes?: Buffer;
  firm?: string;
  kind?: string;
  backupDate?: string;
  retainUntil?: Date;
  announcedSha256?: string;
}) {
  const key = file.key ?? `accounts/acc-1/${randomUUID()}.zip`;
  const bytes = file.bytes ?? Buffer.from(`PK backup ${key}`);
  await backupStore.put(key, bytes, { contentType: 'application/zip' });
  const backupDate = file.backupDate ?? '2026-12-01';
  return h.client.archiveBackupFile(
    {
      file: {
        firmId: file.firm ?? firmId,
        key,
        sha256: file.announcedSha256 ?? sha256(bytes),
        kind: file.kind ?? 'daily',
        backupDate,
        fileName: `backup-${backupDate}.zip`,
        accountId: 'acc-1',
        retainUntil: timestampFromDate(file.retainUntil ?? new Date(Date.now() + 30 * DAY)),
      },
    },
    { caller: backupService },
  );
}

const keyOf = async (backupFileId: string) =>
  (await h.service.db.query<{ key: string }>('SELECT key FROM backup_file WHERE id = $1', [backupFileId])).rows[0].key;

/** Where the folder store keeps an archived object: its file, named after the last segment of its key. */
const fileOf = (key: string) => {
  const segments = key.split('/');
  const last = segments.pop()!;
  return path.join(
    h.dataDir,
    'objects',
    'kantoor-archive',
    ...segments,
    `@${createHash('sha256').update(last).digest('hex')}.object`,
  );
};

describe('backup files in the archive (folder store)', () => {
  test('a backup file is locked until its own date: no overwrite, deletion or shortening before it, by any way', async () => {
    const retainUntil = new Date(Date.now() + 30 * DAY);
    const bytes = Buffer.from('PK dagelijkse back-up van 1 december');
    const answer = await handOver({ bytes, retainUntil, key: 'accounts/acc-1/2026-12-01.zip' });
    expect(answer).toMatchObject({
      created: true,
      archived: {
        firmId,
        kind: 'daily',
        backupDate: '2026-12-01',
        fileName: 'backup-2026-12-01.zip',
        sha256: sha256(bytes),
        size: BigInt(bytes.length),
        status: 'archived',
        legalHold: false,
      },
    });
    // its own date, not the firm's 7 years from the end of the year
    expect(timestampDate(answer.archived!.retainUntil!)).toEqual(retainUntil);
    const key = await keyOf(answer.archived!.id);
    expect(await h.archiveStore.stat(key)).toMatchObject({ retainUntil });

    await expect(h.archiveStore.delete(key)).rejects.toMatchObject({ reason: 'object_retained' });
    await expect(h.archiveStore.put(key, Buffer.from('PK vervalst'))).rejects.toMatchObject({
      reason: 'object_retained',
    });
    await expect(h.archiveStore.setRetention(key, new Date(Date.now() + DAY))).rejects.toMatchObject({
      reason: 'object_retained',
    });
    expect((await h.client.runPurge({}, { caller: systemCaller })).purged).toBe(0);
    const download = await collect(
      h.client.downloadBackupFile({ backupFileId: answer.archived!.id }, { caller: adminCaller }),
    );
    expect(download.bytes).toEqual(bytes);
    expect(download.info).toMatchObject({ fileName: 'backup-2026-12-01.zip', sha256: sha256(bytes) });
  });

  test('handing the same file over again answers the same record; other bytes under that key are refused and change nothing', async () => {
    const first = Buffer.from('PK back-up 2026-12-02');
    const other = Buffer.from('PK back-up 2026-12-02, opnieuw gemaakt');
    const key = 'accounts/acc-1/2026-12-02.zip';
    const once = await handOver({ key, bytes: first });
    const again = await handOver({ key, bytes: first });
    expect(again).toMatchObject({ created: false, archived: { id: once.archived!.id, sha256: sha256(first) } });

    await expect(handOver({ key, bytes: other })).rejects.toMatchObject({
      kind: 'failed_precondition',
      reason: 'archived_object_differs',
      message: expect.stringMatching(new RegExp(`${sha256(first)}.*${sha256(other)}`)),
    });
    // bytes unlike the announced checksum are never archived at all
    await expect(
      handOver({ key: 'accounts/acc-1/corrupt.zip', bytes: other, announcedSha256: sha256(first) }),
    ).rejects.toMatchObject({ reason: 'checksum_mismatch' });
    const { rows } = await h.service.db.query<{ source_key: string; sha256: string }>(
      'SELECT source_key, sha256 FROM backup_file ORDER BY id',
    );
    expect(rows).toEqual([{ source_key: key, sha256: sha256(first) }]);
    const download = await collect(
      h.client.downloadBackupFile({ firmId, backupFileId: once.archived!.id }, { caller: backupService }),
    );
    expect(download.bytes).toEqual(first);
    // the same key of another firm is another file
    expect((await handOver({ key, bytes: other, firm: secondFirmId })).created).toBe(true);
  });

  test("a firm's backup files are listed newest first, page by page, to its admins and the platform, never to others", async () => {
    const made = [];
    for (const [backupDate, kind] of [
      ['2026-11-30', 'monthly'],
      ['2026-12-02', 'daily'],
      ['2026-12-01', 'daily'],
      ['2026-12-03', 'manual'],
    ])
      made.push((await handOver({ backupDate, kind })).archived!);
    const ofB = (await handOver({ firm: secondFirmId, backupDate: '2026-12-03' })).archived!;

    const dates = async (request: Record<string, unknown>, caller: Caller = adminCaller) =>
      (await h.client.listBackupFiles(request, { caller })).files.map((file) => `${file.backupDate} ${file.kind}`);
    expect(await dates({})).toEqual([
      '2026-12-03 manual',
      '2026-12-02 daily',
      '2026-12-01 daily',
      '2026-11-30 monthly',
    ]);
    expect(await dates({ kind: 'daily' })).toEqual(['2026-12-02 daily', '2026-12-01 daily']);
    const page1 = await h.client.listBackupFiles({ pageSize: 3 }, { caller: adminCaller });
    expect(page1.files).toHaveLength(3);
    const page2 = await h.client.listBackupFiles({ pageSize: 3, cursor: page1.nextCursor }, { caller: adminCaller });
    expect(page2.files.map((file) => file.backupDate)).toEqual(['2026-11-30']);
    expect(page2.nextCursor).toBe('');
    expect(await dates({}, secondFirmAdmin)).toEqual(['2026-12-03 daily']);
    expect(await dates({ firmId: secondFirmId }, backupService)).toEqual(['2026-12-03 daily']);

    // another firm's admin: neither the list nor a file of the first firm
    await expect(h.client.listBackupFiles({ firmId }, { caller: secondFirmAdmin })).rejects.toMatchObject({
      kind: 'permission_denied',
      reason: 'other_firm',
    });
    await expect(
      collect(h.client.downloadBackupFile({ backupFileId: made[0].id }, { caller: secondFirmAdmin })),
    ).rejects.toMatchObject({ kind: 'not_found' });
    await expect(
      collect(h.client.downloadBackupFile({ backupFileId: ofB.id }, { caller: adminCaller })),
    ).rejects.toMatchObject({ kind: 'not_found' });
    // staff who are no admins, portal users: refused
    await expect(h.client.listBackupFiles({}, { caller: employeeCaller })).rejects.toMatchObject({
      reason: 'admin_required',
    });
    await expect(h.client.listBackupFiles({}, { caller: portalUser })).rejects.toMatchObject({
      kind: 'permission_denied',
    });
    await expect(
      collect(h.client.downloadBackupFile({ backupFileId: made[0].id }, { caller: portalUser })),
    ).rejects.toMatchObject({ kind: 'permission_denied' });
    // only the platform hands files over
    await expect(h.client.archiveBackupFile({ file: { firmId } }, { caller: adminCaller })).rejects.toMatchObject({
      reason: 'system_only',
    });
    // a retention already ended would archive an unlocked file
    await expect(handOver({ retainUntil: new Date(Date.now() - 1000) })).rejects.toMatchObject({
      kind: 'invalid_argument',
    });
  });

  test("backup files never show in a dossier's search, selection or complete archive", async () => {
    await storeInIntake(h, { name: 'Factuur' });
    await eventually(
      () => h.client.searchArchive({ filter: { dossierId, deleted: 'all' } }, { caller: employeeCaller }),
      (answer) => answer.documents.length === 1,
    );
    const backup = Buffer.from('PK back-up met een herkenbare inhoud 7f3a');
    await handOver({ bytes: backup });

    const search = await h.client.searchArchive({ filter: { dossierId, deleted: 'all' } }, { caller: employeeCaller });
    expect(search.documents.map((doc) => doc.name)).toEqual(['Factuur']);
    const zip = await collect(h.client.downloadDossierArchive({ dossierId }, { caller: employeeCaller }));
    const zipPath = path.join(h.dataDir, 'dossier.zip');
    await writeFile(zipPath, zip.bytes);
    expect(execFileSync('unzip', ['-Z1', zipPath]).toString().trim().split('\n').sort()).toEqual(
      ['Aankoop-pdf/Factuur.pdf', 'manifest.csv', 'manifest.json'].sort(),
    );
    expect(zip.bytes.includes(backup)).toBe(false);
    const selection = await collect(h.client.downloadSelection({ filter: { dossierId } }, { caller: employeeCaller }));
    await writeFile(zipPath, selection.bytes);
    expect(execFileSync('unzip', ['-Z1', zipPath]).toString().trim().split('\n')).toEqual(['Aankoop-pdf/Factuur.pdf']);
  });

  test('verification reports a backup file changed or removed behind the service, to its own firm only', async () => {
    const changed = (await handOver({ bytes: Buffer.from('PK te wijzigen back-up') })).archived!;
    const removed = (await handOver({ bytes: Buffer.from('PK te verwijderen back-up') })).archived!;
    await handOver({ bytes: Buffer.from('PK intacte back-up') });
    await handOver({ firm: secondFirmId });
    expect((await h.client.runVerification({}, { caller: systemCaller })).run).toMatchObject({
      checked: 4,
      findings: [],
    });

    const changedFile = fileOf(await keyOf(changed.id));
    const bytes = await readFile(changedFile);
    await writeFile(changedFile, Buffer.concat([Buffer.from('XX'), bytes.subarray(2)]));
    await rm(fileOf(await keyOf(removed.id)));
    const run = (await h.client.runVerification({}, { caller: systemCaller })).run!;
    expect(run.checked).toBe(4);
    expect(run.findings.map((finding) => [finding.backupFileId, finding.problem, finding.objectId])).toEqual([
      [changed.id, 'mismatch', ''],
      [removed.id, 'missing', ''],
    ]);
    expect(run.findings[0]).toMatchObject({ expectedSha256: changed.sha256, key: await keyOf(changed.id) });
    expect(run.findings[0].actualSha256).not.toBe(changed.sha256);

    // the firm's admin sees their files' findings; the other firm sees its one file checked, nothing found
    const [seenByA] = (await h.client.listVerificationRuns({ limit: 1 }, { caller: adminCaller })).runs;
    expect(seenByA).toMatchObject({ id: run.id, checked: 3 });
    expect(seenByA.findings.map((finding) => finding.backupFileId)).toEqual([changed.id, removed.id]);
    const [seenByB] = (await h.client.listVerificationRuns({ limit: 1 }, { caller: secondFirmAdmin })).runs;
    expect(seenByB).toMatchObject({ id: run.id, checked: 1, findings: [] });
    // an admin's own run checks their firm's backup files too
    expect((await h.client.runVerification({}, { caller: adminCaller })).run).toMatchObject({ checked: 3 });
  });

  test('purge removes a backup file once its own date has passed, keeps one on legal hold, and keeps the record', async () => {
    const retainUntil = new Date(Date.now() + 1500);
    const expiring = (await handOver({ retainUntil, kind: 'daily', backupDate: '2026-12-01' })).archived!;
    const held = (await handOver({ retainUntil, kind: 'monthly', backupDate: '2026-11-30' })).archived!;
    const kept = (await handOver({ backupDate: '2026-12-02' })).archived!;
    // a document archived beside them keeps the firm's 7 years
    await storeInIntake(h, { name: 'Factuur' });
    await eventually(
      async () => (await h.service.db.query('SELECT 1 FROM archive_object')).rows.length,
      (count) => count === 1,
    );
    await expect(
      h.client.setBackupFileLegalHold(
        { backupFileId: held.id, hold: true, reason: 'betwisting' },
        { caller: employeeCaller },
      ),
    ).rejects.toMatchObject({ reason: 'admin_required' });
    await expect(
      h.client.setBackupFileLegalHold(
        { backupFileId: held.id, hold: true, reason: 'betwisting' },
        { caller: secondFirmAdmin },
      ),
    ).rejects.toMatchObject({ kind: 'not_found' });
    const hold = await h.client.setBackupFileLegalHold(
      { backupFileId: held.id, hold: true, reason: 'betwisting' },
      { caller: adminCaller },
    );
    expect(hold.file).toMatchObject({ id: held.id, legalHold: true });
    expect((await h.client.runPurge({}, { caller: systemCaller })).purged).toBe(0);

    await new Promise((resolve) => setTimeout(resolve, retainUntil.getTime() - Date.now() + 50));
    const purge = await h.client.runPurge({}, { caller: systemCaller });
    expect(purge.records).toEqual([
      expect.objectContaining({
        backupFileId: expiring.id,
        objectId: '',
        sha256: expiring.sha256,
        rule: `own retention of the daily backup of 2026-12-01: ended ${retainUntil.toISOString()}`,
      }),
    ]);
    expect(await h.archiveStore.stat(purge.records[0].key)).toBeNull();
    await expect(stat(fileOf(purge.records[0].key))).rejects.toMatchObject({ code: 'ENOENT' });
    // the held file stays, also against a direct store call, though its date has passed
    const heldKey = await keyOf(held.id);
    await expect(h.archiveStore.delete(heldKey)).rejects.toMatchObject({ reason: 'object_retained' });
    await expect(
      collect(h.client.downloadBackupFile({ backupFileId: expiring.id }, { caller: adminCaller })),
    ).rejects.toMatchObject({ reason: 'object_purged' });

    const listed = async (includePurged: boolean) =>
      (await h.client.listBackupFiles({ includePurged }, { caller: adminCaller })).files.map((file) => [
        file.id,
        file.status,
        file.purgeRule,
      ]);
    expect(await listed(false)).toEqual([
      [kept.id, 'archived', ''],
      [held.id, 'archived', ''],
    ]);
    expect(await listed(true)).toEqual([
      [kept.id, 'archived', ''],
      [expiring.id, 'purged', purge.records[0].rule],
      [held.id, 'archived', ''],
    ]);
    const audit = await h.service.db.query<{ actor_id: string; subject_id: string }>(
      `SELECT actor_id, subject_id FROM audit_log WHERE action = 'backup_file.purged'`,
    );
    expect(audit.rows).toEqual([{ actor_id: 'system:invoicing', subject_id: expiring.id }]);

    // released, the held file goes at the next purge; both records stay
    await h.client.setBackupFileLegalHold(
      { backupFileId: held.id, hold: false, reason: 'opgelost' },
      { caller: adminCaller },
    );
    expect((await h.client.runPurge({}, { caller: adminCaller })).records.map((r) => r.backupFileId)).toEqual([
      held.id,
    ]);
    const records = await h.service.db.query<{ backup_file_id: string }>(
      'SELECT backup_file_id::text AS backup_file_id FROM backup_file_purge_record ORDER BY backup_file_id',
    );
    expect(records.rows.map((row) => row.backup_file_id)).toEqual([expiring.id, held.id]);
    expect(await h.archiveStore.stat(await keyOf(kept.id))).not.toBeNull();
    expect((await h.service.db.query('SELECT 1 FROM archive_object WHERE purged_at IS NULL')).rows).toHaveLength(1);
  });

  test('the service itself refuses to purge a backup file before its date or under a hold, whatever the store allows', async () => {
    const early = (await handOver({})).archived!;
    const held = (await handOver({ retainUntil: new Date(Date.now() + 300) })).archived!;
    await h.client.setBackupFileLegalHold(
      { backupFileId: held.id, hold: true, reason: 'beslag' },
      { caller: adminCaller },
    );
    await new Promise((resolve) => setTimeout(resolve, 350));
    const deleted: string[] = [];
    const permissive = { ...h.archiveStore, delete: async (key: string) => void deleted.push(key) } as ObjectStore;
    const rowOf = async (id: string) => (await findBackupFile(h.service.db, id))!;
    await expect(
      purgeBackupFile(h.service.db, permissive, await rowOf(early.id), 'test', PURGE_JOB),
    ).rejects.toMatchObject({ reason: 'object_retained' });
    // a row read before the hold was set: the file is read again before it goes
    const stale = { ...(await rowOf(held.id)), legal_hold: false };
    await expect(purgeBackupFile(h.service.db, permissive, stale, 'test', PURGE_JOB)).rejects.toMatchObject({
      reason: 'object_retained',
      message: expect.stringContaining('legal hold'),
    });
    expect(deleted).toEqual([]);
    expect((await rowOf(held.id)).purged_at).toBeNull();
  });
});
