/**
 * The archive through the gateway: the real directory, document-intake and archive services on one in-memory
 * platform (the archive copies from the intake's store on its events), the real access policy, HTTP in and
 * out. A file uploaded through the intake is found, downloaded byte for byte and packed into the dossier's
 * archive ZIP; legal holds and early deletion are refused where the rules say so.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { InProcessTransport } from '@kantoor/events';
import { createServiceClient, type Caller, type ServiceClient } from '@kantoor/grpc';
import { ArchiveService } from '@kantoor/proto/kantoor/archive/v1/archive_pb';
import { DocumentIntakeService } from '@kantoor/proto/kantoor/document_intake/v1/document_intake_pb';
import { embeddedPlatform, startService, type RunningService } from '@kantoor/service-runtime';
import { scratchFolder, temporaryFolder, type TestDatabase } from '@kantoor/testing';
import { createArchiveService } from '../../services/archive/src/main';
import { belgianNumber, startDirectory, type DirectoryFixture } from '../../services/directory/test/directory-fixture';
import { createDocumentIntakeService } from '../../services/document-intake/src';
import { directoryOver } from '../../services/document-intake/src/adapters/directory';
import { authorizeWithPolicy, directoryAccessFacts, routeTable } from '../src';
import { archivedAndPurged, verificationRunAt } from '../../services/archive/test/purged-rows';
import { bearer, openMigratedDatabase, problemType, testApp } from './helpers';
import { expectPaging } from './paged-list';

/** A valid one-page PDF, written by hand (offsets included) so the test needs no PDF library. */
function pdf(label: string): Buffer {
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Label (${label}) >>`,
  ];
  let body = '%PDF-1.4\n';
  const offsets = objects.map((object, i) => {
    const at = body.length;
    body += `${i + 1} 0 obj\n${object}\nendobj\n`;
    return at;
  });
  const xref = body.length;
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  body += offsets.map((at) => `${String(at).padStart(10, '0')} 00000 n \n`).join('');
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}

let fx: DirectoryFixture;
let folder: { path: string; remove(): Promise<void> };
let transport: InProcessTransport;
let intake: RunningService;
let archive: RunningService;
let intakeClient: ServiceClient<typeof DocumentIntakeService>;
let archiveClient: ServiceClient<typeof ArchiveService>;
let gatewayDb: TestDatabase;
let app: ReturnType<typeof testApp>['app'];
let admin: Caller;
let employee: Caller;
let support: Caller;
let dossierId: string;

beforeAll(async () => {
  transport = new InProcessTransport();
  folder = await temporaryFolder('kantoor-archive-routes-');
  const platform = embeddedPlatform({ dataDir: folder.path, inMemory: true, transport, logLevel: 'silent' });
  fx = await startDirectory(platform);
  admin = await fx.registerFirm();
  employee = await fx.activeStaff(admin, 'employee');
  support = await fx.activeStaff(admin, 'support');
  const { dossier } = await fx.directory.createDossier(
    { name: 'Bakkerij Archief', country: 'BE', enterpriseNumber: '0403170701', language: 'nl' },
    { caller: admin },
  );
  dossierId = dossier!.id;
  await fx.directory.activateDossier({ dossierId, fileManagerId: employee.subjectId }, { caller: admin });
  intake = await startService(
    createDocumentIntakeService({
      directory: directoryOver(fx.directory),
      settings: { INTAKE_LINK_SECRET: 'x'.repeat(40), INTAKE_PUBLIC_URL: 'https://kantoor.example' },
    }),
    platform,
    { host: '127.0.0.1', port: 0 },
  );
  archive = await startService(
    createArchiveService({
      accessFacts: directoryAccessFacts(fx.directory),
      settings: { ARCHIVE_VERIFY_INTERVAL_MINUTES: 0, ARCHIVE_PURGE_INTERVAL_MINUTES: 0 },
    }),
    platform,
    { host: '127.0.0.1', port: 0 },
  );
  intakeClient = createServiceClient(DocumentIntakeService, `127.0.0.1:${intake.port}`, { timeoutMs: 30_000 });
  archiveClient = createServiceClient(ArchiveService, `127.0.0.1:${archive.port}`, { timeoutMs: 30_000 });
  // the firm was registered before the intake subscribed: it becomes known through a staff member's call
  await intakeClient.listDocuments({ dossierId }, { caller: admin });
  gatewayDb = await openMigratedDatabase();
  ({ app } = testApp(
    {
      db: gatewayDb.db,
      services: { directory: fx.directory, documentIntake: intakeClient, archive: archiveClient },
      authorize: authorizeWithPolicy(directoryAccessFacts(fx.directory)),
    },
    routeTable,
    { VALIDATE_RESPONSES: 'true' },
  ));
}, 60_000);

afterAll(async () => {
  intakeClient?.close();
  archiveClient?.close();
  await archive?.stop();
  await intake?.stop();
  await fx?.stop();
  await transport?.close();
  await gatewayDb?.dispose();
  await folder?.remove();
});

const binary = (call: request.Test) =>
  call.buffer(true).parse((response, done) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => done(null, Buffer.concat(chunks)));
  });

const search = (caller: Caller, query: Record<string, string> = {}) =>
  request(app).get(`/v1/dossiers/${dossierId}/archive/documents`).query(query).set('authorization', bearer(caller));

/** The archive ingests from the intake's events, asynchronously: wait until the document is searchable. */
async function archived(name: string) {
  for (let attempt = 0; attempt < 100; attempt++) {
    const page = await search(employee, { name, deleted: 'all' });
    expect(page.status).toBe(200);
    if (page.body.documents.length > 0) return page.body.documents[0];
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${name} was never archived`);
}

