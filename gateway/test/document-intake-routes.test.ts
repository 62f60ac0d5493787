/**
 * The document intake through the gateway: the real directory and document-intake services in-process, the
 * real access policy, HTTP in and out. Files go up as streamed request bodies and come down as streamed
 * answers; refusals are problem+json and leave nothing stored.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import request from 'supertest';
import { decodeEnvelope, unpackPayload } from '@kantoor/events';
import { scratchFolder } from '@kantoor/testing';
import type { IntakeHarness } from '../../services/document-intake/test/intake-harness';
import { bearer, problemType } from './helpers';
import { startIntakeGateway, type IntakeGateway } from './intake-gateway';
import { expectPaging } from './paged-list';
import { refusedAt } from '../../services/document-intake/test/refused-rows';

const SAMPLES = path.resolve(__dirname, '../../test/fixtures/peppol');
const JPEG = readFileSync(path.resolve(__dirname, '../../services/document-intake/test/fixtures/stripe.jpg'));

/**
 * A valid PDF with `pages` empty pages, written by hand (offsets included) so the test needs no PDF library;
 * `padding` bytes of an unused stream make it as large as a test needs.
 */
function pdf(pages: number, padding = 0): Buffer {
  const kids = Array.from({ length: pages }, (_, i) => `${3 + i} 0 R`).join(' ');
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Kids [${kids}] /Count ${pages} >>`,
    ...Array.from({ length: pages }, () => '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>'),
    ...(padding ? [`<< /Length ${padding} >>\nstream\n${' '.repeat(padding)}\nendstream`] : []),
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

let h: IntakeHarness;
let app: IntakeGateway['app'];
let gateway: IntakeGateway;

beforeAll(async () => {
  gateway = await startIntakeGateway({
    apiKeys: {
      verify: async (key) => ({
        kind: 'api_key',
        subjectId: 'partner-feed',
        firmId: h.admin.firmId,
        scopes: key === 'feed-key' ? ['document:write', 'document:read'] : ['dossier:read'],
      }),
    },
  });
  ({ h, app } = gateway);
}, 60_000);

afterAll(() => gateway?.stop());

const documentCount = async () =>
  (await h.service.db.query<{ n: number }>('SELECT count(*)::int AS n FROM document')).rows[0].n;

/**
 * Files in the intake's object store that belong to no document (`documents/<dossier>/<document>/...`), waited for
 * until there are none: when the gateway refuses mid-stream it cancels the call, and the service removes what it
 * had received as it notices, shortly after the answer went out.
 */
async function expectNoOrphanObjects(): Promise<void> {
  const root = path.join(h.dataDir, 'objects', 'document-intake');
  const orphans = async () => {
    const files = existsSync(root)
      ? readdirSync(root, { recursive: true, encoding: 'utf8' }).filter(
          (entry) => entry.startsWith(`documents${path.sep}`) && statSync(path.join(root, entry)).isFile(),
        )
      : [];
    const documentIds = files.map((file) => file.split(path.sep).at(-2)!);
    const { rows } = await h.service.db.query<{ id: string }>('SELECT id FROM document WHERE id = ANY($1::uuid[])', [
      [...new Set(documentIds)].filter((id) => /^[0-9a-f-]{36}$/.test(id)),
    ]);
    const known = new Set(rows.map((row) => row.id));
    return { files, orphans: files.filter((_file, at) => !known.has(documentIds[at])) };
  };
  expect((await orphans()).files.length).toBeGreaterThan(0);
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50)))
    if ((await orphans()).orphans.length === 0) return;
  expect((await orphans()).orphans).toEqual([]);
}

const upload = (
  body: Buffer,
  fileName: string,
  options: { as?: string; type?: string; mailbox?: string; to?: typeof app } = {},
) =>
  request(options.to ?? app)
    .post(`/v1/dossiers/${h.dossierId}/documents`)
    .query({ mailbox: options.mailbox ?? 'purchase' })
    .set(options.as === 'api' ? 'x-api-key' : 'authorization', options.as === 'api' ? 'feed-key' : bearer(h.portal))
    .set('x-file-name', encodeURIComponent(fileName))
    .set('content-type', options.type ?? 'application/octet-stream')
    .send(body);

const binary = (call: request.Test) =>
  call.buffer(true).parse((response, done) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => done(null, Buffer.concat(chunks)));
  });

describe('upload through the gateway', () => {
  test('a PDF, a JPEG and a UBL invoice are stored as documents of the mailbox, typed by content', async () => {
    const scanned = await upload(pdf(3), 'Factuur Colruyt.pdf', { type: 'application/pdf' });
    expect(scanned.status).toBe(201);
    expect(scanned.body).toMatchObject({
      dossierId: h.dossierId,
      mailbox: 'purchase',
      name: 'Factuur Colruyt',
      type: 'pdf',
      originalFormat: 'pdf',
      channel: 'upload',
      pages: 3,
      status: 'draft',
    });

    const photo = await upload(JPEG, 'bonnetje.jpg', { type: 'image/jpeg', mailbox: 'misc' });
    expect(photo.status).toBe(201);
    expect(photo.body).toMatchObject({ type: 'pdf', originalFormat: 'jpeg', pages: 1, hasPdf: true, mailbox: 'misc' });

    // a UBL invoice sent as octet-stream: the content decides, not the claimed type
    const invoice = await upload(readFileSync(path.join(SAMPLES, 'base-example.xml')), 'einvoice.xml');
    expect(invoice.status).toBe(201);
    expect(invoice.body).toMatchObject({ type: 'ubl', originalFormat: 'xml', hasPdf: true });
    expect(invoice.body.invoice.invoiceNumber).not.toBe('');
  });

  test('files that are not PDF, JPEG or UBL, or broken ones, are refused with the reason and nothing is stored', async () => {
    const before = await documentCount();
    const text = await upload(Buffer.from('just some words, no document'), 'notes.pdf', { type: 'application/pdf' });
    expect(text.status).toBe(400);
    expect(text.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(text.body.detail).toBeTruthy();

    const corrupt = await upload(Buffer.from('%PDF-1.7\nthis is not really a pdf'), 'broken.pdf');
    expect(corrupt.status).toBe(400);
    expect(corrupt.headers['content-type']).toMatch(/application\/problem\+json/);

    const unknownMailbox = await request(app)
      .post(`/v1/dossiers/${h.dossierId}/documents`)
      .query({ mailbox: 'attic' })
      .set('authorization', bearer(h.portal))
      .set('content-type', 'application/pdf')
      .send(pdf(1));
    expect(unknownMailbox.status).toBe(400);
    expect(await documentCount()).toBe(before);
  });

  test("a portal user cannot upload into another client's dossier", async () => {
    const before = await documentCount();
    const response = await request(app)
      .post(`/v1/dossiers/${h.otherDossierId}/documents`)
      .query({ mailbox: 'purchase' })
      .set('authorization', bearer(h.portal))
      .set('content-type', 'application/pdf')
      .send(pdf(1));
    expect(response.status).toBe(404);
    expect(await documentCount()).toBe(before);
  });

  test('a partner with an API key uploads on the api channel; a key without the scope is refused', async () => {
    const fed = await upload(pdf(1), 'feed-0001.pdf', { as: 'api' });
    expect(fed.status).toBe(201);
    expect(fed.body.channel).toBe('api');
    const refused = await request(app)
      .post(`/v1/dossiers/${h.dossierId}/documents`)
      .query({ mailbox: 'purchase' })
      .set('x-api-key', 'read-only-key')
      .set('content-type', 'application/pdf')
      .send(pdf(1));
    expect(refused.status).toBe(403);
    expect(refused.body.type).toBe(problemType('missing-scope'));
  });
});

describe('the mailbox and the hand-over', () => {
  test('list, filter, change, download, send, ZIP, and the e-mailed link', async () => {
    const portal = bearer(h.portal);
    const staff = bearer(h.admin);
    const list = async (query: Record<string, string>, who = portal) =>
      (await request(app).get(`/v1/dossiers/${h.dossierId}/documents`).query(query).set('authorization', who)).body;

    const ubl = await list({ type: 'ubl' });
    expect(ubl.documents.length).toBeGreaterThan(0);
    expect(ubl.documents.every((doc: { type: string }) => doc.type === 'ubl')).toBe(true);
    const found = await list({ search: 'Colruyt' });
    expect(found.documents.map((doc: { name: string }) => doc.name)).toEqual(['Factuur Colruyt']);
    const colruyt = found.documents[0];

    const renamed = await request(app)
      .patch(`/v1/dossiers/${h.dossierId}/documents/${colruyt.id}`)
      .set('authorization', portal)
      .send({ name: 'Colruyt maart', paid: true, remark: 'cash' });
    expect(renamed.body).toMatchObject({ name: 'Colruyt maart', paid: true, remark: 'cash' });

    const file = await binary(
      request(app).get(`/v1/dossiers/${h.dossierId}/documents/${colruyt.id}/file`).set('authorization', portal),
    );
    expect(file.status).toBe(200);
    expect(file.headers['content-type']).toBe('application/pdf');
    expect(file.headers['content-disposition']).toContain('Colruyt maart.pdf');
    expect((file.body as Buffer).subarray(0, 5).toString()).toBe('%PDF-');

    const photo = (await list({ mailbox: 'misc' })).documents[0];
    const original = await binary(
      request(app)
        .get(`/v1/dossiers/${h.dossierId}/documents/${photo.id}/file`)
        .query({ variant: 'original' })
        .set('authorization', portal),
    );
    expect(Buffer.compare(original.body as Buffer, JPEG)).toBe(0);

    // a document is reached only under its own dossier
    const elsewhere = await request(app)
      .get(`/v1/dossiers/${h.otherDossierId}/documents/${colruyt.id}`)
      .set('authorization', staff);
    expect(elsewhere.status).toBe(404);

    // the accountant sees nothing before the client sends
    expect((await list({}, staff)).documents).toEqual([]);
    const drafts = (await list({ status: 'draft' })).documents.map((doc: { id: string }) => doc.id);
    const sent = await request(app)
      .post(`/v1/dossiers/${h.dossierId}/document-sends`)
      .set('authorization', portal)
      .send({ documentIds: drafts });
    expect(sent.status).toBe(200);
    expect(sent.body.documents.every((doc: { status: string }) => doc.status === 'sent')).toBe(true);
    const seen = (await list({}, staff)).documents;
    expect(seen).toHaveLength(drafts.length);
    expect(seen.every((doc: { paid: boolean }) => doc.paid === false)).toBe(true);

    const monitor = await request(app).get('/v1/active-clients').set('authorization', staff);
    const row = monitor.body.clients.find((client: { dossierId: string }) => client.dossierId === h.dossierId);
    expect(row.mailboxes.find((box: { mailbox: string }) => box.mailbox === 'purchase')).toMatchObject({
      notSent: 0,
      waiting: drafts.length - 1,
    });
    expect((await request(app).get('/v1/active-clients').set('authorization', portal)).status).toBe(403);

    // the client never takes the hand-over
    const clientZip = await request(app).get(`/v1/dossiers/${h.dossierId}/documents-zip`).set('authorization', portal);
    expect(clientZip.status).toBe(403);

    const zip = await binary(request(app).get(`/v1/dossiers/${h.dossierId}/documents-zip`).set('authorization', staff));
    expect(zip.status).toBe(200);
    expect(zip.headers['content-type']).toBe('application/zip');
    const folder = scratchFolder('kantoor-zip-');
    writeFileSync(path.join(folder, 'documents.zip'), zip.body as Buffer);
    execFileSync('unzip', ['-t', path.join(folder, 'documents.zip')]);
    const names = execFileSync('unzip', ['-Z1', path.join(folder, 'documents.zip')])
      .toString()
      .trim()
      .split('\n');
    expect(names.sort()).toEqual(
      expect.arrayContaining([
        'Aankoop-pdf/Colruyt maart.pdf',
        'Aankoop-pdf/feed-0001.pdf',
        'Diverse-pdf/bonnetje.pdf',
      ]),
    );
    expect(names.some((name) => name.startsWith('Aankoop-ubl/') && name.endsWith('.xml'))).toBe(true);
    expect(names.some((name) => name.startsWith('Verkoop'))).toBe(false);

    // the e-mailed link: signed for this dossier and this staff member
    const link = await request(app)
      .post(`/v1/dossiers/${h.dossierId}/download-links`)
      .set('authorization', staff)
      .send({ markProcessed: true });
    expect(link.status).toBe(202);
    expect(link.body.recipientEmail).toBe(h.admin.email);
    const { rows } = await h.service.db.query<{ payload: Uint8Array }>(
      "SELECT payload FROM outbox WHERE type = 'kantoor.document_intake.v1.DownloadLinkRequested' ORDER BY position",
    );
    const event = unpackPayload(decodeEnvelope(new Uint8Array(rows.at(-1)!.payload))) as unknown as { link: string };
    const token = event.link.split('/v1/document-downloads/')[1];
    const forged = await request(app).get(`/v1/document-downloads/${token.slice(0, -4)}AAAA`);
    expect(forged.status).toBe(401);
    expect(forged.headers['content-type']).toMatch(/application\/problem\+json/);
    const viaLink = await binary(request(app).get(`/v1/document-downloads/${token}`));
    expect(viaLink.status).toBe(200);
    expect((viaLink.body as Buffer).length).toBe((zip.body as Buffer).length);
    // the link asked for processing: done once the ZIP was out, and processed never goes back
    const processed = (await list({ status: 'processed' }, staff)).documents;
    expect(processed).toHaveLength(drafts.length);

    const log = await request(app).get(`/v1/dossiers/${h.dossierId}/intake-log`).set('authorization', portal);
    expect(log.status).toBe(200);
    expect(Array.isArray(log.body.refused)).toBe(true);
  });
});

describe('the document list a page at a time', () => {
  test('a cursor the list did not give out is refused with 400 and names the cursor', async () => {
    const notGivenOut = Buffer.from(JSON.stringify(['2026-12-03T10:00:00.123Z', 'x'])).toString('base64url');
    for (const cursor of ['not-a-cursor', notGivenOut]) {
      const refused = await request(app)
        .get(`/v1/dossiers/${h.dossierId}/documents`)
        .query({ cursor })
        .set('authorization', bearer(h.portal));
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({
        type: problemType('invalid-cursor'),
        errors: [{ field: 'cursor', message: 'is not valid' }],
      });
    }
  });
});

describe('the intake log a page at a time', () => {
  test('each refused file once, newest first, whatever the page size; bad paging is refused', async () => {
    // within one millisecond, microseconds apart, two of them at the same time (the id decides)
    const times = ['.123456', '.123455', '.123455', '.123001', '.122999'].map((at) => `2026-12-03 10:00:00${at}+00`);
    const refused = times.map((at, index) => ({ at, id: `00000000-0000-4000-8000-0000000000${10 + index}` }));
    for (const file of refused)
      await refusedAt(h.service.db, { id: file.id, firmId: h.admin.firmId, dossierId: h.otherDossierId }, file.at);
    const newestFirst = refused
      .sort((a, b) => b.at.localeCompare(a.at) || b.id.localeCompare(a.id))
      .map((file) => file.id);
    const list = {
      app,
      path: `/v1/dossiers/${h.otherDossierId}/intake-log`,
      authorization: bearer(h.admin),
      items: 'refused',
      idOf: (file: Record<string, unknown>) => file.id as string,
    };

    await expectPaging(list, newestFirst);
  });
});

type Part = { field?: string; body: Buffer | string; fileName?: string; type?: string };

/** A multipart/form-data request with the given parts, in order (a part without a file name is a text field). */
function multipart(path: string, query: Record<string, string>, parts: Part[], who = bearer(h.portal), to = app) {
  let call = request(to).post(path).query(query).set('authorization', who);
  for (const part of parts) {
    call =
      part.fileName === undefined
        ? call.field(part.field ?? 'note', String(part.body))
        : call.attach(part.field ?? 'file', Buffer.from(part.body), {
            filename: part.fileName,
            contentType: part.type ?? 'application/octet-stream',
          });
  }
  return call;
}

describe('a scanner sends several pages that become one document', () => {
  const scan = (parts: Part[], query: Record<string, string> = { mailbox: 'purchase' }) =>
    multipart(`/v1/dossiers/${h.dossierId}/scans`, query, parts);

  test('JPEG and PDF pages, one part each, are merged in order into one document on the scan channel', async () => {
    const response = await scan(
      [
        { field: 'page', body: JPEG, fileName: 'page-1.jpg', type: 'image/jpeg' },
        { field: 'page', body: pdf(2), fileName: 'page-2.pdf', type: 'application/pdf' },
        { field: 'page', body: JPEG, fileName: 'page-3.jpg', type: 'image/jpeg' },
      ],
      { mailbox: 'purchase', fileName: 'Scan leverancier' },
    );
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({
      name: 'Scan leverancier',
      channel: 'scan',
      type: 'pdf',
      pages: 4,
      mailbox: 'purchase',
      status: 'draft',
    });
    const file = await binary(
      request(app)
        .get(`/v1/dossiers/${h.dossierId}/documents/${response.body.id}/file`)
        .set('authorization', bearer(h.portal)),
    );
    expect((file.body as Buffer).subarray(0, 5).toString()).toBe('%PDF-');
  });

  test('a single page named by its part is a document too', async () => {
    const response = await scan([{ body: pdf(1), fileName: 'Bonnetje.pdf', type: 'application/pdf' }]);
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ name: 'Bonnetje', channel: 'scan', pages: 1 });
  });

  test('a scan without pages, a page of another type, a text field or a broken page is refused and nothing is stored', async () => {
    const before = await documentCount();
    const refusals: Array<[Part[], string]> = [
      [[], 'no-pages'],
      [
        [
          { body: JPEG, fileName: 'page-1.jpg', type: 'image/jpeg' },
          { body: 'hello', fileName: 'page-2.txt', type: 'text/plain' },
        ],
        'unsupported-page-type',
      ],
      [
        [
          { body: JPEG, fileName: 'page-1.jpg', type: 'image/jpeg' },
          { field: 'remark', body: 'urgent' },
        ],
        'not-a-file',
      ],
      [
        [
          { body: pdf(1), fileName: 'page-1.pdf', type: 'application/pdf' },
          { body: '%PDF-1.7\nnot really a pdf', fileName: 'page-2.pdf', type: 'application/pdf' },
        ],
        '',
      ],
    ];
    for (const [parts, reason] of refusals) {
      const response =
        parts.length === 0
          ? await request(app)
              .post(`/v1/dossiers/${h.dossierId}/scans`)
              .query({ mailbox: 'purchase' })
              .set('authorization', bearer(h.portal))
              .set('content-type', 'multipart/form-data; boundary=nothing-here')
              .send('--nothing-here--\r\n')
          : await scan(parts);
      expect(response.status).toBe(400);
      expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
      if (reason) expect(response.body.type).toBe(problemType(reason));
      expect(response.body.detail).toBeTruthy();
    }
    const notMultipart = await request(app)
      .post(`/v1/dossiers/${h.dossierId}/scans`)
      .query({ mailbox: 'purchase' })
      .set('authorization', bearer(h.portal))
      .set('content-type', 'application/pdf')
      .send(pdf(1));
    expect(notMultipart.status).toBe(415);
    expect(await documentCount()).toBe(before);
    await expectNoOrphanObjects();
  });
});

describe('several files uploaded at once', () => {
  const uploadMany = (parts: Part[], who = bearer(h.portal)) =>
    multipart(`/v1/dossiers/${h.dossierId}/document-uploads`, { mailbox: 'sales' }, parts, who);

  test('each file becomes its own document, in the order sent', async () => {
    const response = await uploadMany([
      { field: 'files', body: pdf(2), fileName: 'Verkoopfactuur 1.pdf', type: 'application/pdf' },
      { field: 'files', body: JPEG, fileName: 'kasticket.jpg', type: 'image/jpeg' },
      {
        field: 'files',
        body: readFileSync(path.join(SAMPLES, 'base-example.xml')),
        fileName: 'e-factuur.xml',
        type: 'text/xml',
      },
    ]);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ stored: 3, refused: 0 });
    expect(response.body.files).toMatchObject([
      { position: 1, fileName: 'Verkoopfactuur 1.pdf', document: { name: 'Verkoopfactuur 1', pages: 2, type: 'pdf' } },
      { position: 2, fileName: 'kasticket.jpg', document: { name: 'kasticket', originalFormat: 'jpeg' } },
      { position: 3, fileName: 'e-factuur.xml', document: { type: 'ubl', channel: 'upload', mailbox: 'sales' } },
    ]);
    const ids = response.body.files.map((file: { document: { id: string } }) => file.document.id);
    expect(new Set(ids).size).toBe(3);
  });

  test('a refused file is named with its reason and neither stops nor undoes the others', async () => {
    const before = await documentCount();
    // a long file the service refuses while the gateway is still streaming it: the rest of it is dropped
    const notAPdf = Buffer.alloc(3 * 1024 * 1024, 'not a document ');
    const response = await uploadMany([
      { body: pdf(1), fileName: 'goed-1.pdf', type: 'application/pdf' },
      { body: notAPdf, fileName: 'notities.pdf', type: 'application/pdf' },
      { body: 'PNG?', fileName: 'foto.png', type: 'image/png' },
      { body: '', fileName: 'leeg.pdf', type: 'application/pdf' },
      { body: pdf(3), fileName: 'goed-2.pdf', type: 'application/pdf' },
    ]);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ stored: 2, refused: 3 });
    const [first, text, png, empty, last] = response.body.files;
    expect(first.document.name).toBe('goed-1');
    expect(text).toMatchObject({ position: 2, fileName: 'notities.pdf', refused: { status: 400 } });
    expect(text.refused.detail).toBeTruthy();
    expect(text).not.toHaveProperty('document');
    expect(png).toMatchObject({
      fileName: 'foto.png',
      refused: { type: problemType('unsupported-type'), status: 400 },
    });
    expect(png.refused.detail).toContain('image/png');
    expect(empty).toMatchObject({ fileName: 'leeg.pdf', refused: { status: 400 } });
    expect(last.document).toMatchObject({ name: 'goed-2', pages: 3 });
    // only the two accepted files were kept
    expect(await documentCount()).toBe(before + 2);
    const { rows } = await h.service.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM document WHERE id = ANY($1::uuid[])',
      [[first.document.id, last.document.id]],
    );
    expect(rows[0].n).toBe(2);
    await expectNoOrphanObjects();
  });

  test('a request without files, or with a text field first, is refused and stores nothing', async () => {
    const before = await documentCount();
    const empty = await request(app)
      .post(`/v1/dossiers/${h.dossierId}/document-uploads`)
      .query({ mailbox: 'sales' })
      .set('authorization', bearer(h.portal))
      .set('content-type', 'multipart/form-data; boundary=nothing-here')
      .send('--nothing-here--\r\n');
    expect(empty.status).toBe(400);
    expect(empty.body.type).toBe(problemType('no-files'));
    const field = await uploadMany([
      { field: 'remark', body: 'zie bijlage' },
      { body: pdf(1), fileName: 'a.pdf' },
    ]);
    expect(field.status).toBe(400);
    expect(field.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(field.body.type).toBe(problemType('not-a-file'));
    const noBoundary = await request(app)
      .post(`/v1/dossiers/${h.dossierId}/document-uploads`)
      .query({ mailbox: 'sales' })
      .set('authorization', bearer(h.portal))
      .set('content-type', 'multipart/form-data')
      .send('garbage');
    expect(noBoundary.status).toBe(400);
    expect(noBoundary.body.type).toBe(problemType('malformed-multipart'));
    expect(await documentCount()).toBe(before);
  });

  test("another client's dossier is refused before any file is read", async () => {
    const before = await documentCount();
    const response = await multipart(`/v1/dossiers/${h.otherDossierId}/document-uploads`, { mailbox: 'sales' }, [
      { body: pdf(1), fileName: 'a.pdf', type: 'application/pdf' },
    ]);
    expect(response.status).toBe(404);
    expect(await documentCount()).toBe(before);
  });

  test('the single-file upload still works beside it', async () => {
    const single = await upload(pdf(1), 'los.pdf', { type: 'application/pdf', mailbox: 'sales' });
    expect(single.status).toBe(201);
    expect(single.body).toMatchObject({ name: 'los', mailbox: 'sales', channel: 'upload' });
  });
});

describe('the declared Content-Type of a file is checked against its content', () => {
  const mismatch = problemType('content-type-mismatch');

  test('one file: JPEGs sent as image/jpeg, image/jpg or octet-stream pass; a PDF sent as image/jpeg is refused and nothing is stored', async () => {
    const before = await documentCount();
    for (const type of ['image/jpeg', 'image/jpg', 'application/octet-stream']) {
      const photo = await upload(JPEG, 'bonnetje.jpg', { type });
      expect(photo.status).toBe(201);
      expect(photo.body).toMatchObject({ originalFormat: 'jpeg' });
    }
    const refused = await upload(pdf(1), 'factuur.pdf', { type: 'image/jpeg' });
    expect(refused.status).toBe(400);
    expect(refused.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(refused.body).toMatchObject({ type: mismatch, detail: expect.stringContaining('sent as image/jpeg') });
    expect(await documentCount()).toBe(before + 3);
    await expectNoOrphanObjects();
  });

  test('several files: the part whose content is not its declared type is refused by name, the others stored', async () => {
    const before = await documentCount();
    const response = await multipart(`/v1/dossiers/${h.dossierId}/document-uploads`, { mailbox: 'sales' }, [
      { body: JPEG, fileName: 'bon.jpg', type: 'image/jpeg' },
      { body: pdf(1), fileName: 'factuur.pdf', type: 'image/jpeg' },
      { body: pdf(2), fileName: 'factuur-2.pdf', type: 'application/octet-stream' },
    ]);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ stored: 2, refused: 1 });
    const [photo, declaredWrongly, generic] = response.body.files;
    expect(photo.document).toMatchObject({ originalFormat: 'jpeg' });
    expect(declaredWrongly).toMatchObject({ fileName: 'factuur.pdf', refused: { type: mismatch, status: 400 } });
    expect(generic.document).toMatchObject({ originalFormat: 'pdf', pages: 2 });
    expect(await documentCount()).toBe(before + 2);
    await expectNoOrphanObjects();
  });

  test('a scan: a page whose content is not its declared type refuses the scan, and nothing of it is stored', async () => {
    const before = await documentCount();
    const refused = await multipart(`/v1/dossiers/${h.dossierId}/scans`, { mailbox: 'purchase' }, [
      { body: JPEG, fileName: 'page-1.jpg', type: 'image/jpg' },
      { body: pdf(1), fileName: 'page-2.jpg', type: 'image/jpeg' },
    ]);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ type: mismatch, detail: expect.stringContaining('page 2') });
    expect(await documentCount()).toBe(before);
    await expectNoOrphanObjects();
  });
});

describe('the active clients monitor, filtered', () => {
  type Row = { dossierId: string; dossierName: string; mailboxes: Array<{ mailbox: string; waiting: number }> };
  let clientGroupId: string;
  let otherFileManager: string;
  let otherName: string;
  const monitor = async (query: Record<string, string> = {}, who = bearer(h.admin)) => {
    const response = await request(app).get('/v1/active-clients').query(query).set('authorization', who);
    expect(response.status).toBe(200);
    return (response.body.clients as Row[]).map((row) => row.dossierId);
  };

  beforeAll(async () => {
    // the client's dossier: a purchase document sent and waiting; the other dossier: a draft in misc only, a
    // client group and a file manager of its own
    const sent = await upload(pdf(1), 'te verwerken.pdf', { type: 'application/pdf', mailbox: 'purchase' });
    await request(app)
      .post(`/v1/dossiers/${h.dossierId}/document-sends`)
      .set('authorization', bearer(h.portal))
      .send({ documentIds: [sent.body.id] })
      .expect(200);
    const draft = await request(app)
      .post(`/v1/dossiers/${h.otherDossierId}/documents`)
      .query({ mailbox: 'misc' })
      .set('authorization', bearer(h.admin))
      .set('content-type', 'application/pdf')
      .send(pdf(1));
    expect(draft.status).toBe(201);
    const { clientGroup } = await h.fx.directory.createClientGroup(
      { name: 'Horeca', email: 'horeca@firm.example' },
      { caller: h.admin },
    );
    clientGroupId = clientGroup!.id;
    otherFileManager = (await h.fx.activeStaff(h.admin, 'employee')).subjectId;
    const { dossier } = await h.fx.directory.assignDossier(
      { dossierId: h.otherDossierId, clientGroupId, fileManagerId: otherFileManager },
      { caller: h.admin },
    );
    otherName = dossier!.name;
  });

  test('without filters the staff member sees every dossier with documents, by name', async () => {
    const response = await request(app).get('/v1/active-clients').set('authorization', bearer(h.admin));
    const rows = response.body.clients as Row[];
    expect(rows.map((row) => row.dossierId)).toEqual(expect.arrayContaining([h.dossierId, h.otherDossierId]));
    const names = rows.map((row) => row.dossierName);
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b)));
  });

  test('by client group, file manager, assigned staff member and name', async () => {
    expect(await monitor({ clientGroupId })).toEqual([h.otherDossierId]);
    expect(await monitor({ fileManagerId: otherFileManager })).toEqual([h.otherDossierId]);
    expect(await monitor({ fileManagerId: h.admin.subjectId })).toEqual([h.dossierId]);
    expect(await monitor({ staffId: otherFileManager })).toEqual([h.otherDossierId]);
    expect(await monitor({ search: otherName })).toEqual([h.otherDossierId]);
    expect(await monitor({ clientGroupId, fileManagerId: h.admin.subjectId })).toEqual([]);
  });

  test('by mailbox and by documents waiting to be processed; the rows keep every mailbox', async () => {
    expect(await monitor({ mailbox: 'misc' })).toEqual([h.otherDossierId]);
    expect(await monitor({ onlyWaiting: 'true' })).toEqual([h.dossierId]);
    expect(await monitor({ mailbox: 'purchase', onlyWaiting: 'true' })).toEqual([h.dossierId]);
    expect(await monitor({ mailbox: 'misc', onlyWaiting: 'true' })).toEqual([]);
    const response = await request(app)
      .get('/v1/active-clients')
      .query({ onlyWaiting: 'true' })
      .set('authorization', bearer(h.admin));
    const [row] = response.body.clients as Row[];
    expect(row.mailboxes.map((box) => box.mailbox)).toEqual(['purchase', 'sales', 'misc']);
    expect(row.mailboxes.find((box) => box.mailbox === 'purchase')!.waiting).toBeGreaterThan(0);
  });

  test('support staff see only the dossiers assigned to them, whatever the filter', async () => {
    const support = bearer(h.support);
    expect(await monitor({}, support)).toEqual([]);
    await h.fx.directory.assignDossier(
      { dossierId: h.dossierId, collaboratorStaffIds: { ids: [h.support.subjectId] } },
      { caller: h.admin },
    );
    expect(await monitor({}, support)).toEqual([h.dossierId]);
    expect(await monitor({ clientGroupId }, support)).toEqual([]);
    expect(await monitor({ mailbox: 'misc' }, support)).toEqual([]);
    // and the admin's filter by assigned staff member finds the new assignment
    expect(await monitor({ staffId: h.support.subjectId })).toEqual([h.dossierId]);
  });

  test('by assigned staff member: also staff reached only through a staff group; someone not assigned sees none', async () => {
    const staff = () => h.fx.activeStaff(h.admin, 'employee').then((caller) => caller.subjectId);
    const [inTeam, ofClientGroup, inClientGroupTeam, unassigned] = await Promise.all([
      staff(),
      staff(),
      staff(),
      staff(),
    ]);
    const team = async (name: string, memberId: string) =>
      (await h.fx.directory.createStaffGroup({ name, memberIds: [memberId] }, { caller: h.admin })).staffGroup!.id;
    // the client's dossier has a collaborating staff group; the other dossier's client group has a staff member
    // of its own and a staff group
    await h.fx.directory.assignDossier(
      { dossierId: h.dossierId, collaboratorGroupIds: { ids: [await team('Team Gent', inTeam)] } },
      { caller: h.admin },
    );
    await h.fx.directory.updateClientGroup(
      {
        clientGroupId,
        staffIds: { ids: [ofClientGroup] },
        staffGroupIds: { ids: [await team('Team Horeca', inClientGroupTeam)] },
      },
      { caller: h.admin },
    );
    expect(await monitor({ staffId: inTeam })).toEqual([h.dossierId]);
    expect(await monitor({ staffId: ofClientGroup })).toEqual([h.otherDossierId]);
    expect(await monitor({ staffId: inClientGroupTeam })).toEqual([h.otherDossierId]);
    expect(await monitor({ staffId: unassigned })).toEqual([]);
    // with the other filters it narrows further
    expect(await monitor({ staffId: inClientGroupTeam, mailbox: 'purchase' })).toEqual([]);
  });

  test('a filter that is not one is refused', async () => {
    for (const query of [
      { mailbox: 'attic' },
      { clientGroupId: 'horeca' },
      { onlyWaiting: 'perhaps' },
      { colour: 'green' },
    ]) {
      const response = await request(app).get('/v1/active-clients').query(query).set('authorization', bearer(h.admin));
      expect(response.status).toBe(400);
      expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
    }
  });
});

describe('preview', () => {
  const file = (documentId: string, query: Record<string, string>) =>
    binary(
      request(app)
        .get(`/v1/dossiers/${h.dossierId}/documents/${documentId}/file`)
        .query(query)
        .set('authorization', bearer(h.portal)),
    );

  test('the PDF is shown inline, as application/pdf that the browser may not sniff for another type', async () => {
    const stored = await upload(pdf(2), 'Factuur café.pdf', { type: 'application/pdf' });
    const preview = await file(stored.body.id, { disposition: 'inline' });
    expect(preview.status).toBe(200);
    expect(preview.headers['content-type']).toBe('application/pdf');
    expect(preview.headers['content-disposition']).toMatch(
      /^inline; filename="Factuur caf.\.pdf"; filename\*=UTF-8''Factuur%20caf%C3%A9\.pdf$/,
    );
    expect(preview.headers['x-content-type-options']).toBe('nosniff');
    expect((preview.body as Buffer).subarray(0, 5).toString()).toBe('%PDF-');
    // the download stays a download
    const download = await file(stored.body.id, {});
    expect(download.headers['content-disposition']).toMatch(/^attachment; /);
    expect(Buffer.compare(download.body as Buffer, preview.body as Buffer)).toBe(0);
  });

  test('a photo previews as its PDF, never as the image or XML handed in', async () => {
    const photo = await upload(JPEG, 'bonnetje.jpg', { type: 'image/jpeg' });
    const preview = await file(photo.body.id, { disposition: 'inline' });
    expect(preview.status).toBe(200);
    expect(preview.headers['content-type']).toBe('application/pdf');
    const original = await file(photo.body.id, { disposition: 'inline', variant: 'original' });
    expect(original.status).toBe(400);
    expect(original.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(original.headers['content-disposition']).toBeUndefined();
    const invoice = await upload(readFileSync(path.join(SAMPLES, 'base-example.xml')), 'e-factuur.xml');
    const xml = await file(invoice.body.id, { disposition: 'inline', variant: 'original' });
    expect(xml.status).toBe(400);
    expect((await file(invoice.body.id, { disposition: 'inline' })).headers['content-type']).toBe('application/pdf');
    expect((await file(photo.body.id, { disposition: 'embedded' })).status).toBe(400);
  });
});

describe('upload limits are gateway settings', () => {
  const MiB = 1024 * 1024;
  const appWith = (env: Record<string, string>) => gateway.appWith(env);
  const small = () => appWith({ UPLOAD_MAX_FILE_BYTES: '4096', UPLOAD_MAX_REQUEST_BYTES: '20000' });
  const bigPdf = () => pdf(100); // larger than 4 KiB

  const pdfs = (names: string[], big = '') =>
    names.map((name) => ({ body: name === big ? bigPdf() : pdf(1), fileName: name, type: 'application/pdf' }));

  test('a file over UPLOAD_MAX_FILE_BYTES is refused with 413 and nothing is stored', async () => {
    expect(bigPdf().length).toBeGreaterThan(4096);
    const limited = small();
    const before = await documentCount();
    const response = await upload(bigPdf(), 'groot.pdf', { type: 'application/pdf', mailbox: 'misc', to: limited });
    expect(response.status).toBe(413);
    expect(response.body).toMatchObject({
      type: problemType('payload-too-large'),
      detail: expect.stringContaining('4096'),
    });
    const fits = await upload(pdf(1), 'klein.pdf', { type: 'application/pdf', mailbox: 'misc', to: limited });
    expect(fits.status).toBe(201);
    expect(await documentCount()).toBe(before + 1);
    const document = (await request(limited).get('/openapi.json')).body;
    expect(document.paths['/v1/dossiers/{dossierId}/documents'].post.requestBody.description).toContain('4096 bytes');
  });

  test('in a multipart upload the file over the limit is refused by name, a page over it refuses the scan', async () => {
    const limited = small();
    const before = await documentCount();
    const to = (route: string, names: string[]) =>
      multipart(
        `/v1/dossiers/${h.dossierId}/${route}`,
        { mailbox: 'misc' },
        pdfs(names, 'groot.pdf'),
        bearer(h.portal),
        limited,
      );
    const response = await to('document-uploads', ['klein-1.pdf', 'groot.pdf', 'klein-2.pdf']);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ stored: 2, refused: 1 });
    expect(response.body.files[1]).toMatchObject({
      fileName: 'groot.pdf',
      refused: { status: 413, type: problemType('file-too-large'), detail: expect.stringContaining('groot.pdf') },
    });
    expect(await documentCount()).toBe(before + 2);
    const scan = await to('scans', ['p1.pdf', 'groot.pdf']);
    expect(scan.status).toBe(413);
    expect(scan.body.type).toBe(problemType('file-too-large'));
    expect(await documentCount()).toBe(before + 2);
    await expectNoOrphanObjects();
  });

  test('a multipart request over UPLOAD_MAX_REQUEST_BYTES as a whole is refused before anything is stored', async () => {
    const before = await documentCount();
    const parts = Array.from({ length: 12 }, (_, i) => ({
      body: pdf(40),
      fileName: `deel-${i}.pdf`,
      type: 'application/pdf',
    }));
    const response = await multipart(
      `/v1/dossiers/${h.dossierId}/document-uploads`,
      { mailbox: 'misc' },
      parts,
      bearer(h.portal),
      small(),
    );
    expect(response.status).toBe(413);
    expect(response.body.type).toBe(problemType('payload-too-large'));
    expect(await documentCount()).toBe(before);
  });

  test('a multi-file upload that outgrows UPLOAD_MAX_REQUEST_BYTES midway keeps the files before and names the one cut off', async () => {
    const before = await documentCount();
    // sent chunked, so the size is known only as it arrives: six files of 750 KB against a 4 MiB limit (far more
    // than what the gateway reads ahead of the file it is storing)
    const file = pdf(1, 750_000);
    const boundary = 'kantoor-test-boundary';
    const body = Buffer.concat([
      ...Array.from({ length: 6 }, (_, i) => [
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="deel-${i + 1}.pdf"\r\n` +
            'Content-Type: application/pdf\r\n\r\n',
        ),
        file,
        Buffer.from('\r\n'),
      ]).flat(),
      Buffer.from(`--${boundary}--\r\n`),
    ]);
    const call = request(appWith({ UPLOAD_MAX_FILE_BYTES: String(MiB), UPLOAD_MAX_REQUEST_BYTES: String(4 * MiB) }))
      .post(`/v1/dossiers/${h.dossierId}/document-uploads`)
      .query({ mailbox: 'misc' })
      .set('authorization', bearer(h.portal))
      .set('content-type', `multipart/form-data; boundary=${boundary}`);
    void call.write(body);
    const response = await call;
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ stored: 5, refused: 1 });
    expect(response.body.files.at(-1)).toMatchObject({
      position: 6,
      fileName: 'deel-6.pdf',
      refused: { status: 413, type: problemType('payload-too-large') },
    });
    expect(await documentCount()).toBe(before + 5);
    await expectNoOrphanObjects();
  });

  test('past UPLOAD_MAX_FILES_PER_REQUEST the files are refused by a clear problem and not stored', async () => {
    const capped = appWith({ UPLOAD_MAX_FILES_PER_REQUEST: '2' });
    const before = await documentCount();
    const response = await multipart(
      `/v1/dossiers/${h.dossierId}/document-uploads`,
      { mailbox: 'misc' },
      pdfs(['binnen-1.pdf', 'binnen-2.pdf', 'te-veel-3.pdf', 'te-veel-4.pdf']),
      bearer(h.portal),
      capped,
    );
    expect(response.status).toBe(200);
    // the two files within the cap keep their outcome, as any files before a body that breaks off
    expect(response.body).toMatchObject({ stored: 2, refused: 1 });
    expect(response.body.files).toMatchObject([
      { position: 1, fileName: 'binnen-1.pdf', document: { name: 'binnen-1' } },
      { position: 2, fileName: 'binnen-2.pdf', document: { name: 'binnen-2' } },
      {
        position: 3,
        refused: {
          status: 400,
          type: problemType('too-many-files'),
          detail: 'At most 2 files go in one request; send the others in another request.',
        },
      },
    ]);
    expect(await documentCount()).toBe(before + 2);
    const { rows } = await h.service.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM document WHERE name LIKE 'te-veel-%'",
    );
    expect(rows[0].n).toBe(0);
    await expectNoOrphanObjects();
    const described = (await request(capped).get('/openapi.json')).body.paths[
      '/v1/dossiers/{dossierId}/document-uploads'
    ].post.description;
    expect(described).toContain('At most 2 (the gateway setting UPLOAD_MAX_FILES_PER_REQUEST) files');
  });

  test('a scan of more pages than SCAN_MAX_PAGES is refused whole and stores nothing', async () => {
    const capped = appWith({ SCAN_MAX_PAGES: '2' });
    const before = await documentCount();
    const scan = (names: string[]) =>
      multipart(`/v1/dossiers/${h.dossierId}/scans`, { mailbox: 'misc' }, pdfs(names), bearer(h.portal), capped);
    const refused = await scan(['p1.pdf', 'p2.pdf', 'p3.pdf']);
    expect(refused.status).toBe(400);
    expect(refused.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(refused.body).toMatchObject({
      type: problemType('too-many-pages'),
      detail: expect.stringContaining('A scan has at most 2 pages'),
    });
    expect(await documentCount()).toBe(before);
    await expectNoOrphanObjects();
    // at the cap it is one document
    const fits = await scan(['p1.pdf', 'p2.pdf']);
    expect(fits.status).toBe(201);
    expect(fits.body).toMatchObject({ pages: 2, channel: 'scan' });
    const described = (await request(capped).get('/openapi.json')).body.paths['/v1/dossiers/{dossierId}/scans'].post
      .description;
    expect(described).toContain('At most 2 (the gateway setting SCAN_MAX_PAGES) parts');
  });

  test('raised above 50 MiB, the gateway passes a larger file on: the service is left to decide', async () => {
    const body = Buffer.concat([pdf(1), Buffer.alloc(51 * MiB - pdf(1).length, 0x20)]);
    const send = (to: typeof app) => upload(body, 'groot.pdf', { type: 'application/pdf', mailbox: 'misc', to });
    const byDefault = await send(app);
    expect(byDefault.status).toBe(413);
    expect(byDefault.body.type).toBe(problemType('payload-too-large'));
    // the intake's own INTAKE_MAX_FILE_BYTES (50 MiB in the harness) now refuses it, and says so
    const raised = await send(appWith({ UPLOAD_MAX_FILE_BYTES: String(60 * MiB) }));
    expect(raised.status).toBe(400);
    expect(raised.body.type).toBe(problemType('file-too-large'));
  });
});

