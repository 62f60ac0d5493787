/**
 * The directory's paged lists through the gateway (staff, staff groups, client groups, a dossier's portal users): the real directory
 * on PGlite, the real access policy, HTTP in and out. `pageSize` and `cursor` in, `nextCursor` out.
 */
import request from 'supertest';
import type { Caller } from '@kantoor/grpc';
import type { TestDatabase } from '@kantoor/testing';
import { belgianNumber, startDirectory, type DirectoryFixture } from '../../services/directory/test/directory-fixture';
import { authorizeWithPolicy, directoryAccessFacts, routeTable } from '../src';
import { bearer, openMigratedDatabase, testApp } from './helpers';
import { everyPage, expectPagingRefusals, type PagedList } from './paged-list';

let fx: DirectoryFixture;
let gatewayDb: TestDatabase;
let app: ReturnType<typeof testApp>['app'];
let admin: Caller;
let dossierId: string;
/** the ids of what was created, by name */
const ids = new Map<string, string>();

beforeAll(async () => {
  fx = await startDirectory();
  gatewayDb = await openMigratedDatabase();
  ({ app } = testApp(
    {
      db: gatewayDb.db,
      services: { directory: fx.directory },
      authorize: authorizeWithPolicy(directoryAccessFacts(fx.directory)),
    },
    routeTable,
    { VALIDATE_RESPONSES: 'true' },
  ));
  admin = await fx.registerFirm();
  for (const name of ['Team E', 'team a', 'Team D', 'Team B', 'team c']) {
    const { staffGroup } = await fx.directory.createStaffGroup({ name, memberIds: [] }, { caller: admin });
    ids.set(name, staffGroup!.id);
  }
  ids.set('An Admin', admin.subjectId);
  for (const name of ['zoë', 'Dirk', 'bert', 'Anna', 'CHARLOTTE']) {
    const { staff } = await fx.directory.inviteStaff(
      { name, email: `${name.toLowerCase()}@firm.example`, role: 'employee' },
      { caller: admin },
    );
    ids.set(name, staff!.id);
  }
  await fx.directory.removeStaff({ staffId: ids.get('Anna')! }, { caller: admin });
  for (const name of ['Groep West', 'groep noord', 'Groep Zuid', 'groep oost']) {
    const { clientGroup } = await fx.directory.createClientGroup(
      { name, email: 'groep@firm.example', staffIds: [], staffGroupIds: [] },
      { caller: admin },
    );
    ids.set(name, clientGroup!.id);
  }
  const { dossier } = await fx.directory.createDossier(
    { name: 'Bakkerij', country: 'BE', enterpriseNumber: belgianNumber(4242), language: 'nl' },
    { caller: admin },
  );
  dossierId = dossier!.id;
  await fx.directory.activateDossier({ dossierId, fileManagerId: admin.subjectId }, { caller: admin });
  for (const name of ['Wim', 'An', 'Els', 'Bart', 'Jo']) {
    const { portalUser } = await fx.directory.addPortalUser(
      { dossierId, email: `${name.toLowerCase()}@client.example`, name },
      { caller: admin },
    );
    ids.set(name, portalUser!.id);
  }
}, 60_000);

afterAll(async () => {
  await gatewayDb?.dispose();
  await fx?.stop();
});

describe.each([
  // a removed staff member (Anna) is left out
  ['/v1/staff', 'staff', ['An Admin', 'bert', 'CHARLOTTE', 'Dirk', 'zoë']],
  ['/v1/staff-groups', 'staffGroups', ['team a', 'Team B', 'team c', 'Team D', 'Team E']],
  ['/v1/client-groups', 'clientGroups', ['groep noord', 'groep oost', 'Groep West', 'Groep Zuid']],
  ['/v1/dossiers/{dossierId}/portal-users', 'portalUsers', ['An', 'Bart', 'Els', 'Jo', 'Wim']],
])('GET %s', (template, items, names) => {
  const list = (): PagedList => ({
    app,
    path: template.replace('{dossierId}', dossierId),
    authorization: bearer(admin),
    items,
    idOf: (item) => item.id as string,
  });
  const inOrder = () => names.map((name) => ids.get(name));

  test('pages through every item once, by name whatever its case', async () => {
    for (const pageSize of [1, 2])
      expect(await everyPage(list(), pageSize)).toEqual({ ids: inOrder(), pages: Math.ceil(names.length / pageSize) });
  });

  test('without pageSize the first 50 come in one page, with an empty nextCursor', async () => {
    const response = await request(app).get(list().path).set('authorization', bearer(admin));
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ [items]: expect.any(Array), nextCursor: '' });
    expect(response.body[items].map((item: { id: string }) => item.id)).toEqual(inOrder());
  });

  test('a cursor it did not give out and a pageSize outside 1 to 200 are refused with 400', () =>
    expectPagingRefusals(list()));
});