let document: { documentId: string; objects: Array<{ id: string; sha256: string; size: number; role: string }> };
const file = pdf('Factuur Colruyt');

test('an uploaded document is archived, found by the filters and downloaded byte for byte', async () => {
  const upload = await request(app)
    .post(`/v1/dossiers/${dossierId}/documents`)
    .query({ mailbox: 'purchase', fileName: 'Factuur Colruyt.pdf' })
    .set('authorization', bearer(admin))
    .set('content-type', 'application/pdf')
    .send(file);
  expect(upload.status).toBe(201);

  document = await archived('colruyt');
  expect(document).toMatchObject({ documentId: upload.body.id, dossierId, mailbox: 'purchase', deleted: false });
  const original = document.objects.find((object) => object.role === 'original')!;
  expect(original).toMatchObject({ sha256: createHash('sha256').update(file).digest('hex'), size: file.length });

  // the filters narrow, the cursor pages
  expect((await search(employee, { mailbox: 'sales' })).body.documents).toEqual([]);
  expect((await search(employee, { deleted: 'deleted' })).body.documents).toEqual([]);
  const firstPage = await search(employee, { mailbox: 'purchase', pageSize: '1' });
  expect(firstPage.body.documents).toHaveLength(1);
  const refused = await search(employee, { documentDateFrom: 'yesterday' });
  expect(refused.status).toBe(400);

  const download = await binary(
    request(app)
      .get(`/v1/dossiers/${dossierId}/archive/objects/${original.id}/file`)
      .set('authorization', bearer(employee)),
  );
  expect(download.status).toBe(200);
  expect(download.headers['content-type']).toMatch(/application\/pdf/);
  expect(download.headers['x-content-sha256']).toBe(original.sha256);
  expect(Buffer.compare(download.body as Buffer, file)).toBe(0);
});

test("the dossier's complete archive is one ZIP with the document and its manifest", async () => {
  const zip = await binary(
    request(app).get(`/v1/dossiers/${dossierId}/archive/complete-zip`).set('authorization', bearer(employee)),
  );
  expect(zip.status).toBe(200);
  expect(zip.headers['content-type']).toMatch(/application\/zip/);
  const at = path.join(scratchFolder('archive-zip-'), 'archief.zip');
  writeFileSync(at, zip.body as Buffer);
  const listing = execFileSync('unzip', ['-l', at]).toString();
  expect(listing).toMatch(/Aankoop-pdf\/Factuur Colruyt\.pdf/);
  expect(listing).toMatch(/manifest\.json/);
  expect(listing).toMatch(/manifest\.csv/);
  const manifest = JSON.parse(execFileSync('unzip', ['-p', at, 'manifest.json']).toString());
  expect(JSON.stringify(manifest)).toContain(document.objects[0].sha256);

  const selection = await binary(
    request(app)
      .get(`/v1/dossiers/${dossierId}/archive/selection-zip`)
      .query({ mailbox: 'purchase' })
      .set('authorization', bearer(employee)),
  );
  expect(selection.status).toBe(200);
  writeFileSync(at, selection.body as Buffer);
  expect(execFileSync('unzip', ['-l', at]).toString()).toMatch(/Aankoop-pdf\/Factuur Colruyt\.pdf/);
});

test('only admins hold or release; support staff do not read the archive at all', async () => {
  const objectId = document.objects[0].id;
  const byEmployee = await request(app)
    .put(`/v1/dossiers/${dossierId}/archive/objects/${objectId}/legal-hold`)
    .set('authorization', bearer(employee))
    .send({ hold: true, reason: 'dispute with the supplier' });
  expect(byEmployee.status).toBe(403);
  expect(byEmployee.body.type).toBe(problemType('admin-required'));
  const dossierHold = await request(app)
    .put(`/v1/dossiers/${dossierId}/archive/legal-hold`)
    .set('authorization', bearer(employee))
    .send({ hold: true, reason: 'tax audit' });
  expect(dossierHold.status).toBe(403);
  expect((await search(support)).status).toBe(403);

  const byAdmin = await request(app)
    .put(`/v1/dossiers/${dossierId}/archive/objects/${objectId}/legal-hold`)
    .set('authorization', bearer(admin))
    .send({ hold: true, reason: 'dispute with the supplier' });
  expect(byAdmin.status).toBe(200);
  expect(byAdmin.body.objectsAffected).toBe(1);
  const held = await archived('colruyt');
  expect(held.objects.find((object: { id: string }) => object.id === objectId).legalHold).toBe(true);
});

