/**
 * The active clients monitor a page at a time, through the gateway over the real directory and intake: the
 * directory decides who sees which dossier and orders them by name, the intake which of them hold documents.
 * Dossiers the monitor does not show sit between those it shows, so a page that counted them would come short
 * or skip one.
 */
import request from 'supertest';
import type { Caller } from '@kantoor/grpc';
import { belgianNumber } from '../../services/directory/test/directory-fixture';
import { pdf, type IntakeHarness } from '../../services/document-intake/test/intake-harness';
import { bearer } from './helpers';
import { startIntakeGateway, type IntakeGateway } from './intake-gateway';
import { everyPage, expectPagingRefusals, type PagedList } from './paged-list';

let gateway: IntakeGateway;
let h: IntakeHarness;
/** the dossiers made here, by name */
const dossiers = new Map<string, string>();

/** name, then what it holds: documents in a mailbox, drafts or sent; none: the monitor never shows it */
const DOSSIERS: Array<[name: string, documents: Array<['purchase' | 'sales' | 'misc', 'draft' | 'sent']>]> = [
  ['Hotel Gent', [['purchase', 'draft']]],
  ['apotheek claes', [['misc', 'draft']]],
  ['Drukkerij Els', []],
  ['garage Fons', [['purchase', 'sent']]],
  ['Apotheek Claes', [['purchase', 'draft']]],
  ['Bakkerij Aerts', []],
  ['Cafe Noir', [['misc', 'draft']]],
  ['Brouwerij Dewitte', [['sales', 'sent']]],
];
/** what a support member is assigned to */
const SUPPORTED = ['apotheek claes', 'Bakkerij Aerts', 'garage Fons', 'Hotel Gent'];

beforeAll(async () => {
  gateway = await startIntakeGateway();
  h = gateway.h;
  let number = 7700;
  for (const [name, documents] of DOSSIERS) {
    const { dossier } = await h.fx.directory.createDossier(
      { name, country: 'BE', enterpriseNumber: belgianNumber(number++), language: 'nl' },
      { caller: h.admin },
    );
    const dossierId = dossier!.id;
    dossiers.set(name, dossierId);
    await h.fx.directory.activateDossier({ dossierId, fileManagerId: h.admin.subjectId }, { caller: h.admin });
    for (const [mailbox, status] of documents) {
      const stored = await request(gateway.app)
        .post(`/v1/dossiers/${dossierId}/documents`)
        .query({ mailbox })
        .set('authorization', bearer(h.admin))
        .set('content-type', 'application/pdf')
        .send(await pdf(1));
      expect(stored.status).toBe(201);
      if (status === 'sent') await h.client.sendDocuments({ documentIds: [stored.body.id] }, { caller: h.admin });
    }
  }
  for (const name of SUPPORTED)
    await h.fx.directory.assignDossier(
      { dossierId: dossiers.get(name)!, collaboratorStaffIds: { ids: [h.support.subjectId] } },
      { caller: h.admin },
    );
}, 60_000);

afterAll(() => gateway?.stop());

/**
 * The ids of the named dossiers as the monitor orders them: by name whatever its case, then by id (a UUID
 * compares as its text). The names differ in ASCII letters only, so that no collation orders them otherwise.
 */
const inOrder = (names: string[]) =>
  names
    .map((name) => ({ name: name.toLowerCase(), id: dossiers.get(name)! }))
    .sort((a, b) => (a.name === b.name ? (a.id < b.id ? -1 : 1) : a.name < b.name ? -1 : 1))
    .map((dossier) => dossier.id);

const monitor = (who: Caller, query: Record<string, string> = {}): PagedList => ({
  app: gateway.app,
  path: `/v1/active-clients?${new URLSearchParams(query)}`,
  authorization: bearer(who),
  items: 'clients',
  idOf: (client) => client.dossierId as string,
});

const withDocuments = DOSSIERS.filter(([, documents]) => documents.length > 0).map(([name]) => name);

describe.each([
  ['a staff member who sees every dossier', () => h.admin, {}, withDocuments],
  ['with a mailbox filter', () => h.admin, { mailbox: 'purchase' }, ['Apotheek Claes', 'garage Fons', 'Hotel Gent']],
  ['with documents waiting only', () => h.admin, { onlyWaiting: 'true' }, ['Brouwerij Dewitte', 'garage Fons']],
  ['with a search on the name', () => h.admin, { search: 'apotheek' }, ['Apotheek Claes', 'apotheek claes']],
  ['a support member', () => h.support, {}, ['apotheek claes', 'garage Fons', 'Hotel Gent']],
  ['a support member with a mailbox filter', () => h.support, { mailbox: 'purchase' }, ['garage Fons', 'Hotel Gent']],
])('the active clients monitor, %s', (_who, caller, query: Record<string, string>, names) => {
  test('lists every dossier it shows exactly once, by name, whatever the page size; no page comes short', async () => {
    for (const pageSize of [1, 2])
      expect(await everyPage(monitor(caller(), query), pageSize)).toEqual({
        ids: inOrder(names),
        pages: Math.ceil(names.length / pageSize),
      });
  });
});

test('a page keeps the properties the monitor had: name, every mailbox counted, the unsorted documents', async () => {
  const response = await request(gateway.app)
    .get('/v1/active-clients')
    .query({ pageSize: 1, onlyWaiting: 'true' })
    .set('authorization', bearer(h.admin));
  expect(response.status).toBe(200);
  expect(response.body).toEqual({
    clients: [
      {
        dossierId: dossiers.get('Brouwerij Dewitte'),
        dossierName: 'Brouwerij Dewitte',
        mailboxes: [
          { mailbox: 'purchase', notSent: 0, waiting: 0 },
          { mailbox: 'sales', notSent: 0, waiting: 1 },
          { mailbox: 'misc', notSent: 0, waiting: 0 },
        ],
        unsorted: 0,
      },
    ],
    nextCursor: expect.stringMatching(/.+/),
  });
});

test('without pageSize the monitor gives up to 50 dossiers, with an empty nextCursor after the last', async () => {
  const response = await request(gateway.app).get('/v1/active-clients').set('authorization', bearer(h.admin));
  expect(response.status).toBe(200);
  expect(response.body.clients.map((client: { dossierId: string }) => client.dossierId)).toEqual(
    inOrder(withDocuments),
  );
  expect(response.body.nextCursor).toBe('');
});

test('a cursor it did not give out and a pageSize outside 1 to 200 are refused with 400', () =>
  expectPagingRefusals(monitor(h.admin)));
