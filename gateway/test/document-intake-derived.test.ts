/**
 * Split and merge results through the gateway, with response validation on: a result keeps the channel its
 * document arrived by, one of the four the API names, so the answers and the lists holding results are valid.
 */
import request from 'supertest';
import { pdf, type IntakeHarness } from '../../services/document-intake/test/intake-harness';
import { bearer } from './helpers';
import { startIntakeGateway, type IntakeGateway } from './intake-gateway';

let h: IntakeHarness;
let app: IntakeGateway['app'];
let gateway: IntakeGateway;

beforeAll(async () => {
  gateway = await startIntakeGateway();
  ({ h, app } = gateway);
}, 60_000);

afterAll(() => gateway?.stop());

test('split and merge results keep the channel of their document; the answers and the list pass validation', async () => {
  const portal = bearer(h.portal);
  const scanned = await request(app)
    .post(`/v1/dossiers/${h.dossierId}/documents`)
    .query({ mailbox: 'purchase', channel: 'scan', fileName: 'gescand.pdf' })
    .set('authorization', portal)
    .set('content-type', 'application/pdf')
    .send(await pdf(3));
  expect(scanned.status).toBe(201);
  expect(scanned.body.channel).toBe('scan');

  const split = await request(app)
    .post(`/v1/dossiers/${h.dossierId}/documents/${scanned.body.id}/split`)
    .set('authorization', portal)
    .send({
      groups: [
        { name: 'deel 1', pages: [1] },
        { name: 'deel 2', pages: [2, 3] },
      ],
    });
  expect(split.status).toBe(201);
  expect(split.body.documents.map((doc: { channel: string }) => doc.channel)).toEqual(['scan', 'scan']);

  const merged = await request(app)
    .post(`/v1/dossiers/${h.dossierId}/document-merges`)
    .set('authorization', portal)
    .send({ documentIds: split.body.documents.map((doc: { id: string }) => doc.id), name: 'weer samen' });
  expect(merged.status).toBe(201);
  expect(merged.body).toMatchObject({ name: 'weer samen', channel: 'scan', pages: 3 });

  const listed = await request(app)
    .get(`/v1/dossiers/${h.dossierId}/documents`)
    .query({ channel: 'scan' })
    .set('authorization', portal);
  expect(listed.status).toBe(200);
  expect(listed.body.documents.map((doc: { name: string }) => doc.name).sort()).toEqual([
    'deel 1',
    'deel 2',
    'gescand',
    'weer samen',
  ]);
});