test('nothing is deleted before its date, not even by an admin; the purge run leaves it too', async () => {
  const objectId = document.objects[0].id;
  const early = await request(app)
    .delete(`/v1/dossiers/${dossierId}/archive/objects/${objectId}`)
    .set('authorization', bearer(admin));
  expect(early.status).toBe(422);
  expect(early.body.type).toBe(problemType('object-retained'));
  const byEmployee = await request(app)
    .delete(`/v1/dossiers/${dossierId}/archive/objects/${objectId}`)
    .set('authorization', bearer(employee));
  expect(byEmployee.status).toBe(403);

  const purge = await request(app).post('/v1/archive/purge-runs').set('authorization', bearer(admin));
  expect(purge.status).toBe(201);
  expect(purge.body.purged).toBe(0);
  const records = await request(app)
    .get(`/v1/dossiers/${dossierId}/archive/purge-records`)
    .set('authorization', bearer(employee));
  expect(records.body.records).toEqual([]);
  const download = await request(app)
    .get(`/v1/dossiers/${dossierId}/archive/objects/${objectId}/file`)
    .set('authorization', bearer(employee));
  expect(download.status).toBe(200);
});

test("admins set the firm's retention and run the integrity check; others may only read the retention", async () => {
  expect((await request(app).get('/v1/archive/retention-policy').set('authorization', bearer(support))).body).toEqual({
    years: 7,
    counting: 'end_of_year',
  });
  const byEmployee = await request(app)
    .put('/v1/archive/retention-policy')
    .set('authorization', bearer(employee))
    .send({ years: 10, counting: 'document_date' });
  expect(byEmployee.status).toBe(403);
  const tooShort = await request(app)
    .put('/v1/archive/retention-policy')
    .set('authorization', bearer(admin))
    .send({ years: 0, counting: 'end_of_year' });
  expect(tooShort.status).toBe(400);
  const changed = await request(app)
    .put('/v1/archive/retention-policy')
    .set('authorization', bearer(admin))
    .send({ years: 10, counting: 'document_date' });
  expect(changed.body).toEqual({ years: 10, counting: 'document_date' });

  const run = await request(app).post('/v1/archive/verification-runs').set('authorization', bearer(admin)).send({});
  expect(run.status).toBe(201);
  expect(run.body).toMatchObject({ checked: document.objects.length, findings: [] });
  const runs = await request(app).get('/v1/archive/verification-runs').set('authorization', bearer(admin));
  expect(runs.body.runs[0].id).toBe(run.body.id);
  const byOthers = await request(app).get('/v1/archive/verification-runs').set('authorization', bearer(employee));
  expect(byOthers.status).toBe(403);
});

test("a dossier's purge records come a page at a time, each once, newest first; bad paging is refused", async () => {
  const { dossier } = await fx.directory.createDossier(
    { name: 'Bakkerij Gewist', country: 'BE', enterpriseNumber: belgianNumber(7301), language: 'nl' },
    { caller: admin },
  );
  await fx.directory.activateDossier({ dossierId: dossier!.id, fileManagerId: employee.subjectId }, { caller: admin });
  // within one millisecond, microseconds apart, two of them at the same time (the object id decides)
  const times = ['.123456', '.123455', '.123455', '.123001', '.122999'].map((at) => `2026-12-03 10:00:00${at}+00`);
  const purged: Array<{ at: string; objectId: string }> = [];
  for (const [index, at] of times.entries()) {
    const ids = { firmId: admin.firmId, dossierId: dossier!.id, documentId: `purged-${index}` };
    purged.push({ at, objectId: await archivedAndPurged(archive.db, ids, at) });
  }
  const newestFirst = purged
    .sort((a, b) => b.at.localeCompare(a.at) || Number(b.objectId) - Number(a.objectId))
    .map((record) => record.objectId);
  const list = {
    app,
    path: `/v1/dossiers/${dossier!.id}/archive/purge-records`,
    authorization: bearer(employee),
    items: 'records',
    idOf: (record: Record<string, unknown>) => record.objectId as string,
  };

  await expectPaging(list, newestFirst);
});

test("a firm's verification runs come a page at a time, each once, newest start first; bad paging is refused", async () => {
  // a firm of its own, so that only these runs are its runs
  const firmAdmin = await fx.registerFirm();
  // within one millisecond, microseconds apart, two of them at the same time (the run id decides)
  const times = ['.123001', '.123456', '.123455', '.122999', '.123455'].map((at) => `2026-12-03 10:00:00${at}+00`);
  const runs: Array<{ at: string; id: string }> = [];
  for (const at of times) runs.push({ at, id: await verificationRunAt(archive.db, firmAdmin.firmId, at) });
  const newestFirst = runs.sort((a, b) => b.at.localeCompare(a.at) || Number(b.id) - Number(a.id)).map((run) => run.id);
  const list = {
    app,
    path: '/v1/archive/verification-runs',
    authorization: bearer(firmAdmin),
    items: 'runs',
    idOf: (run: Record<string, unknown>) => run.id as string,
  };

  await expectPaging(list, newestFirst);
});
