import { MinioObjectStore } from '@kantoor/object-storage';
import { startS3TestServer, type S3TestServer } from '../../../packages/object-storage/test/s3-test-server';
import {
  adminCaller,
  dossierId,
  employeeCaller,
  eventually,
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
