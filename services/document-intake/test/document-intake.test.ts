import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { pdfText, scratchFolder } from '@kantoor/testing';
import path from 'node:path';
import { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import { PDFDocument } from 'pdf-lib';
import { timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import type { Caller } from '@kantoor/grpc';
import { decodeEnvelope, unpackPayload } from '@kantoor/events';
import type { DocumentStored } from '@kantoor/proto/kantoor/document_intake/v1/events_pb';
import { createUblThread } from '@kantoor/e-invoice';
import { DownloadLinks } from '../src';
import { DocumentActions } from '../src/domain/document-actions';
import { splitPdf } from '../src/domain/file-formats';
import { receiveDocument } from '../src/domain/receive-document';
import { messageUpTo } from '../src/entry-points/mail/intake-mail';
import {
  expectNothingStoredBy as nothingStoredBy,
  intakeState as stateOf,
  pdf,
  startIntake,
  whileDocumentRefused,
  type IntakeHarness,
} from './intake-harness';

const SAMPLES = path.resolve(__dirname, '../../../test/fixtures/peppol');
/** the key fields of the Peppol sample base-example.xml */
const BASE_EXAMPLE_INVOICE = {
  supplierName: 'SupplierOfficialName Ltd',
  supplierVatNumber: 'GB1232434',
  invoiceNumber: 'Snippet1',
  issueDate: '2017-11-13',
  total: '1656.25',
  currency: 'EUR',
};
let h: IntakeHarness;
beforeAll(async () => {
  h = await startIntake();
}, 60_000);
afterAll(() => h?.stop());

/** An upload as the gateway sends it: header, the pages' chunks (`nextPage` between pages), `end` unless told not to. */
async function* uploadStream(header: object, parts: Buffer[][], { end = true } = {}) {
  yield { part: { case: 'header' as const, value: header } };
  for (const [index, chunks] of parts.entries()) {
    if (index > 0) yield { part: { case: 'nextPage' as const, value: true } };
    for (const chunk of chunks) yield { part: { case: 'chunk' as const, value: chunk } };
  }
  if (end) yield { part: { case: 'end' as const, value: true } };
}

const upload = (
  caller: Caller,
  fileName: string,
  bytes: Buffer,
  mailbox = 'purchase',
  dossierId = h.dossierId,
  channel = '',
) =>
  h.client.uploadDocument(
    uploadStream({ dossierId, mailbox, fileName, channel }, [[bytes.subarray(0, 1000), bytes.subarray(1000)]]),
    { caller },
  );

const intakeState = (harness = h) => stateOf(harness);
const expectNothingStoredBy = (refused: () => Promise<unknown>, harness = h) => nothingStoredBy(refused, harness);

async function download(caller: Caller, documentId: string, variant = 'pdf') {
  const chunks: Buffer[] = [];
  let info: { fileName: string; contentType: string; size: bigint } | undefined;
  for await (const message of h.client.downloadDocument({ documentId, variant }, { caller })) {
    if (message.part.case === 'info') info = message.part.value;
    if (message.part.case === 'chunk') chunks.push(Buffer.from(message.part.value));
  }
  return { info, bytes: Buffer.concat(chunks) };
}

/** A PDF whose trailer names an encryption dictionary, as a password-protected PDF's does. */
async function encryptedPdf(): Promise<Buffer> {
  const doc = await PDFDocument.create();
  doc.addPage([200, 200]);
  const text = Buffer.from(await doc.save({ useObjectStreams: false })).toString('latin1');
  return Buffer.from(
    text.replace('trailer\n<<', 'trailer\n<<\n/Encrypt << /Filter /Standard /V 1 /R 2 /O <00> /U <00> /P -1 >>'),
    'latin1',
  );
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** The payloads of the events of one type in the service's outbox, in the order they were written. */
async function outboxEvents<T>(type: string): Promise<T[]> {
  const { rows } = await h.service.db.query<{ payload: Uint8Array }>(
    'SELECT payload FROM outbox WHERE type LIKE $1 ORDER BY position',
    [`%.${type}`],
  );
  return rows.map((row) => unpackPayload(decodeEnvelope(new Uint8Array(row.payload))) as unknown as T);
}

const storedEventOf = async (documentId: string) =>
  (await outboxEvents<DocumentStored>('DocumentStored')).find((event) => event.documentId === documentId)!;

const keyOf = (documentId: string, part: string, dossierId = h.dossierId) =>
  `documents/${dossierId}/${documentId}/${part}`;

/** An object as the DocumentStored event describes it. */
const described = (key: string, bytes: Buffer, contentType: string) => ({
  key,
  sha256: sha256(bytes),
  size: BigInt(bytes.length),
  contentType,
});

describe('upload', () => {
  it('stores a PDF with its page count, decided by content, and tells the archive all about it', async () => {
    const bytes = await pdf(3);
    const { document } = await upload(h.portal, 'factuur maart.pdf', bytes);
    expect(document).toMatchObject({
      name: 'factuur maart',
      type: 'pdf',
      channel: 'upload',
      pages: 3,
      status: 'draft',
      mailbox: 'purchase',
      sha256: sha256(bytes),
      size: BigInt(bytes.length),
    });
    const original = described(keyOf(document!.id, 'original'), bytes, 'application/pdf');
    const event = await storedEventOf(document!.id);
    expect(event).toMatchObject({
      firmId: h.admin.firmId,
      dossierId: h.dossierId,
      mailbox: 'purchase',
      name: 'factuur maart',
      channel: 'upload',
      type: 'pdf',
      originalFormat: 'pdf',
      // an uploaded PDF is its own PDF: one object
      original,
      pdf: original,
      pages: 3,
      actorKind: 'portal_user',
      actorId: h.portal.subjectId,
      senderEmail: '',
      status: 'draft',
      sourceDocumentIds: [],
      pagesOriginals: [],
      invoiceNumber: '',
    });
    expect(timestampDate(event.createdAt!)).toEqual(timestampDate(document!.createdAt!));
  });

  it('turns a JPEG into a one-page PDF upright, keeping the original', async () => {
    const jpeg = readFileSync(path.join(__dirname, 'fixtures/stripe.jpg'));
    const { document } = await upload(h.portal, 'bonnetje.jpg', jpeg);
    expect(document).toMatchObject({ type: 'pdf', originalFormat: 'jpeg', pages: 1 });
    const rendered = await PDFDocument.load((await download(h.portal, document!.id)).bytes);
    expect(rendered.getPage(0).getSize()).toEqual({ width: 493, height: 58 });
    expect((await download(h.portal, document!.id, 'original')).bytes.equals(jpeg)).toBe(true);
    expect(await storedEventOf(document!.id)).toMatchObject({
      originalFormat: 'jpeg',
      pages: 1,
      original: described(keyOf(document!.id, 'original'), jpeg, 'image/jpeg'),
      pdf: described(
        keyOf(document!.id, 'document.pdf'),
        (await download(h.portal, document!.id)).bytes,
        'application/pdf',
      ),
    });
    // EXIF orientation 6 (rotated 90°): the page is upright, so width and height swap
    const exif = Buffer.from('45786966000049492a00080000000100120103000100000006000000', 'hex');
    const app1 = Buffer.concat([Buffer.from([0xff, 0xe1]), Buffer.from([0, exif.length + 2]), exif]);
    const rotated = Buffer.concat([jpeg.subarray(0, 2), app1, jpeg.subarray(2)]);
    const turned = await upload(h.portal, 'gedraaid.jpg', rotated);
    const page = (await PDFDocument.load((await download(h.portal, turned.document!.id)).bytes)).getPage(0).getSize();
    expect(page).toEqual({ width: 58, height: 493 });
  });

  it('an upload whose bytes fail midway (the call was cancelled) ends at once and leaves nothing behind', async () => {
    const before = await intakeState();
    const bytes = await pdf(3);
    // what the RPC hands over when grpc-js destroys the request stream of a cancelled call: a page that fails
    async function* cancelledMidway() {
      yield bytes.subarray(0, 100);
      yield bytes.subarray(100, 200);
      await new Promise((resolve) => setTimeout(resolve, 50));
      throw Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    }
    async function* pages() {
      yield { bytes: Readable.from(cancelledMidway(), { objectMode: false }), contentType: '' };
    }
    const intake = {
      db: h.service.db,
      store: h.objects,
      eventsWritten: () => undefined,
      maxFileBytes: 50 * 1024 * 1024,
    };
    const incoming = {
      firmId: h.portal.firmId,
      dossierId: h.dossierId,
      mailbox: 'purchase' as const,
      fileName: 'afgebroken.pdf',
      channel: 'upload' as const,
      actor: { kind: 'portal_user', id: h.portal.subjectId },
    };
    const outcome = await Promise.race([
      receiveDocument(intake, incoming, pages()).then(
        () => 'stored',
        (error: Error) => `failed: ${error.message}`,
      ),
      new Promise((resolve) => setTimeout(() => resolve('still waiting for the rest of the file'), 5000)),
    ]);
    expect(outcome).toBe('failed: Premature close');
    expect(await intakeState()).toEqual(before);
  });

  it('reads a UBL invoice, stores its key fields and renders a PDF', async () => {
    const xml = readFileSync(path.join(SAMPLES, 'base-example.xml'));
    const { document } = await upload(h.portal, 'base-example.xml', xml);
    expect(document).toMatchObject({
      type: 'ubl',
      hasPdf: true,
      invoice: BASE_EXAMPLE_INVOICE,
    });
    const rendition = (await download(h.portal, document!.id)).bytes;
    expect(rendition.subarray(0, 5).toString()).toBe('%PDF-');
    // the rendition is the invoice as an accountant reads it: the lines, the VAT, what to pay and where to
    const shown = (await pdfText(rendition)).text.replace(/\s+/g, ' ');
    for (const expected of [
      'Invoice Snippet1',
      'SupplierOfficialName Ltd Buyer Official Name',
      '1 item name 7 day 400.00 S 25% 2800.00',
      'Charge: Insurance S 25% 25.00 EUR',
      'Standard rate (S) 25% 1325.00 EUR 331.25 EUR',
      'Amount due 1656.25 EUR',
      'Account (IBAN) IBAN32423940',
    ])
      expect(shown).toContain(expected);
    expect(await storedEventOf(document!.id)).toMatchObject({
      type: 'ubl',
      originalFormat: 'xml',
      original: described(keyOf(document!.id, 'original'), xml, 'application/xml'),
      pdf: described(keyOf(document!.id, 'document.pdf'), rendition, 'application/pdf'),
      ...BASE_EXAMPLE_INVOICE,
    });
  });

  it('refuses a UBL invoice that needs more memory than its reading thread has, leaves nothing, and reads the next', async () => {
    const before = await intakeState();
    const ubl = createUblThread({ maxMemoryMb: 32 });
    const intake = { db: h.service.db, store: h.objects, eventsWritten: () => undefined, maxFileBytes: 50 << 20, ubl };
    const received = (fileName: string, bytes: Buffer) =>
      receiveDocument(
        intake,
        {
          firmId: h.portal.firmId,
          dossierId: h.dossierId,
          mailbox: 'purchase',
          fileName,
          channel: 'upload',
          actor: { kind: 'portal_user', id: h.portal.subjectId },
        },
        (async function* () {
          yield { bytes: Readable.from([bytes]), contentType: '' };
        })(),
      );
    const example = readFileSync(path.join(SAMPLES, 'base-example.xml'), 'utf8');
    const line = /<cac:InvoiceLine>[\s\S]*?<\/cac:InvoiceLine>/.exec(example)![0];
    // 6,000 lines, 8 MB: a real file does not look like this, but one like it must not stop the service
    const manyLines = Buffer.from(example.replace(line, line.repeat(6000)));
    try {
      await expect(received('duizenden regels.xml', manyLines)).rejects.toMatchObject({
        kind: 'invalid_argument',
        reason: 'ubl_too_complex',
        message: expect.stringContaining('needs more than 32 MB of memory'),
      });
      expect(await intakeState()).toEqual(before);
      const next = await received('base-example.xml', Buffer.from(example));
      expect(next).toMatchObject({ type: 'ubl', name: 'base-example' });
    } finally {
      await ubl.close();
    }
  });

  const jpeg = () => readFileSync(path.join(__dirname, 'fixtures/stripe.jpg'));
  const scanOf = (pages: Buffer[]) =>
    h.client.uploadDocument(
      uploadStream(
        { dossierId: h.dossierId, mailbox: 'misc', fileName: 'scan', channel: 'scan' },
        pages.map((page) => [page]),
      ),
      { caller: h.portal },
    );
  const invoiceXml = () => readFileSync(path.join(SAMPLES, 'base-example.xml'), 'utf8');
  const uploadOf = (fileName: string, bytes: Buffer | string) => () => upload(h.portal, fileName, Buffer.from(bytes));
  /** an upload whose client declared its Content-Type */
  const uploadAs = (contentType: string, fileName: string, bytes: Buffer) =>
    h.client.uploadDocument(
      uploadStream({ dossierId: h.dossierId, mailbox: 'purchase', fileName, channel: '', contentType }, [[bytes]]),
      { caller: h.portal },
    );
  /** a scan whose client declared each page's Content-Type, as the gateway sends it */
  async function* declaredScan(pages: Array<[string, Buffer]>) {
    yield {
      part: {
        case: 'header' as const,
        value: { dossierId: h.dossierId, mailbox: 'misc', fileName: 'scan', channel: 'scan', contentType: pages[0][0] },
      },
    };
    for (const [index, [contentType, bytes]] of pages.entries()) {
      if (index > 0) {
        yield { part: { case: 'nextPage' as const, value: true } };
        yield { part: { case: 'pageContentType' as const, value: contentType } };
      }
      yield { part: { case: 'chunk' as const, value: bytes } };
    }
    yield { part: { case: 'end' as const, value: true } };
  }
  const scanAs = (pages: Array<[string, Buffer]>) => h.client.uploadDocument(declaredScan(pages), { caller: h.portal });
  const refusals: Array<[string, () => Promise<unknown>, string, RegExp]> = [
    [
      'an encrypted PDF',
      async () => upload(h.portal, 'x.pdf', await encryptedPdf()),
      'encrypted_pdf',
      /^"x.pdf" is a password-protected \(encrypted\) PDF; remove the protection and try again.$/,
    ],
    [
      'a corrupt PDF',
      async () => upload(h.portal, 'x.pdf', (await pdf()).subarray(0, 300)),
      'corrupt_pdf',
      /damaged PDF/,
    ],
    ['an empty file', uploadOf('leeg.pdf', ''), 'empty_file', /^"leeg.pdf" is empty.$/],
    [
      'a PDF named .jpg',
      async () => upload(h.portal, 'photo.jpg', await pdf()),
      'content_mismatch',
      /named as JPEG but its content is PDF/,
    ],
    [
      'a JPEG named .pdf',
      () => upload(h.portal, 'scan.pdf', jpeg()),
      'content_mismatch',
      /named as PDF but its content is JPEG/,
    ],
    [
      'a PDF named .jpe',
      async () => upload(h.portal, 'photo.jpe', await pdf()),
      'content_mismatch',
      /named as JPEG but its content is PDF/,
    ],
    [
      'a PDF named .ubl',
      async () => upload(h.portal, 'factuur.ubl', await pdf()),
      'content_mismatch',
      /named as XML but its content is PDF/,
    ],
    [
      'a PDF named .docx',
      async () => upload(h.portal, 'brief.docx', await pdf()),
      'unsupported_type',
      /files of type .docx are not accepted/,
    ],
    [
      'a JPEG cut short',
      () => upload(h.portal, 'bon.jpg', jpeg().subarray(0, 3000)),
      'corrupt_jpeg',
      /damaged JPEG image/,
    ],
    [
      'a Word file',
      uploadOf('x.docx', 'PK\u0003\u0004 word document'),
      'unsupported_type',
      /not a PDF, JPEG or UBL file/,
    ],
    [
      'an XML with a DTD',
      uploadOf(
        'x.xml',
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Invoice>&e;</Invoice>',
      ),
      'ubl_dtd_refused',
      /DTD or entities/,
    ],
    [
      'XML that is not well-formed',
      uploadOf('x.xml', '<?xml version="1.0"?><Invoice><ID>1</Invoice>'),
      'ubl_not_well_formed',
      /not well-formed/,
    ],
    [
      'XML that is not an invoice',
      uploadOf('order.xml', '<?xml version="1.0"?><Order><ID>1</ID></Order>'),
      'ubl_not_invoice',
      /not a UBL invoice or credit note \(root element Order\)/,
    ],
    [
      'a UBL invoice without its number',
      () => upload(h.portal, 'zonder nummer.xml', Buffer.from(invoiceXml().replace('<cbc:ID>Snippet1</cbc:ID>', ''))),
      'ubl_missing_field',
      /^The Invoice has no /,
    ],
    [
      'several files as one upload',
      async () =>
        h.client.uploadDocument(
          uploadStream({ dossierId: h.dossierId, mailbox: 'purchase', fileName: 'twee.pdf', channel: '' }, [
            [await pdf()],
            [await pdf()],
          ]),
          { caller: h.portal },
        ),
      'pages_not_allowed',
      /Only the scan channel sends several pages as one document./,
    ],
    [
      'an XML page in a scan',
      async () => scanOf([await pdf(), Buffer.from(invoiceXml())]),
      'unsupported_type',
      /A scanned page must be a JPEG image or a PDF./,
    ],
    [
      'a PDF declared as image/jpeg',
      async () => uploadAs('image/jpeg', 'factuur', await pdf()),
      'content_type_mismatch',
      /^"factuur" was sent as image\/jpeg but its content is PDF.$/,
    ],
    [
      'a JPEG declared as application/pdf, whatever the case and parameters',
      () => uploadAs('Application/PDF; charset=binary', 'bon.jpg', jpeg()),
      'content_type_mismatch',
      /^"bon.jpg" was sent as application\/pdf but its content is JPEG.$/,
    ],
    [
      'a UBL invoice declared as a PDF',
      () => uploadAs('application/pdf', 'factuur.xml', Buffer.from(invoiceXml())),
      'content_type_mismatch',
      /was sent as application\/pdf but its content is XML/,
    ],
    [
      'a PDF declared as an image of another kind',
      async () => uploadAs('image/png', 'factuur.pdf', await pdf()),
      'unsupported_type',
      /^"factuur.pdf" was sent as image\/png; a document is sent as application\/pdf, image\/jpeg or application\/xml.$/,
    ],
    [
      'a scan whose second page, declared a JPEG, is a PDF',
      async () =>
        scanAs([
          ['image/jpeg', jpeg()],
          ['image/jpeg', await pdf()],
        ]),
      'content_type_mismatch',
      /^"page 2" was sent as image\/jpeg but its content is PDF.$/,
    ],
    [
      'the api channel from someone without an API key',
      async () => upload(h.portal, 'feed.pdf', await pdf(), 'purchase', h.dossierId, 'api'),
      'invalid_channel',
      /The api channel is for API keys./,
    ],
  ];
  it.each(refusals)('refuses %s with the reason and stores nothing', async (_what, send, reason, message) => {
    await expectNothingStoredBy(() =>
      expect(send()).rejects.toMatchObject({
        kind: 'invalid_argument',
        reason,
        message: expect.stringMatching(message),
      }),
    );
  });

  it('takes a file declared as its own type (aliases too) or as no type in particular', async () => {
    const accepted: Array<[string, string, Buffer, string]> = [
      ['image/jpeg', 'bon', jpeg(), 'jpeg'],
      ['image/jpg', 'bon.jpg', jpeg(), 'jpeg'],
      ['application/pdf', 'factuur', await pdf(), 'pdf'],
      ['application/octet-stream', 'factuur.pdf', await pdf(), 'pdf'],
      ['', 'bon.jpg', jpeg(), 'jpeg'],
      ['text/xml', 'factuur.xml', Buffer.from(invoiceXml()), 'xml'],
      ['application/xml; charset=utf-8', 'factuur.ubl', Buffer.from(invoiceXml()), 'xml'],
    ];
    for (const [contentType, fileName, bytes, originalFormat] of accepted)
      expect((await uploadAs(contentType, fileName, bytes)).document).toMatchObject({ originalFormat });
    const scanned = await scanAs([
      ['image/jpg', jpeg()],
      ['application/pdf', await pdf(2)],
      ['application/octet-stream', jpeg()],
    ]);
    expect(scanned.document).toMatchObject({ channel: 'scan', pages: 4 });
  });

  it('accepts .jpe and .ubl names for a JPEG and a UBL invoice', async () => {
    expect((await upload(h.portal, 'bon.jpe', jpeg())).document).toMatchObject({ name: 'bon', originalFormat: 'jpeg' });
    expect((await upload(h.portal, 'factuur.ubl', Buffer.from(invoiceXml()))).document).toMatchObject({
      name: 'factuur',
      type: 'ubl',
    });
  });

  it('builds one document from scanned pages', async () => {
    const jpeg = readFileSync(path.join(__dirname, 'fixtures/stripe.jpg'));
    const { document } = await h.client.uploadDocument(
      uploadStream({ dossierId: h.dossierId, mailbox: 'misc', fileName: 'scan 1', channel: 'scan' }, [
        [jpeg],
        [await pdf(2)],
        [jpeg],
      ]),
      { caller: h.portal },
    );
    expect(document).toMatchObject({ channel: 'scan', pages: 4, mailbox: 'misc' });
  });

  describe('an upload that broke off', () => {
    const header = (fileName: string, channel = '') => ({ dossierId: h.dossierId, mailbox: 'misc', fileName, channel });
    const incomplete = { kind: 'invalid_argument', reason: 'upload_incomplete' };

    it.each([
      ['a whole JPEG', () => uploadStream(header('bon.jpg'), [[jpeg()]], { end: false })],
      [
        'a scan after its second page',
        () => uploadStream(header('scan', 'scan'), [[jpeg()], [jpeg()]], { end: false }),
      ],
      [
        'a scan right after a next-page marker',
        async function* () {
          yield* uploadStream(header('scan', 'scan'), [[jpeg()]], { end: false });
          yield { part: { case: 'nextPage' as const, value: true } };
        },
      ],
    ])('is refused when its stream closes without its end (%s), and nothing is stored', async (_what, messages) => {
      await expectNothingStoredBy(() =>
        expect(h.client.uploadDocument(messages(), { caller: h.portal })).rejects.toMatchObject({
          ...incomplete,
          message: 'The upload broke off before its end; nothing of it was stored.',
        }),
      );
    });

    it('refuses a message after the end, and stores nothing', async () => {
      await expectNothingStoredBy(() =>
        expect(
          h.client.uploadDocument(
            (async function* () {
              yield* uploadStream(header('bon.jpg'), [[jpeg()]]);
              yield { part: { case: 'chunk' as const, value: jpeg() } };
            })(),
            { caller: h.portal },
          ),
        ).rejects.toMatchObject({ kind: 'invalid_argument', reason: 'after_end' }),
      );
    });

    it('keeps nothing of a scan whose client cancelled it between pages, though the service sees its stream close first', async () => {
      // node:http2 half-closes a stream before it resets it: without the end marker the half-close would read as
      // the end of a scan of the two pages sent so far (each page whole, so no page is damaged)
      const before = await intakeState();
      let begun = false;
      const source = new Readable({
        objectMode: true,
        read() {
          if (begun) return;
          begun = true;
          this.push({ part: { case: 'header', value: header('half', 'scan') } });
          this.push({ part: { case: 'chunk', value: jpeg() } });
          this.push({ part: { case: 'nextPage', value: true } });
          this.push({ part: { case: 'chunk', value: jpeg() } });
          setTimeout(() => this.destroy(new Error('the client left')), 50);
        },
      });
      await expect(h.client.uploadDocument(source as never, { caller: h.portal })).rejects.toThrow('the client left');
      // the next upload is stored; the cancelled one, whose stream closed before, is not
      await upload(h.portal, 'daarna.pdf', await pdf(), 'misc');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const after = await intakeState();
      expect(after.documents).toBe(before.documents + 1);
      const { documents } = await h.client.listDocuments(
        { dossierId: h.dossierId, mailbox: 'misc', search: 'half' },
        { caller: h.portal },
      );
      expect(documents).toEqual([]);
    });
  });
});

describe('scanned documents', () => {
  const jpeg = readFileSync(path.join(__dirname, 'fixtures/stripe.jpg'));
  const scan = async (fileName: string, pages: Buffer[]) =>
    (
      await h.client.uploadDocument(
        uploadStream(
          { dossierId: h.dossierId, mailbox: 'misc', fileName, channel: 'scan' },
          pages.map((page) => [page]),
        ),
        { caller: h.portal },
      )
    ).document!;
  it('a one-page JPEG scan: the original is the JPEG (downloaded as .jpg), the PDF its rendition', async () => {
    const document = await scan('bon', [jpeg]);
    expect(document).toMatchObject({
      originalFormat: 'jpeg',
      pages: 1,
      size: BigInt(jpeg.length),
      sha256: sha256(jpeg),
    });
    const original = await download(h.portal, document.id, 'original');
    expect(original.info).toMatchObject({ fileName: 'bon.jpg', contentType: 'image/jpeg', size: BigInt(jpeg.length) });
    expect(original.bytes.equals(jpeg)).toBe(true);
    const rendition = await download(h.portal, document.id);
    expect(rendition.info).toMatchObject({ fileName: 'bon.pdf', contentType: 'application/pdf' });
    expect((await PDFDocument.load(rendition.bytes)).getPageCount()).toBe(1);
    const page = keyOf(document.id, 'page-001');
    expect(await storedEventOf(document.id)).toMatchObject({
      channel: 'scan',
      originalFormat: 'jpeg',
      pages: 1,
      original: described(page, jpeg, 'image/jpeg'),
      pdf: described(keyOf(document.id, 'document.pdf'), rendition.bytes, 'application/pdf'),
      pagesOriginals: [described(page, jpeg, 'image/jpeg')],
    });
  });

  it('a one-page PDF scan is its own original and PDF', async () => {
    const page = await pdf(2);
    const document = await scan('brief', [page]);
    expect(document).toMatchObject({ originalFormat: 'pdf', pages: 2, sha256: sha256(page) });
    const original = await download(h.portal, document.id, 'original');
    expect(original.info).toMatchObject({ fileName: 'brief.pdf', contentType: 'application/pdf' });
    expect(original.bytes.equals(page)).toBe(true);
    expect((await download(h.portal, document.id)).bytes.equals(page)).toBe(true);
    const key = keyOf(document.id, 'page-001');
    expect(await storedEventOf(document.id)).toMatchObject({
      original: described(key, page, 'application/pdf'),
      pdf: described(key, page, 'application/pdf'),
      pagesOriginals: [described(key, page, 'application/pdf')],
    });
  });

  it('a multi-page scan downloads its original as the PDF of its pages; the event lists every page with its type', async () => {
    const two = await pdf(2);
    const document = await scan('stapel', [jpeg, two, jpeg]);
    expect(document).toMatchObject({ originalFormat: 'pdf', pages: 4 });
    const original = await download(h.portal, document.id, 'original');
    expect(original.info).toMatchObject({
      fileName: 'stapel.pdf',
      contentType: 'application/pdf',
      size: BigInt(original.bytes.length),
    });
    expect((await PDFDocument.load(original.bytes)).getPageCount()).toBe(4);
    expect((await download(h.portal, document.id)).bytes.equals(original.bytes)).toBe(true);
    expect(document.sha256).toBe(sha256(original.bytes));
    const merged = described(keyOf(document.id, 'document.pdf'), original.bytes, 'application/pdf');
    expect(await storedEventOf(document.id)).toMatchObject({
      originalFormat: 'pdf',
      pages: 4,
      original: merged,
      pdf: merged,
      pagesOriginals: [
        described(keyOf(document.id, 'page-001'), jpeg, 'image/jpeg'),
        described(keyOf(document.id, 'page-002'), two, 'application/pdf'),
        described(keyOf(document.id, 'page-003'), jpeg, 'image/jpeg'),
      ],
    });
  });
});

describe('access', () => {
  it('a portal user never sees another dossier', async () => {
    await expect(h.client.listDocuments({ dossierId: h.otherDossierId }, { caller: h.portal })).rejects.toMatchObject({
      kind: 'not_found',
    });
    await expect(upload(h.portal, 'x.pdf', await pdf(), 'purchase', h.otherDossierId)).rejects.toMatchObject({
      kind: 'not_found',
    });
    const own = await upload(h.admin, 'van kantoor.pdf', await pdf(), 'purchase', h.otherDossierId);
    await expect(h.client.getDocument({ documentId: own.document!.id }, { caller: h.portal })).rejects.toMatchObject({
      kind: 'not_found',
    });
  });

  it('support staff see only dossiers they are assigned to, from the moment the directory says so', async () => {
    const listAsSupport = (dossierId: string) =>
      h.client.listDocuments({ dossierId }, { caller: h.support }).then(
        () => 'allowed',
        (error: { reason?: string }) => error.reason,
      );
    expect(await listAsSupport(h.dossierId)).toBe('not_assigned');
    const assign = (ids: string[]) =>
      h.fx.directory.assignDossier({ dossierId: h.dossierId, collaboratorStaffIds: { ids } }, { caller: h.admin });
    // the intake keeps access facts between calls: the directory's event about the change makes it forget them
    await assign([h.support.subjectId]);
    await eventually(async () => expect(await listAsSupport(h.dossierId)).toBe('allowed'));
    expect(await listAsSupport(h.otherDossierId)).toBe('not_assigned');
    await assign([]);
    await eventually(async () => expect(await listAsSupport(h.dossierId)).toBe('not_assigned'));
  });
});

/** Retries `check` until it passes, for at most two seconds (an event on its way). */
async function eventually<T>(check: () => Promise<T>): Promise<T> {
  const until = Date.now() + 2000;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > until) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

describe('mailbox actions and status', () => {
  it('lists with search and cursor pagination; staff see only sent documents', async () => {
    for (const name of ['alpha 1', 'alpha 2', 'alpha 3']) await upload(h.portal, `${name}.pdf`, await pdf());
    const first = await h.client.listDocuments(
      { dossierId: h.dossierId, search: 'ALPHA', pageSize: 2 },
      { caller: h.portal },
    );
    expect(first.documents.map((doc) => doc.name)).toEqual(['alpha 3', 'alpha 2']);
    const second = await h.client.listDocuments(
      { dossierId: h.dossierId, search: 'alpha', pageSize: 2, cursor: first.nextCursor },
      { caller: h.portal },
    );
    expect(second.documents.map((doc) => doc.name)).toEqual(['alpha 1']);
    expect(second.nextCursor).toBe('');
    const staffView = await h.client.listDocuments({ dossierId: h.dossierId, search: 'alpha' }, { caller: h.admin });
    expect(staffView.documents).toEqual([]);
  });

  it('renames, moves, splits, merges in order, sends and processes, never back', async () => {
    const { document } = await upload(h.portal, 'stapel.pdf', await pdf(4));
    const renamed = await h.client.renameDocument(
      { documentId: document!.id, name: 'Stapel april' },
      { caller: h.portal },
    );
    expect(renamed.document!.name).toBe('Stapel april');
    expect(
      (await h.client.moveDocument({ documentId: document!.id, mailbox: 'sales' }, { caller: h.portal })).document!
        .mailbox,
    ).toBe('sales');
    const split = await h.client.splitDocument(
      {
        documentId: document!.id,
        groups: [
          { name: 'deel A', pages: [1, 2] },
          { name: 'deel B', pages: [4, 3] },
        ],
      },
      { caller: h.portal },
    );
    expect(split.documents.map((doc) => [doc.name, doc.pages])).toEqual([
      ['deel A', 2],
      ['deel B', 2],
    ]);
    await expect(
      h.client.splitDocument({ documentId: document!.id, groups: [{ name: 'x', pages: [9] }] }, { caller: h.portal }),
    ).rejects.toThrow('Page 9 does not exist');
    const merged = await h.client.mergeDocuments(
      { documentIds: [split.documents[1].id, split.documents[0].id], name: 'samen' },
      { caller: h.portal },
    );
    expect(merged.document).toMatchObject({ name: 'samen', pages: 4, channel: 'upload' });
    await h.client.setPaid({ documentId: merged.document!.id, paid: true }, { caller: h.portal });
    await h.client.setRemark({ documentId: merged.document!.id, remark: 'graag snel' }, { caller: h.portal });
    await expect(
      h.client.markProcessed({ documentIds: [merged.document!.id] }, { caller: h.admin }),
    ).rejects.toMatchObject({ reason: 'not_sent' });
    const sent = await h.client.sendDocuments({ documentIds: [merged.document!.id] }, { caller: h.portal });
    expect(sent.documents[0]).toMatchObject({ status: 'sent', paid: true, remark: 'graag snel' });
    const asStaff = await h.client.getDocument({ documentId: merged.document!.id }, { caller: h.admin });
    expect(asStaff.document).toMatchObject({ status: 'sent', paid: false });
    await h.client.markProcessed({ documentIds: [merged.document!.id] }, { caller: h.admin });
    const again = await h.client.sendDocuments({ documentIds: [merged.document!.id] }, { caller: h.portal });
    expect(again.documents[0].status).toBe('processed');
    await h.client.deleteDocument({ documentId: document!.id }, { caller: h.portal });
    await expect(h.client.getDocument({ documentId: document!.id }, { caller: h.portal })).rejects.toMatchObject({
      kind: 'not_found',
    });
    const [partA, partB] = split.documents;
    const ofDocument = async (type: string, field = 'documentId') =>
      (await outboxEvents<Record<string, unknown>>(type)).filter((event) => event[field] === document!.id);
    const context = { firmId: h.admin.firmId, dossierId: h.dossierId };
    const byPortal = { ...context, actorId: h.portal.subjectId };
    expect(await ofDocument('DocumentRenamed')).toEqual([
      expect.objectContaining({ ...byPortal, previousName: 'stapel', name: 'Stapel april' }),
    ]);
    expect(await ofDocument('DocumentMoved')).toEqual([
      expect.objectContaining({ ...byPortal, previousMailbox: 'purchase', mailbox: 'sales' }),
    ]);
    expect(await ofDocument('DocumentSplit')).toEqual([
      expect.objectContaining({ ...byPortal, resultDocumentIds: [partA.id, partB.id] }),
    ]);
    const partAStored = await storedEventOf(partA.id);
    expect(partAStored).toMatchObject({
      mailbox: 'sales',
      name: 'deel A',
      pages: 2,
      channel: 'upload',
      sourceDocumentIds: [document!.id],
      actorId: h.portal.subjectId,
      status: 'draft',
    });
    expect(partAStored.original).toEqual(partAStored.pdf);
    expect(partAStored.original).toMatchObject({
      key: keyOf(partA.id, 'document.pdf'),
      contentType: 'application/pdf',
    });
    const mergedId = merged.document!.id;
    expect((await outboxEvents<object>('DocumentsMerged')).at(-1)).toMatchObject({
      ...byPortal,
      sourceDocumentIds: [partB.id, partA.id],
      resultDocumentId: mergedId,
    });
    expect(await storedEventOf(mergedId)).toMatchObject({ pages: 4, sourceDocumentIds: [partB.id, partA.id] });
    const updates = (await outboxEvents<{ documentId: string }>('DocumentUpdated')).filter(
      (event) => event.documentId === mergedId,
    );
    expect(updates).toEqual([
      expect.objectContaining({ ...byPortal, paid: true, remark: '' }),
      expect.objectContaining({ ...byPortal, paid: true, remark: 'graag snel' }),
    ]);
    const withMerged = async <T extends { documentIds: string[] }>(type: string) =>
      (await outboxEvents<T>(type)).filter((event) => event.documentIds.includes(mergedId));
    // sending it again once processed changes nothing and tells nobody: one DocumentsSent
    const sentEvents = await withMerged<{ documentIds: string[]; sentAt: Timestamp }>('DocumentsSent');
    expect(sentEvents).toEqual([expect.objectContaining({ ...byPortal, documentIds: [mergedId], automatic: false })]);
    expect(timestampDate(sentEvents[0].sentAt)).toEqual(timestampDate(sent.documents[0].sentAt!));
    const processedEvents = await withMerged<{ documentIds: string[] }>('DocumentsProcessed');
    expect(processedEvents).toEqual([
      expect.objectContaining({ ...context, actorId: h.admin.subjectId, documentIds: [mergedId] }),
    ]);
    const deletedEvents = await ofDocument('DocumentDeleted');
    expect(deletedEvents).toEqual([expect.objectContaining({ ...byPortal, deletedAt: expect.anything() })]);
  });
});

describe('single-document actions', () => {
  it('delete takes the document out of the mailbox and keeps its objects for the archive', async () => {
    const jpeg = readFileSync(path.join(__dirname, 'fixtures/stripe.jpg'));
    const { document } = await upload(h.portal, 'weg ermee.jpg', jpeg);
    const rendition = (await download(h.portal, document!.id)).bytes;
    await h.client.deleteDocument({ documentId: document!.id }, { caller: h.portal });
    await expect(h.client.getDocument({ documentId: document!.id }, { caller: h.portal })).rejects.toMatchObject({
      kind: 'not_found',
    });
    const listed = await h.client.listDocuments({ dossierId: h.dossierId, search: 'weg ermee' }, { caller: h.portal });
    expect(listed.documents).toEqual([]);
    const read = async (key: string) => {
      const chunks: Buffer[] = [];
      for await (const chunk of await h.objects.get(key)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    };
    expect((await read(keyOf(document!.id, 'original'))).equals(jpeg)).toBe(true);
    expect((await read(keyOf(document!.id, 'document.pdf'))).equals(rendition)).toBe(true);
  });

  it('a processed document stays in its mailbox: moving it is refused and changes nothing', async () => {
    const { document } = await upload(h.portal, 'verwerkt.pdf', await pdf());
    await h.client.sendDocuments({ documentIds: [document!.id] }, { caller: h.portal });
    await h.client.markProcessed({ documentIds: [document!.id] }, { caller: h.admin });
    await expectNothingStoredBy(() =>
      expect(
        h.client.moveDocument({ documentId: document!.id, mailbox: 'sales' }, { caller: h.portal }),
      ).rejects.toMatchObject({
        kind: 'failed_precondition',
        reason: 'already_processed',
        message: 'A processed document stays where it is.',
      }),
    );
    const after = await h.client.getDocument({ documentId: document!.id }, { caller: h.portal });
    expect(after.document).toMatchObject({ mailbox: 'purchase', status: 'processed' });
  });

  it('refuses a split or merge whose result would be too large, leaving no document and no file behind', async () => {
    // a page showing a photo: every part holding that page holds the photo
    const photo = await PDFDocument.create();
    const image = await photo.embedJpg(readFileSync(path.join(__dirname, 'fixtures/stripe.jpg')));
    photo.addPage([200, 200]).drawImage(image, { x: 0, y: 0, width: 200, height: 200 });
    const { document } = await upload(h.portal, 'foto.pdf', Buffer.from(await photo.save()));
    const { document: other } = await upload(h.portal, 'foto 2.pdf', Buffer.from(await photo.save()));
    const { value: part } = await splitPdf(await photo.save(), [[1]]).next();
    // as if the intake took files of 1.1 parts: four parts fit, a fifth does not
    const maxFileBytes = Math.ceil(part.length * 1.1);
    const actions = new DocumentActions(
      { db: h.service.db, store: h.objects, eventsWritten: () => undefined, maxFileBytes },
      async () => undefined,
    );
    const before = await intakeState();
    const fiveTimes = Array.from({ length: 5 }, (_, i) => ({ name: `deel ${i + 1}`, pages: [1] }));
    await expect(actions.split(h.portal, document!.id, fiveTimes)).rejects.toMatchObject({
      kind: 'invalid_argument',
      reason: 'split_too_large',
    });
    await expect(actions.merge(h.portal, [document!.id, other!.id], 'samen')).rejects.toMatchObject({
      kind: 'invalid_argument',
      reason: 'merge_too_large',
      message: expect.stringContaining('merge fewer at a time'),
    });
    expect(await intakeState()).toEqual(before);
    // four parts are fine
    expect(await actions.split(h.portal, document!.id, fiveTimes.slice(0, 4))).toHaveLength(4);
  });

  it('refuses names with control characters for rename, split and merge alike, changing nothing', async () => {
    const { document } = await upload(h.portal, 'bundel.pdf', await pdf(2));
    const other = (await upload(h.portal, 'ander.pdf', await pdf())).document!;
    const invalidName = { kind: 'invalid_argument', reason: 'invalid_name' };
    for (const name of ['deel\nB', 'bel\u0007', 'del\u007f']) {
      await expectNothingStoredBy(async () => {
        await expect(
          h.client.renameDocument({ documentId: document!.id, name }, { caller: h.portal }),
        ).rejects.toMatchObject(invalidName);
        await expect(
          h.client.splitDocument(
            {
              documentId: document!.id,
              groups: [
                { name: 'goed', pages: [1] },
                { name, pages: [2] },
              ],
            },
            { caller: h.portal },
          ),
        ).rejects.toMatchObject(invalidName);
        await expect(
          h.client.mergeDocuments({ documentIds: [document!.id, other.id], name }, { caller: h.portal }),
        ).rejects.toMatchObject(invalidName);
      });
    }
    expect((await h.client.getDocument({ documentId: document!.id }, { caller: h.portal })).document!.name).toBe(
      'bundel',
    );
  });
});

describe('split and merge results', () => {
  it('keep the channel their document arrived by (merge: the first one) and name their sources in the event', async () => {
    const scanned = (
      await h.client.uploadDocument(
        uploadStream({ dossierId: h.dossierId, mailbox: 'purchase', fileName: 'gescand', channel: 'scan' }, [
          [await pdf(3)],
        ]),
        { caller: h.portal },
      )
    ).document!;
    const uploaded = (await upload(h.portal, 'los.pdf', await pdf())).document!;
    const split = await h.client.splitDocument(
      {
        documentId: scanned.id,
        groups: [
          { name: 'eerste', pages: [1] },
          { name: 'rest', pages: [2, 3] },
        ],
      },
      { caller: h.portal },
    );
    expect(split.documents.map((doc) => doc.channel)).toEqual(['scan', 'scan']);
    const [first, rest] = split.documents;
    const scanFirst = await h.client.mergeDocuments(
      { documentIds: [first.id, uploaded.id], name: 'scan eerst' },
      { caller: h.portal },
    );
    expect(scanFirst.document!.channel).toBe('scan');
    const uploadFirst = await h.client.mergeDocuments(
      { documentIds: [uploaded.id, rest.id], name: 'upload eerst' },
      { caller: h.portal },
    );
    expect(uploadFirst.document!.channel).toBe('upload');
    const scans = await h.client.listDocuments(
      { dossierId: h.dossierId, channel: 'scan', search: 'eerst' },
      { caller: h.portal },
    );
    expect(scans.documents.map((doc) => doc.name).sort()).toEqual(['eerste', 'scan eerst']);
    expect(await storedEventOf(first.id)).toMatchObject({ channel: 'scan', sourceDocumentIds: [scanned.id] });
    expect(await storedEventOf(uploadFirst.document!.id)).toMatchObject({
      channel: 'upload',
      sourceDocumentIds: [uploaded.id, rest.id],
    });
  });
});

/** The ZIP is checked by Info-ZIP's unzip; where it is not installed the test shows as skipped, never as passed. */
const withUnzip = (() => {
  try {
    execFileSync('unzip', ['-v']);
    return it;
  } catch {
    return it.skip;
  }
})();

describe('hand-over to the accountant', () => {
  withUnzip('streams a ZIP with the spec layout that unzip accepts, and can mark the documents processed', async () => {
    const dossierId = h.otherDossierId;
    const sendAll = async (names: string[], mailbox: string, xml = false) => {
      for (const name of names) {
        const bytes = xml ? readFileSync(path.join(SAMPLES, 'vat-category-Z.xml')) : await pdf();
        const { document } = await upload(h.admin, `${name}.${xml ? 'xml' : 'pdf'}`, bytes, mailbox, dossierId);
        await h.client.sendDocuments({ documentIds: [document!.id] }, { caller: h.admin });
      }
    };
    await sendAll(['factuur', 'Factuur', 'con', 'a:b'], 'purchase');
    await sendAll(['peppol'], 'purchase', true);
    await sendAll(['verkoop 1'], 'sales');
    const chunks: Buffer[] = [];
    for await (const message of h.client.downloadDossierZip({ dossierId, markProcessed: true }, { caller: h.admin })) {
      if (message.part.case === 'chunk') chunks.push(Buffer.from(message.part.value));
    }
    const folder = scratchFolder('zip-');
    const file = path.join(folder, 'documents.zip');
    writeFileSync(file, Buffer.concat(chunks));
    execFileSync('unzip', ['-t', file]);
    const listing = execFileSync('unzip', ['-Z1', file]).toString();
    expect(listing.trim().split('\n').sort()).toEqual(
      [
        'Aankoop-pdf/_con.pdf',
        'Aankoop-pdf/a_b.pdf',
        'Aankoop-pdf/factuur.pdf',
        'Aankoop-pdf/Factuur (2).pdf',
        'Aankoop-ubl/peppol.xml',
        'Verkoop-pdf/verkoop 1.pdf',
      ].sort(),
    );
    const left = await h.client.listDocuments({ dossierId, statuses: ['sent'] }, { caller: h.admin });
    expect(left.documents).toEqual([]);
  });

  it('counts per mailbox for the active clients monitor', async () => {
    const { clients } = await h.client.listActiveClients({ dossierIds: [h.dossierId] }, { caller: h.admin });
    const purchase = clients[0].mailboxes.find((box) => box.mailbox === 'purchase')!;
    expect(purchase.notSent).toBeGreaterThan(0);
  });

  it('e-mails a signed download link, naming the dossier, to the staff member and the link downloads', async () => {
    const answer = await h.client.requestDownloadLink({ dossierId: h.dossierId }, { caller: h.admin });
    expect(answer.recipientEmail).toBe(h.admin.email);
    const { rows } = await h.service.db.query<{ payload: Uint8Array }>(
      "SELECT payload FROM outbox WHERE type LIKE '%DownloadLinkRequested'",
    );
    const event = unpackPayload(decodeEnvelope(new Uint8Array(rows[0].payload))) as unknown as {
      link: string;
      recipientEmail: string;
      staffId: string;
    };
    // the harness's dossier: its code is its enterprise number, which it got by default
    expect(event).toMatchObject({
      recipientEmail: h.admin.email,
      staffId: h.admin.subjectId,
      dossierName: `Bakkerij ${h.enterpriseNumber}`,
      dossierCode: h.enterpriseNumber,
    });
    const token = event.link.replace('https://kantoor.example/v1/document-downloads/', '');
    const gateway: Caller = { kind: 'system', subjectId: 'gateway', firmId: '', scopes: [] };
    const parts = [];
    for await (const message of h.client.downloadDossierZip({ linkToken: token }, { caller: gateway }))
      parts.push(message);
    expect(parts[0].part).toMatchObject({ case: 'info', value: { contentType: 'application/zip' } });
  });
});

describe('a download link of a staff member who loses access', () => {
  it('works while the staff member may process the dossier and stops working once they may not', async () => {
    const gateway: Caller = { kind: 'system', subjectId: 'gateway', firmId: '', scopes: [] };
    const assign = (ids: string[]) =>
      h.fx.directory.assignDossier({ dossierId: h.dossierId, collaboratorStaffIds: { ids } }, { caller: h.admin });
    const downloadWith = async (linkToken: string) => {
      const parts = [];
      for await (const message of h.client.downloadDossierZip({ linkToken }, { caller: gateway })) parts.push(message);
      return parts;
    };
    await assign([h.support.subjectId]);
    const linkOfSupport = async () => {
      await h.client.requestDownloadLink({ dossierId: h.dossierId }, { caller: h.support });
      const link = (await outboxEvents<{ staffId: string; link: string }>('DownloadLinkRequested'))
        .filter((event) => event.staffId === h.support.subjectId)
        .at(-1)!.link;
      return link.replace('https://kantoor.example/v1/document-downloads/', '');
    };
    const token = await eventually(linkOfSupport);
    expect((await downloadWith(token))[0].part).toMatchObject({
      case: 'info',
      value: { contentType: 'application/zip' },
    });
    await assign([]);
    await eventually(() => expect(downloadWith(token)).rejects.toMatchObject({ reason: 'not_assigned' }));

    // a staff member removed from the firm
    const leaving = await h.fx.activeStaff(h.admin, 'admin');
    await h.client.requestDownloadLink({ dossierId: h.dossierId }, { caller: leaving });
    const leavingToken = (await outboxEvents<{ staffId: string; link: string }>('DownloadLinkRequested'))
      .filter((event) => event.staffId === leaving.subjectId)
      .at(-1)!
      .link.replace('https://kantoor.example/v1/document-downloads/', '');
    expect((await downloadWith(leavingToken))[0].part).toMatchObject({ case: 'info' });
    await h.fx.directory.removeStaff({ staffId: leaving.subjectId }, { caller: h.admin });
    await eventually(() => expect(downloadWith(leavingToken)).rejects.toMatchObject({ kind: 'permission_denied' }));
  });
});

describe('download links', () => {
  const links = new DownloadLinks('k'.repeat(40));
  const claims = {
    firmId: 'f',
    dossierId: 'd',
    staffId: 's',
    markProcessed: false,
    expiresAt: new Date(Date.now() + 60_000),
  };
  it('are bound to dossier and staff member and refuse forgery and expiry', () => {
    const token = links.sign(claims);
    expect(links.verify(token)).toMatchObject({ dossierId: 'd', staffId: 's' });
    const [body, mac] = token.split('.');
    const forged = `${Buffer.from(Buffer.from(body, 'base64url').toString().replace('"d":"d"', '"d":"x"')).toString('base64url')}.${mac}`;
    expect(() => links.verify(forged)).toThrow('not valid');
    expect(() => links.verify(token, new Date(Date.now() + 120_000))).toThrow('expired');
  });
});

describe('download links across a restart (embedded mode, no INTAKE_LINK_SECRET)', () => {
  let r: IntakeHarness;
  beforeAll(async () => {
    r = await startIntake({ generatedLinkSecret: true });
  }, 60_000);
  afterAll(() => r?.stop());

  const gateway: Caller = { kind: 'system', subjectId: 'gateway', firmId: '', scopes: [] };
  const downloadWith = async (linkToken: string) => {
    const parts = [];
    for await (const message of r.client.downloadDossierZip({ linkToken }, { caller: gateway })) parts.push(message);
    return parts;
  };

  it('a link e-mailed before a restart still downloads after it; a link signed with another secret is refused', async () => {
    await r.client.requestDownloadLink({ dossierId: r.dossierId }, { caller: r.admin });
    const { rows } = await r.service.db.query<{ payload: Uint8Array }>(
      "SELECT payload FROM outbox WHERE type LIKE '%DownloadLinkRequested'",
    );
    const { link } = unpackPayload(decodeEnvelope(new Uint8Array(rows[0].payload))) as unknown as { link: string };
    const token = link.replace('https://kantoor.example/v1/document-downloads/', '');

    await r.restart();
    const parts = await downloadWith(token);
    expect(parts[0].part).toMatchObject({ case: 'info', value: { contentType: 'application/zip' } });

    const secrets = path.join(r.dataDir, 'document-intake', 'secrets');
    expect(statSync(secrets).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(secrets, 'intake_link_secret')).mode & 0o777).toBe(0o600);

    const foreign = new DownloadLinks('another secret, from another installation').sign({
      firmId: r.admin.firmId,
      dossierId: r.dossierId,
      staffId: r.admin.subjectId,
      expiresAt: new Date(Date.now() + 3600_000),
      markProcessed: false,
    });
    await expect(downloadWith(foreign)).rejects.toMatchObject({ reason: 'invalid_link' });
  });
});

describe('e-mail intake over SMTP', () => {
  const send = (to: string, from: string, mail: object) =>
    nodemailer
      .createTransport({ host: '127.0.0.1', port: h.smtpPort, secure: false, ignoreTLS: true })
      .sendMail({ from, to, ...mail });

  it('refuses unknown recipients during the dialogue', async () => {
    await expect(
      send(`9999999999.purchase@${h.intakeDomain}`, 'a@b.example', { subject: 'x', text: 'x' }),
    ).rejects.toMatchObject({ responseCode: 550 });
  });

  it('stores every attachment, records refused ones, and auto-sends for a whitelisted sender', async () => {
    const to = `${h.enterpriseNumber}.purchase@${h.intakeDomain}`;
    await send(to, 'iemand@elders.example', {
      subject: 'facturen',
      text: 'zie bijlagen',
      attachments: [
        { filename: 'mail-a.pdf', content: await pdf() },
        { filename: 'mail-b.pdf', content: await pdf(2) },
        { filename: 'virus.exe', content: Buffer.from('MZ nope') },
      ],
    });
    const docs = await h.client.listDocuments({ dossierId: h.dossierId, channel: 'email' }, { caller: h.portal });
    expect(docs.documents.map((doc) => [doc.name, doc.status, doc.senderEmail]).sort()).toEqual([
      ['mail-a', 'draft', 'iemand@elders.example'],
      ['mail-b', 'draft', 'iemand@elders.example'],
    ]);
    const log = await h.client.getIntakeLog({ dossierId: h.dossierId }, { caller: h.portal });
    expect(log.refused[0]).toMatchObject({ fileName: 'virus.exe', reason: 'unsupported_type' });
    expect((await outboxEvents<object>('FileRefused')).at(-1)).toMatchObject({
      firmId: h.admin.firmId,
      dossierId: h.dossierId,
      fileName: 'virus.exe',
      channel: 'email',
      reason: 'unsupported_type',
      message: log.refused[0].message,
      senderEmail: 'iemand@elders.example',
    });
    const mailA = docs.documents.find((doc) => doc.name === 'mail-a')!;
    expect(await storedEventOf(mailA.id)).toMatchObject({
      channel: 'email',
      mailbox: 'purchase',
      actorKind: 'email',
      actorId: 'iemand@elders.example',
      senderEmail: 'iemand@elders.example',
      status: 'draft',
    });
    await send(to, 'Boekhouding@Leverancier.example', {
      subject: 'f',
      text: 'f',
      attachments: [{ filename: 'auto.pdf', content: await pdf() }],
    });
    const auto = await h.client.listDocuments({ dossierId: h.dossierId, search: 'auto' }, { caller: h.portal });
    expect(auto.documents[0]).toMatchObject({ status: 'sent', channel: 'email' });
    expect(await storedEventOf(auto.documents[0].id)).toMatchObject({ status: 'sent' });
    const automatic = (await outboxEvents<{ documentIds: string[] }>('DocumentsSent')).filter((event) =>
      event.documentIds.includes(auto.documents[0].id),
    );
    expect(automatic).toEqual([
      expect.objectContaining({
        dossierId: h.dossierId,
        documentIds: [auto.documents[0].id],
        automatic: true,
        actorId: 'boekhouding@leverancier.example',
      }),
    ]);
  });

  it('leaves mail to the general address unsorted until a mailbox is picked, and turns an HTML-only mail into a PDF', async () => {
    await send(`${h.enterpriseNumber}@${h.intakeDomain}`, 'boekhouding@leverancier.example', {
      subject: 'Factuur 2026-17',
      html: '<html><body><h1>Factuur 2026-17</h1><table><tr><td>Brood</td><td>12,00</td></tr></table></body></html>',
    });
    const unsorted = await h.client.listDocuments(
      { dossierId: h.dossierId, mailbox: 'unsorted' },
      { caller: h.portal },
    );
    expect(unsorted.documents[0]).toMatchObject({ name: 'Factuur 2026-17', type: 'pdf', status: 'draft', mailbox: '' });
    await expect(
      h.client.sendDocuments({ documentIds: [unsorted.documents[0].id] }, { caller: h.portal }),
    ).rejects.toMatchObject({ reason: 'unsorted' });
    const rendered = await download(h.portal, unsorted.documents[0].id);
    const { text } = await pdfText(rendered.bytes);
    expect(text).toContain('Factuur 2026-17');
    expect(text).toContain('From boekhouding@leverancier.example');
    expect(text).toMatch(/Brood\s+12,00/);
    await h.client.moveDocument({ documentId: unsorted.documents[0].id, mailbox: 'purchase' }, { caller: h.portal });
  });

  it('turns any HTML body into a PDF in time: long lines, stray "<", a long word, more text than a PDF shows', async () => {
    // each of these held the intake's thread for seconds to hours while its text was read or laid out
    const html =
      `<p>Begin of the mail</p><p>Brood${' '.repeat(200_000)}</p><p>${'<'.repeat(20_000)} 3 < 4</p>` +
      `<p>${'QmFzZTY0'.repeat(2_000)}</p><div>${'Koffie en gebak. '.repeat(70_000)}</div><p>End of the mail</p>` +
      '<style>p { color: red }';
    const subject = 'Factuur met een lange tekst';
    await send(`${h.enterpriseNumber}.purchase@${h.intakeDomain}`, 'boekhouding@leverancier.example', {
      subject,
      html,
    });
    const [stored] = (await h.client.listDocuments({ dossierId: h.dossierId, search: subject }, { caller: h.portal }))
      .documents;
    const { text, items } = await pdfText((await download(h.portal, stored.id)).bytes);
    // (the text is megabytes long: each check says yes or no rather than printing it)
    const shown = text.replace(/\s+/g, ' ');
    for (const part of [
      'Factuur met een lange tekst',
      'From boekhouding@leverancier.example',
      'Begin of the mail Brood',
    ])
      expect([part, shown.includes(part)]).toEqual([part, true]);
    // every "<" is text, the long word is cut over lines that together hold all of it
    expect(shown.split('<').length - 1).toBe(20_001);
    const cutWord = items.filter((item) => /^[QmFzZTY0]+$/.test(item.text)).map((item) => item.text);
    expect(cutWord.length).toBeGreaterThan(100);
    expect(cutWord.join('') === 'QmFzZTY0'.repeat(2_000)).toBe(true);
    // 1,190,000 characters of "Koffie en gebak. ": the PDF stops at a million and says so
    expect(shown.includes('End of the mail')).toBe(false);
    expect(
      /\[This PDF shows the first 1,000,000 characters of the e-mail's text; the other \d{3},\d{3} are not shown\.\]/.test(
        shown,
      ),
    ).toBe(true);
  });

  it('records a mail with neither attachments nor HTML as refused, with its reason, and stores no document', async () => {
    const to = `${h.enterpriseNumber}.sales@${h.intakeDomain}`;
    const before = await intakeState();
    await send(to, 'klant@elders.example', { subject: 'Zie bijlage', text: 'Vergeten de bijlage toe te voegen.' });
    const after = await intakeState();
    expect(after.documents).toBe(before.documents);
    expect(after.refusedFiles).toBe(before.refusedFiles + 1);
    const log = await h.client.getIntakeLog({ dossierId: h.dossierId }, { caller: h.portal });
    expect(log.refused[0]).toMatchObject({
      fileName: 'Zie bijlage',
      channel: 'email',
      reason: 'no_attachment',
      message: 'The e-mail "Zie bijlage" has no attachment and no HTML body; there is no document in it.',
      senderEmail: 'klant@elders.example',
    });
    expect((await outboxEvents<{ fileName: string; reason: string }>('FileRefused')).at(-1)).toMatchObject({
      dossierId: h.dossierId,
      fileName: 'Zie bijlage',
      reason: 'no_attachment',
      senderEmail: 'klant@elders.example',
    });
  });

  it('stores all of a mail or nothing: a failure halfway answers 451 and the retry stores each attachment once', async () => {
    const to = `${h.enterpriseNumber}.purchase@${h.intakeDomain}`;
    const mail = {
      subject: 'drie facturen',
      text: 'zie bijlagen',
      attachments: [
        { filename: 'reeks-1.pdf', content: await pdf() },
        { filename: 'reeks-2.pdf', content: await pdf() },
        { filename: 'reeks-3.pdf', content: await pdf() },
      ],
    };
    // the database refuses the second document
    await whileDocumentRefused(h, 'reeks-2', () =>
      expectNothingStoredBy(() =>
        expect(send(to, 'iemand@elders.example', mail)).rejects.toMatchObject({ responseCode: 451 }),
      ),
    );
    await send(to, 'iemand@elders.example', mail);
    const stored = await h.client.listDocuments({ dossierId: h.dossierId, search: 'reeks-' }, { caller: h.portal });
    expect(stored.documents.map((doc) => doc.name).sort()).toEqual(['reeks-1', 'reeks-2', 'reeks-3']);
  });
});

describe('reading a mail up to the size limit', () => {
  it('passes at most the limit to the parser, then an error (552), and still reads the message to its end', async () => {
    const message = Readable.from(Array.from({ length: 10 }, () => Buffer.alloc(10_000, 'a')));
    const parsed: Buffer[] = [];
    const limited = messageUpTo(message, 25_000);
    const failure = await new Promise<Error & { responseCode?: number }>((resolve, reject) => {
      limited.on('data', (chunk: Buffer) => parsed.push(chunk));
      limited.on('error', resolve);
      limited.on('end', () => reject(new Error('the whole message was passed on')));
    });
    expect(failure).toMatchObject({ responseCode: 552 });
    expect(Buffer.concat(parsed).length).toBeLessThanOrEqual(25_000);
    if (!message.readableEnded) await new Promise((resolve) => message.once('end', resolve));
    expect(message.readableEnded).toBe(true);
  });
});

describe('with a size limit of 64 KiB', () => {
  const LIMIT = 64 * 1024;
  let small: IntakeHarness;
  beforeAll(async () => {
    small = await startIntake({ settings: { INTAKE_MAX_FILE_BYTES: LIMIT } });
  }, 60_000);
  afterAll(() => small?.stop());

  // a JPEG's first bytes and then more than the limit: refused while it streams in, before it is decoded
  const tooLarge = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(LIMIT)]);

  it('refuses a larger file while it arrives, naming the limit, and stores nothing', async () => {
    const chunks = [
      tooLarge.subarray(0, 16 * 1024),
      tooLarge.subarray(16 * 1024, 48 * 1024),
      tooLarge.subarray(48 * 1024),
    ];
    await expectNothingStoredBy(
      () =>
        expect(
          small.client.uploadDocument(
            uploadStream({ dossierId: small.dossierId, mailbox: 'purchase', fileName: 'groot.jpg', channel: '' }, [
              chunks,
            ]),
            { caller: small.portal },
          ),
        ).rejects.toMatchObject({ reason: 'file_too_large', message: `"groot.jpg" is larger than ${LIMIT} bytes.` }),
      small,
    );
  });

  it('answers 552 to a larger mail sent without a SIZE parameter and stores nothing; the next mail is taken', async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: small.smtpPort,
      secure: false,
      ignoreTLS: true,
    });
    const to = `${small.enterpriseNumber}.purchase@${small.intakeDomain}`;
    await expectNothingStoredBy(
      () =>
        expect(
          transport.sendMail({
            from: 'groot@elders.example',
            to,
            subject: 'te groot',
            attachments: [{ filename: 'groot.pdf', content: Buffer.alloc(4 * LIMIT, 'x') }],
          }),
        ).rejects.toMatchObject({ responseCode: 552 }),
      small,
    );
    await transport.sendMail({
      from: 'klein@elders.example',
      to,
      subject: 'klein',
      attachments: [{ filename: 'klein.pdf', content: await pdf() }],
    });
    const { documents } = await small.client.listDocuments({ dossierId: small.dossierId }, { caller: small.portal });
    expect(documents.map((doc) => doc.name)).toEqual(['klein']);
  });

  it('refuses a scan with a page over the limit, removing the pages stored before it', async () => {
    await expectNothingStoredBy(
      async () =>
        expect(
          small.client.uploadDocument(
            uploadStream({ dossierId: small.dossierId, mailbox: 'misc', fileName: 'scan', channel: 'scan' }, [
              [await pdf()],
              [tooLarge],
            ]),
            { caller: small.portal },
          ),
        ).rejects.toMatchObject({ reason: 'file_too_large' }),
      small,
    );
  });

  it('refuses a scan whose pages are together over the limit (they become one PDF), each page within it', async () => {
    const stripe = readFileSync(path.join(__dirname, 'fixtures/stripe.jpg'));
    const pages = Math.floor(LIMIT / stripe.length) + 1;
    expect(stripe.length).toBeLessThan(LIMIT);
    await expectNothingStoredBy(
      async () =>
        expect(
          small.client.uploadDocument(
            uploadStream(
              { dossierId: small.dossierId, mailbox: 'misc', fileName: 'lange scan', channel: 'scan' },
              Array.from({ length: pages }, () => [stripe]),
            ),
            { caller: small.portal },
          ),
        ).rejects.toMatchObject({
          reason: 'file_too_large',
          message: `The pages of "lange scan" are together larger than ${LIMIT} bytes.`,
        }),
      small,
    );
    // one page fewer fits
    const { document } = await small.client.uploadDocument(
      uploadStream(
        { dossierId: small.dossierId, mailbox: 'misc', fileName: 'scan net', channel: 'scan' },
        Array.from({ length: pages - 1 }, () => [stripe]),
      ),
      { caller: small.portal },
    );
    expect(document).toMatchObject({ pages: pages - 1 });
  });
});
