import { createHash } from 'node:crypto';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { MinioObjectStore } from '@kantoor/object-storage';
import { startS3TestServer, type S3TestServer } from '../../../packages/object-storage/test/s3-test-server';
import {
  adminCaller,
  collect,
  dossierId,
  employeeCaller,
  eventually,
  firmId,
  startArchive,
  storeInIntake,
  systemCaller,
  type Harness,
} from './archive-harness';

let server: S3TestServer;
let h: Harness;
beforeAll(async () => {
  server = await startS3TestServer();
  h = await startArchive(async (_service, options) => {
    if (options?.bucket !== 'kantoor-archive') return undefined;
    const store = new MinioObjectStore({
      endPoint: server.endPoint,
      port: server.port,
      useSSL: false,
      accessKey: server.accessKey,
      secretKey: server.secretKey,
      bucket: 'kantoor-archive',
      objectLock: true,
    });
    await store.ensureBucket();
    return store;
  });
});
afterAll(async () => {
  await h.close();
  await server.close();
});

test('on MinIO (s3rver) the archive locks each object in COMPLIANCE mode and every early overwrite or deletion is refused', async () => {
  await storeInIntake(h, { name: 'Op MinIO', issueDate: '2026-02-01' });
  const { documents } = await eventually(
    () => h.client.searchArchive({ filter: { dossierId } }, { caller: employeeCaller }),
    (answer) => answer.documents.length === 1,
  );
  const object = documents[0].objects[0];
  const key = (await h.service.db.query<{ key: string }>('SELECT key FROM archive_object WHERE id = $1', [object.id]))
    .rows[0].key;
  // locked by the upload itself, which only completes once the bytes matched the event's SHA-256
  const upload = server.requests.find((request) => request.key === key && request.method === 'PUT');
  expect(upload?.headers).toMatchObject({
    'x-amz-object-lock-mode': 'COMPLIANCE',
    'x-amz-object-lock-retain-until-date': '2034-01-01T00:00:00.000Z',
  });
  expect(await h.archiveStore.stat(key)).toMatchObject({ retainUntil: new Date('2034-01-01T00:00:00.000Z') });

  await expect(
    h.client.deleteObject({ dossierId, objectId: object.id }, { caller: adminCaller }),
  ).rejects.toMatchObject({ reason: 'object_retained' });
  expect((await h.client.runPurge({}, { caller: systemCaller })).purged).toBe(0);
  await expect(h.archiveStore.delete(key)).rejects.toMatchObject({ reason: 'object_retained' });
  await expect(h.archiveStore.put(key, Buffer.from('forged'))).rejects.toMatchObject({ reason: 'object_retained' });
  const run = await h.client.runVerification({ sample: 0 }, { caller: systemCaller });
  expect(run.run).toMatchObject({ checked: 1, findings: [] });
});

test('on MinIO (s3rver) a backup file is locked in COMPLIANCE mode until its own date, and early changes are refused', async () => {
  const backupStore = await h.platform.openObjectStore('backup');
  const bytes = Buffer.from('PK back-up op MinIO');
  await backupStore.put('accounts/acc-1/2026-12-03.zip', bytes);
  const retainUntil = new Date(Date.now() + 30 * 24 * 3600_000);
  const handOver = () =>
    h.client.archiveBackupFile(
      {
        file: {
          firmId,
          key: 'accounts/acc-1/2026-12-03.zip',
          sha256: createHash('sha256').update(bytes).digest('hex'),
          kind: 'daily',
          backupDate: '2026-12-03',
          fileName: 'backup-2026-12-03.zip',
          retainUntil: timestampFromDate(retainUntil),
        },
      },
      { caller: systemCaller },
    );
  const { archived, created } = await handOver();
  expect(created).toBe(true);
  const key = (await h.service.db.query<{ key: string }>('SELECT key FROM backup_file WHERE id = $1', [archived!.id]))
    .rows[0].key;
  const upload = server.requests.find((request) => request.key === key && request.method === 'PUT');
  expect(upload?.headers).toMatchObject({
    'x-amz-object-lock-mode': 'COMPLIANCE',
    'x-amz-object-lock-retain-until-date': retainUntil.toISOString(),
  });
  await expect(h.archiveStore.delete(key)).rejects.toMatchObject({ reason: 'object_retained' });
  await expect(h.archiveStore.put(key, Buffer.from('PK vervalst'))).rejects.toMatchObject({
    reason: 'object_retained',
  });
  expect((await handOver()).created).toBe(false);
  expect((await h.client.runPurge({}, { caller: systemCaller })).records.map((r) => r.backupFileId)).not.toContain(
    archived!.id,
  );
  const download = await collect(h.client.downloadBackupFile({ backupFileId: archived!.id }, { caller: adminCaller }));
  expect(download.bytes).toEqual(bytes);
});