describe('a multi-file upload whose body breaks off in the second file', () => {
  const boundary = 'kantoor-break';
  const partHead = (fileName: string) =>
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${fileName}"\r\n` +
        'Content-Type: application/pdf\r\n\r\n',
    );
  /** the first file whole, then the head and the first half of the second (a PDF of 600 kB, or a small one) */
  const brokenBody = (first: string, second: string, secondSize: 'large' | 'small' = 'large') => {
    const secondFile = pdf(1, secondSize === 'large' ? 600_000 : 0);
    return Buffer.concat([
      partHead(first),
      pdf(1),
      Buffer.from('\r\n'),
      partHead(second),
      secondFile.subarray(0, secondFile.length / 2),
    ]);
  };
  const storedEvents = async () =>
    (
      await h.service.db.query<{ payload: Uint8Array }>(
        "SELECT payload FROM outbox WHERE type = 'kantoor.document_intake.v1.DocumentStored' ORDER BY position",
      )
    ).rows.map((row) => unpackPayload(decodeEnvelope(new Uint8Array(row.payload))) as unknown as { name: string });
  const documentsNamed = async (name: string) =>
    (await h.service.db.query<{ id: string }>('SELECT id FROM document WHERE name = $1', [name])).rows;
  const until = async (what: string, done: () => boolean | Promise<boolean>) => {
    for (const deadline = Date.now() + 10_000; !(await done()); await new Promise((r) => setTimeout(r, 20)))
      if (Date.now() > deadline) throw new Error(`waited in vain for ${what}`);
  };

  /**
   * The intake client, counting the uploads under way: calls not yet settled, and request streams the call has
   * not read to their end nor closed. Both are back at zero when the gateway has let go of everything.
   */
  function countingIntake() {
    /** …and the bytes of the file chunks passed on */
    const open = { calls: 0, requestStreams: 0, started: 0, chunkBytes: 0 };
    async function* tracked<T extends { part: { case?: string; value?: unknown } }>(
      messages: AsyncIterable<T>,
    ): AsyncIterable<T> {
      open.requestStreams++;
      try {
        for await (const message of messages) {
          if (message.part.case === 'chunk') open.chunkBytes += (message.part.value as Uint8Array).length;
          yield message;
        }
      } finally {
        open.requestStreams--;
      }
    }
    const client = new Proxy(h.client, {
      get(target, key, receiver) {
        if (key !== 'uploadDocument') return Reflect.get(target, key, receiver);
        return (
          messages: Parameters<typeof target.uploadDocument>[0],
          options: Parameters<typeof target.uploadDocument>[1],
        ) => {
          open.calls++;
          open.started++;
          return target.uploadDocument(tracked(messages), options).finally(() => open.calls--);
        };
      },
    });
    return { client, open };
  }

  /**
   * The intake client of `countingIntake`, whose first upload call reads the gateway's whole file but passes it
   * on to the service only once `clientLeft()` is called; `read` resolves when the gateway has given it all.
   */
  function heldFirstUpload(client: ReturnType<typeof countingIntake>['client']) {
    let fileRead!: () => void;
    let clientLeft!: () => void;
    const read = new Promise<void>((resolve) => (fileRead = resolve));
    const left = new Promise<void>((resolve) => (clientLeft = resolve));
    let calls = 0;
    const held = new Proxy(client, {
      get(target, key, receiver) {
        if (key !== 'uploadDocument') return Reflect.get(target, key, receiver);
        type Messages = Parameters<typeof target.uploadDocument>[0];
        return (messages: Messages, options: Parameters<typeof target.uploadDocument>[1]) => {
          if (++calls > 1) return target.uploadDocument(messages, options);
          // the call is under way; its messages reach the service once the client has gone
          async function* afterTheClientLeft() {
            const all = [];
            for await (const message of messages) all.push(message);
            fileRead();
            await left;
            yield* all;
          }
          return target.uploadDocument(afterTheClientLeft() as Messages, options);
        };
      },
    });
    return { held, read, clientLeft };
  }

  async function listening(app: IntakeGateway['app']) {
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as AddressInfo).port,
      connections: () =>
        new Promise<number>((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n)))),
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }

  const post = (port: number, route = 'document-uploads?mailbox=misc') => {
    const outgoing = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: `/v1/dossiers/${h.dossierId}/${route}`,
      agent: false,
      headers: {
        authorization: bearer(h.portal),
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'transfer-encoding': 'chunked',
      },
    });
    const answer = new Promise<{ status: number; body: string } | 'closed'>((resolve) => {
      outgoing.on('response', (incoming: IncomingMessage) => {
        let body = '';
        incoming.setEncoding('utf8').on('data', (text: string) => (body += text));
        incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, body }));
      });
      outgoing.on('error', () => resolve('closed'));
    });
    return { outgoing, answer };
  };

  test('the client leaves mid-file: the first file stays stored, nothing of the second, nothing left open', async () => {
    const { client, open } = countingIntake();
    const server = await listening(
      gateway.appWith({}, { services: { directory: h.fx.directory, documentIntake: client } }),
    );
    const eventsBefore = (await storedEvents()).length;
    try {
      const { outgoing, answer } = post(server.port);
      outgoing.write(brokenBody('eerste-van-twee.pdf', 'tweede-van-twee.pdf'));
      // the first file is stored and the gateway is streaming the second one to the service: then the client goes
      await until('the second upload', () => open.started === 2);
      expect(await documentsNamed('eerste-van-twee')).toHaveLength(1);
      outgoing.destroy();
      expect(await answer).toBe('closed');
      await until('every upload call and request stream to end', () => open.calls === 0 && open.requestStreams === 0);
      await until('the connection to close', async () => (await server.connections()) === 0);
      expect(await documentsNamed('tweede-van-twee')).toEqual([]);
      const events = (await storedEvents()).slice(eventsBefore);
      expect(events.map((event) => event.name)).toEqual(['eerste-van-twee']);
      await expectNoOrphanObjects();
      // and the gateway goes on serving
      const next = await request(gateway.app)
        .get(`/v1/dossiers/${h.dossierId}/documents`)
        .query({ mailbox: 'misc', search: 'van-twee' })
        .set('authorization', bearer(h.portal));
      expect(next.status).toBe(200);
      expect(next.body.documents.map((document: { name: string }) => document.name)).toEqual(['eerste-van-twee']);
    } finally {
      await server.close();
    }
  });

  test('a scan whose client leaves between two whole pages: nothing of it is stored', async () => {
    const { client, open } = countingIntake();
    const server = await listening(
      gateway.appWith({}, { services: { directory: h.fx.directory, documentIntake: client } }),
    );
    const page = (n: number) =>
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="page"; filename="page-${n}.jpg"\r\n` +
          'Content-Type: image/jpeg\r\n\r\n',
      );
    try {
      const { outgoing, answer } = post(server.port, 'scans?mailbox=misc&fileName=afgebroken-scan');
      // two whole pages and the delimiter after the second: a third page or the body's end was still to come
      outgoing.write(
        Buffer.concat([page(1), JPEG, Buffer.from('\r\n'), page(2), JPEG, Buffer.from(`\r\n--${boundary}`)]),
      );
      await until('both pages to reach the service', () => open.chunkBytes === 2 * JPEG.length);
      outgoing.destroy();
      expect(await answer).toBe('closed');
      await until('the upload call and its request stream to end', () => open.calls === 0 && open.requestStreams === 0);
      // node:http2 closes the cancelled call's stream with a half-close and then a reset: whichever the service
      // sees first, two whole pages without the upload's end are no scan of two pages
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await documentsNamed('afgebroken-scan')).toEqual([]);
      await expectNoOrphanObjects();
    } finally {
      await server.close();
    }
  });

  test('the client leaves while the first file is still being stored: it is stored all the same', async () => {
    const { client, open } = countingIntake();
    // the gateway has read the whole first file, but the service gets it only after the client has gone
    const { held: heldFirst, read, clientLeft } = heldFirstUpload(client);
    const server = await listening(
      gateway.appWith({}, { services: { directory: h.fx.directory, documentIntake: heldFirst } }),
    );
    try {
      const { outgoing, answer } = post(server.port);
      // what is sent of the second file is small: the gateway reads it all while it waits for the service, and
      // so sees the client leave before the first file's answer
      outgoing.write(brokenBody('eerste-zonder-wachten.pdf', 'tweede-zonder-wachten.pdf', 'small'));
      await read;
      outgoing.destroy();
      expect(await answer).toBe('closed');
      await until('the connection to close', async () => (await server.connections()) === 0);
      clientLeft();
      await until(
        'every upload call and request stream to end',
        () => open.started > 0 && open.calls === 0 && open.requestStreams === 0,
      );
      expect(await documentsNamed('eerste-zonder-wachten')).toHaveLength(1);
      expect(await documentsNamed('tweede-zonder-wachten')).toEqual([]);
      await expectNoOrphanObjects();
    } finally {
      await server.close();
    }
  });

  test('the body ends mid-file (no closing boundary): the answer keeps the first file and refuses the second', async () => {
    const before = await documentCount();
    const server = await listening(gateway.app);
    const { outgoing, answer } = post(server.port);
    outgoing.end(brokenBody('eerste-afgebroken.pdf', 'tweede-afgebroken.pdf'));
    const response = await answer;
    await server.close();
    expect(response).not.toBe('closed');
    const { status, body } = response as { status: number; body: string };
    expect(status).toBe(200);
    expect(JSON.parse(body)).toMatchObject({
      stored: 1,
      refused: 1,
      files: [
        { position: 1, fileName: 'eerste-afgebroken.pdf', document: { name: 'eerste-afgebroken' } },
        {
          position: 2,
          fileName: 'tweede-afgebroken.pdf',
          refused: { status: 400, type: problemType('malformed-multipart') },
        },
      ],
    });
    expect(await documentCount()).toBe(before + 1);
    expect(await documentsNamed('tweede-afgebroken')).toEqual([]);
    await expectNoOrphanObjects();
  });

  test('a single-file upload the client sent whole is stored even when the client leaves before the answer', async () => {
    const { client, open } = countingIntake();
    // the service gets the file only after the client has gone
    const { held, read, clientLeft } = heldFirstUpload(client);
    const server = await listening(
      gateway.appWith({}, { services: { directory: h.fx.directory, documentIntake: held } }),
    );
    try {
      const file = pdf(1);
      const outgoing = httpRequest({
        host: '127.0.0.1',
        port: server.port,
        method: 'POST',
        path: `/v1/dossiers/${h.dossierId}/documents?mailbox=misc&fileName=heel-verstuurd.pdf`,
        agent: false,
        headers: {
          authorization: bearer(h.portal),
          'content-type': 'application/pdf',
          'content-length': String(file.length),
        },
      });
      const answer = new Promise<'answered' | 'closed'>((resolve) => {
        outgoing.on('response', () => resolve('answered'));
        outgoing.on('error', () => resolve('closed'));
      });
      outgoing.write(file);
      await read;
      outgoing.destroy();
      expect(await answer).toBe('closed');
      await until('the connection to close', async () => (await server.connections()) === 0);
      clientLeft();
      await until('the upload call to end', () => open.started === 1 && open.calls === 0 && open.requestStreams === 0);
      expect(await documentsNamed('heel-verstuurd')).toHaveLength(1);
    } finally {
      await server.close();
    }
  });
});
