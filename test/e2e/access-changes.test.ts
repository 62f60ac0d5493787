import { startEmbeddedPlatform, type EmbeddedPlatform } from '@kantoor/embedded';
import { createServiceClient, type ServiceClient } from '@kantoor/grpc';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import { eventually, temporaryFolder } from '@kantoor/testing';
import { activateFromMail, call, login } from './helpers';

/** The gateway keeps the directory's access facts; an access change must still count from the next request. */
describe('access changes through the embedded gateway', () => {
  let platform: EmbeddedPlatform;
  let folder: { path: string; remove(): Promise<void> };
  let directory: ServiceClient<typeof DirectoryService>;
  let admin: string;
  let adminId: string;
  let employee: string;
  let employeeId: string;

  const belgianNumber = (i: number) => {
    const base = `0${String(1_000_000 + i).slice(-7)}`;
    return base + String(97 - (Number(base) % 97)).padStart(2, '0');
  };

  async function dossierWithCollaborator(i: number): Promise<string> {
    const created = await call(platform.url, admin, 'POST', '/v1/dossiers', {
      name: `Bakkerij ${i}`,
      country: 'BE',
      enterpriseNumber: belgianNumber(i),
      language: 'nl',
    });
    expect(created.status).toBe(201);
    const dossierId = created.body.id as string;
    expect(
      (await call(platform.url, admin, 'POST', `/v1/dossiers/${dossierId}/activation`, { fileManagerId: adminId }))
        .status,
    ).toBe(200);
    const assigned = await call(platform.url, admin, 'PUT', `/v1/dossiers/${dossierId}/assignments`, {
      collaboratorStaffIds: [employeeId],
    });
    expect(assigned.status).toBe(200);
    return dossierId;
  }

  beforeAll(async () => {
    folder = await temporaryFolder();
    platform = await startEmbeddedPlatform({
      dataDir: folder.path,
      port: 0,
      grpcBasePort: 0,
      smtpSinkPort: 0,
      logLevel: 'silent',
      inMemory: true,
    });
    directory = createServiceClient(DirectoryService, platform.addresses.directory);
    admin = await login(platform.url, platform.demo.email, platform.demo.password);
    adminId = (await call(platform.url, admin, 'GET', '/v1/me')).body.id;

    const invited = await call(platform.url, admin, 'POST', '/v1/staff', {
      name: 'Els Janssens',
      email: 'els@demo.example',
      role: 'employee',
    });
    employeeId = invited.body.id;
    // the invited colleague follows the link in the activation mail
    expect(
      await activateFromMail(
        platform.url,
        admin,
        'els@demo.example',
        '/v1/activations/staff',
        'a long enough password 1',
      ),
    ).toBe(200);
    employee = await login(platform.url, 'els@demo.example', 'a long enough password 1');
  }, 90_000);
  afterAll(async () => {
    directory?.close();
    await platform?.stop();
    await folder?.remove();
  });

  test('a staff member taken off a dossier is refused on the very next request', async () => {
    const dossierId = await dossierWithCollaborator(1);
    for (let i = 0; i < 3; i++)
      expect((await call(platform.url, employee, 'GET', `/v1/dossiers/${dossierId}`)).status).toBe(200);

    const unassigned = await call(platform.url, admin, 'PUT', `/v1/dossiers/${dossierId}/assignments`, {
      collaboratorStaffIds: [],
    });
    expect(unassigned.status).toBe(200);

    const refused = await call(platform.url, employee, 'GET', `/v1/dossiers/${dossierId}`);
    expect(refused.status).toBe(403);
    expect(refused.body.type).toMatch(/not-assigned$/);
  });

  test('a change made beside the gateway reaches it through the directory events', async () => {
    const dossierId = await dossierWithCollaborator(2);
    expect((await call(platform.url, employee, 'GET', `/v1/dossiers/${dossierId}`)).status).toBe(200);

    // straight to the directory as the admin, as another gateway replica would: only the event tells this one
    const firmId = platform.demo.firmId;
    await directory.assignDossier(
      { dossierId, collaboratorStaffIds: { ids: [] } },
      { caller: { kind: 'staff', subjectId: adminId, firmId, role: 'admin', scopes: [] } },
    );

    const status = await eventually(
      async () => (await call(platform.url, employee, 'GET', `/v1/dossiers/${dossierId}`)).status,
      (answered) => answered === 403,
      5_000,
    );
    expect(status).toBe(403);
  });

  test('a staff member removed from the firm is refused on the very next request', async () => {
    expect((await call(platform.url, employee, 'GET', '/v1/firm')).status).toBe(200);
    expect((await call(platform.url, admin, 'DELETE', `/v1/staff/${employeeId}`)).status).toBe(204);
    const refused = await call(platform.url, employee, 'GET', '/v1/firm');
    expect(refused.status).toBe(403);
  });
});
