/**
 * The directory's paged lists through the gateway (staff groups, a dossier's portal users): the real directory
 * on PGlite, the real access policy, HTTP in and out. `pageSize` and `cursor` in, `nextCursor` out.
 */
import request from 'supertest';
import type { Caller } from '@kantoor/grpc';
import type { TestDatabase } from '@kantoor/testing';
import { belgianNumber, startDirectory, type DirectoryFixture } from '../../services/directory/test/directory-fixture';
import { authorizeWithPolicy, directoryAccessFacts, routeTable } from '../src';
import { bearer, openMigratedDatabase, problemType, testApp } from './helpers';

let fx: DirectoryFixture;
let gatewayDb: TestDatabase;
let app: ReturnType<typeof testApp>['app'];
let admin: Caller;
let dossierId: string;

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
  for (const name of ['Team E', 'team a', 'Team D', 'Team B', 'team c'])
    await fx.directory.createStaffGroup({ name, memberIds: [] }, { caller: admin });
  const { dossier } = await fx.directory.createDossier(
    { name: 'Bakkerij', country: 'BE', enterpriseNumber: belgianNumber(4242), language: 'nl' },
    { caller: admin },
  );
  dossierId = dossier!.id;
  await fx.directory.activateDossier({ dossierId, fileManagerId: admin.subjectId }, { caller: admin });
  for (const name of ['Wim', 'An', 'Els', 'Bart', 'Jo'])
    await fx.directory.addPortalUser(
      { dossierId, email: `${name.toLowerCase()}@client.example`, name },
      { caller: admin },
    );
}, 60_000);

afterAll(async () => {
  await gatewayDb?.dispose();
  await fx?.stop();
});

/** Every page of a list, following nextCursor; the names in the order they came. */
async function pagesOf(path: string, items: string, pageSize: number): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor = '';
  do {
    const query = cursor ? { pageSize, cursor } : { pageSize };
    const response = await request(app).get(path).query(query).set('authorization', bearer(admin));
    expect(response.status).toBe(200);
    pages.push(response.body[items].map((item: { name: string }) => item.name));
    cursor = response.body.nextCursor;
  } while (cursor && pages.length < 20);
  return pages;
}

describe.each([
  ['/v1/staff-groups', 'staffGroups', ['team a', 'Team B', 'team c', 'Team D', 'Team E']],
  ['/v1/dossiers/{dossierId}/portal-users', 'portalUsers', ['An', 'Bart', 'Els', 'Jo', 'Wim']],
])('GET %s', (template, items, names) => {
  const path = () => template.replace('{dossierId}', dossierId);

  test('pages through every item once, by name, with an empty nextCursor on the last page', async () => {
    expect(await pagesOf(path(), items, 2)).toEqual([names.slice(0, 2), names.slice(2, 4), names.slice(4)]);
  });

  test('without pageSize the first 50 come in one page', async () => {
    const response = await request(app).get(path()).set('authorization', bearer(admin));
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ [items]: expect.any(Array), nextCursor: '' });
    expect(response.body[items].map((item: { name: string }) => item.name)).toEqual(names);
  });

  test('a pageSize outside 1 to 200 is refused with 400', async () => {
    for (const pageSize of ['0', '201', 'many']) {
      const response = await request(app).get(path()).query({ pageSize }).set('authorization', bearer(admin));
      expect(response.status).toBe(400);
      expect(response.body.type).toBe(problemType('validation-failed'));
    }
  });

  test('a cursor the directory did not give out is refused with 400', async () => {
    const response = await request(app)
      .get(path())
      .query({ cursor: 'not-a-cursor' })
      .set('authorization', bearer(admin));
    expect(response.status).toBe(400);
    expect(response.body.type).toBe(problemType('invalid-cursor'));
  });
});
