import { startEmbeddedServices, type EmbeddedServices } from '@kantoor/embedded';
import { createServiceClient, type Caller } from '@kantoor/grpc';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import { eventually, temporaryFolder } from '@kantoor/testing';

describe('embedded platform: every service in one process', () => {
  let platform: EmbeddedServices;
  let folder: { path: string; remove(): Promise<void> };

  beforeAll(async () => {
    folder = await temporaryFolder();
    platform = await startEmbeddedServices({ dataDir: folder.path, basePort: 0, inMemory: true, logLevel: 'silent' });
  }, 60_000);
  afterAll(async () => {
    await platform?.stop();
    await folder?.remove();
  });

  test('a staff invitation in the directory becomes exactly one activation notification', async () => {
    const admin: Caller = { kind: 'staff', subjectId: 'x', firmId: platform.demo.firmId, role: 'admin', scopes: [] };
    const login = await createServiceClient(DirectoryService, platform.addresses.directory).verifyPassword(
      { email: platform.demo.email, password: platform.demo.password },
      { caller: { kind: 'system', subjectId: 'gateway', firmId: '', scopes: [] } },
    );
    admin.subjectId = login.subjectId;
    const directory = createServiceClient(DirectoryService, platform.addresses.directory);
    const { staff } = await directory.inviteStaff(
      { name: 'Els Janssens', email: 'els@demo.example', role: 'employee' },
      { caller: admin },
    );
    const notification = platform.services.get('notification')!;
    const rows = await eventually(
      async () =>
        (await notification.db.query(`SELECT recipient FROM notification WHERE data->>'staffId' = $1`, [staff!.id]))
          .rows,
      (found) => found.length > 0,
    );
    expect(rows).toEqual([{ recipient: 'els@demo.example' }]);
    directory.close();
  });
});
