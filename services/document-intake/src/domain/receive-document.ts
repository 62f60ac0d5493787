import { randomUUID } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { Database, Queryable } from '@kantoor/database';
import { createUblThread, type EInvoice, type UblThread } from '@kantoor/e-invoice';
import { DomainError, invalidArgument } from '@kantoor/errors';
import { appendEvent } from '@kantoor/events';
import type { ObjectStore, StoredObject } from '@kantoor/object-storage';
import {
  DocumentsSentSchema,
  DocumentStoredSchema,
  FileRefusedSchema,
} from '@kantoor/proto/kantoor/document_intake/v1/events_pb';
import {
  insertDocument,
  insertRefusedFile,
  recordAudit,
  type DocumentRow,
  type InvoiceFields,
  type MailboxName,
  type NewDocument,
} from '../data-access/document-repository';
import { checkFormat, inspectPdf, mergePdfs, sniffFormat, type OriginalFormat } from './file-formats';
import { jpegToPdf } from './jpeg-pdf';
import { documentNameOf } from './names';
import { storedPdf, StreamEnds, type KeptEnds } from './stored-pdf';
import type { Actor } from './ports';

export type Channel = 'upload' | 'scan' | 'email' | 'api';
export const MAILBOXES: readonly MailboxName[] = ['purchase', 'sales', 'misc'];

export interface Incoming {
  firmId: string;
  dossierId: string;
  /** null: unsorted (general e-mail address) */
  mailbox: MailboxName | null;
  fileName: string;
  channel: Channel;
  actor: { kind: string; id: string; onBehalfOf?: string };
  senderEmail?: string;
  /** whitelisted sender with auto-send: the document goes to the accountant at once */
  autoSend?: boolean;
}

/** One file, or one page of a scan, as it arrives: its bytes and the Content-Type the client declared for it. */
export interface IncomingPage {
  bytes: Readable;
  /** empty when the client declared none */
  contentType: string;
}

export interface IntakeStore {
  db: Database;
  store: ObjectStore;
  eventsWritten(): void;
  maxFileBytes: number;
  /** where UBL files are read and rendered, off the service's thread; one shared by default */
  ubl?: UblThread;
}

let sharedUblThread: UblThread | undefined;
const ublThreadOf = (intake: IntakeStore) => intake.ubl ?? (sharedUblThread ??= createUblThread());

const SOURCE = 'document-intake';
/** what sniffFormat looks at */
const HEAD_BYTES = 1024;
const keyOf = (dossierId: string, documentId: string, part: string) => `documents/${dossierId}/${documentId}/${part}`;

/** What the checks need of one stored file: of a PDF its first bytes and its ends, of anything else all of it. */
interface Kept {
  bytes: Buffer[];
  ends?: StreamEnds;
}

/**
 * Counts bytes on their way into the store and stops the upload at the limit. What the checks need is kept as
 * it passes: of a PDF only its first bytes (the type is decided by them) and its ends (the PDF itself is checked
 * from them and, where its structure lies elsewhere, from the store by ranges), of a JPEG or UBL file the whole
 * file (bounded by the limit), as embedding it in a PDF and parsing the XML need it; `keepWhole` keeps PDFs too
 * (scanned pages, which are merged).
 */
function limited(maxBytes: number, tooLarge: string, kept: Kept, keepWhole: boolean): Transform {
  let seen = 0;
  let decided = keepWhole;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > maxBytes) return done(invalidArgument(tooLarge, { reason: 'file_too_large' }));
      if (kept.ends) kept.ends.add(chunk);
      else kept.bytes.push(chunk);
      if (!decided && seen >= HEAD_BYTES) {
        decided = true;
        const head = Buffer.concat(kept.bytes);
        if (sniffFormat(head) === 'pdf') {
          kept.ends = new StreamEnds();
          kept.ends.add(head);
          // a copy: a view would keep the whole first chunk alive
          kept.bytes = [Buffer.from(head.subarray(0, HEAD_BYTES))];
        }
      }
      done(null, chunk);
    },
  });
}

function invoiceFields(invoice: EInvoice): InvoiceFields {
  return {
    supplierName: invoice.seller.name,
    supplierVatNumber: invoice.seller.vatNumber ?? '',
    invoiceNumber: invoice.number,
    issueDate: invoice.issueDate,
    total: invoice.totals.payable.value,
    currency: invoice.currency,
    kind: invoice.kind,
    syntax: invoice.syntax,
  };
}

/**
 * A file that passed every check, its objects in the store, not yet a document: `commitDocuments` makes it one,
 * `discardDocuments` removes its objects.
 */
export interface CheckedDocument {
  incoming: Incoming;
  row: NewDocument;
  pages: StoredObject[];
  pageFormats: OriginalFormat[];
  pdf: StoredObject | undefined;
  original: StoredObject;
  written: string[];
}

/**
 * Takes one file (or, for the scan channel, the pages of one document) into a mailbox: the bytes stream into
 * object storage, the content decides the type, and only a file that passes every check becomes a document.
 * A refused file leaves nothing behind: its objects are deleted and no row or event is written.
 */
export async function receiveDocument(
  intake: IntakeStore,
  incoming: Incoming,
  pages: AsyncIterable<IncomingPage>,
): Promise<DocumentRow> {
  const checked = await checkDocument(intake, incoming, pages);
  try {
    return (await commitDocuments(intake, [checked]))![0];
  } catch (error) {
    await discardDocuments(intake, [checked]);
    throw error;
  }
}

/**
 * Stores a file's objects and checks it (see receiveDocument); a refused file's objects are deleted again and
 * its refusal thrown.
 */
export async function checkDocument(
  intake: IntakeStore,
  incoming: Incoming,
  pages: AsyncIterable<IncomingPage>,
): Promise<CheckedDocument> {
  const documentId = randomUUID();
  const written: string[] = [];
  const contents: Buffer[] = [];
  const ends: Array<KeptEnds | undefined> = [];
  const put = async (part: string, body: Readable | Uint8Array, contentType = 'application/octet-stream') => {
    const key = keyOf(incoming.dossierId, documentId, part);
    written.push(key);
    if (body instanceof Uint8Array) return intake.store.put(key, body, { contentType });
    const kept: Kept = { bytes: [] };
    // a scan's pages are held whole and become one PDF: together they are one file's worth at most
    const scan = incoming.channel === 'scan';
    const before = scan ? contents.reduce((sum, bytes) => sum + bytes.length, 0) : 0;
    const checked = limited(
      intake.maxFileBytes - before,
      scan
        ? `The pages of "${incoming.fileName}" are together larger than ${intake.maxFileBytes} bytes.`
        : `"${incoming.fileName}" is larger than ${intake.maxFileBytes} bytes.`,
      kept,
      scan,
    );
    // pipe() does not pass a failure of its source on: the bytes of a cancelled call would leave the store
    // waiting for the rest of the file, its temporary file on disk, for ever
    body.once('error', (error) => checked.destroy(error));
    const stored = await intake.store.put(key, body.pipe(checked), { contentType });
    contents.push(Buffer.concat(kept.bytes));
    ends.push(kept.ends?.result());
    return stored;
  };
  try {
    const stored: StoredObject[] = [];
    const claimedTypes: string[] = [];
    let index = 0;
    for await (const { bytes: page, contentType } of pages) {
      claimedTypes.push(contentType);
      index++;
      const part = incoming.channel === 'scan' ? `page-${String(index).padStart(3, '0')}` : 'original';
      if (index > 1 && incoming.channel !== 'scan') {
        throw invalidArgument('Only the scan channel sends several pages as one document.', {
          reason: 'pages_not_allowed',
        });
      }
      page.on('error', () => undefined);
      stored.push(await put(part, page));
    }
    if (stored.length === 0) throw invalidArgument('No file was sent.', { reason: 'empty_upload' });
    if (stored.some((object) => object.size === 0)) {
      throw invalidArgument(`"${incoming.fileName}" is empty.`, { reason: 'empty_file' });
    }
    const formats = contents.map((bytes, at) =>
      incoming.channel === 'scan'
        ? checkFormat(`page ${at + 1}`, bytes, claimedTypes[at])
        : checkFormat(incoming.fileName, bytes, claimedTypes[at]),
    );
    let row: NewDocument;
    const base = {
      id: documentId,
      firm_id: incoming.firmId,
      dossier_id: incoming.dossierId,
      mailbox: incoming.mailbox,
      name: documentNameOf(incoming.fileName),
      channel: incoming.channel,
      status: incoming.autoSend ? ('sent' as const) : ('draft' as const),
      sent_at: incoming.autoSend ? new Date() : null,
      sender_email: incoming.senderEmail ?? null,
      created_by: incoming.actor.id,
    };
    let pdfObject: StoredObject | undefined;
    let originalObject: StoredObject;
    const pdfContentType = CONTENT_TYPES.pdf;
    if (incoming.channel === 'scan') {
      if (formats.includes('xml'))
        throw invalidArgument('A scanned page must be a JPEG image or a PDF.', { reason: 'unsupported_type' });
      const asPdfs: Uint8Array[] = [];
      let pages = 0;
      for (const [at, bytes] of contents.entries()) {
        if (formats[at] === 'pdf') pages += (await inspectPdf(bytes, `page ${at + 1}`)).pages;
        else pages += 1;
        asPdfs.push(formats[at] === 'pdf' ? bytes : jpegToPdf(bytes, `page ${at + 1}`));
      }
      // A scan's original is its pages. One page is the original itself (a JPEG downloads as that JPEG); several
      // pages have no one file to download, so their original is the PDF built from them, and every page is in
      // the DocumentStored event (pages_originals) for the archive.
      let originalFormat: OriginalFormat;
      if (stored.length === 1) {
        [originalObject] = stored;
        [originalFormat] = formats as [OriginalFormat];
        pdfObject = originalFormat === 'pdf' ? originalObject : await put('document.pdf', asPdfs[0], pdfContentType);
      } else {
        pdfObject = await put('document.pdf', (await mergePdfs(asPdfs)).bytes, pdfContentType);
        originalObject = pdfObject;
        originalFormat = 'pdf';
      }
      row = {
        ...base,
        type: 'pdf',
        original_format: originalFormat,
        pages,
        original_key: originalObject.key,
        original_size: originalObject.size,
        original_sha256: originalObject.sha256,
        pdf_key: pdfObject.key,
        pdf_size: pdfObject.size,
        invoice: null,
      };
    } else {
      const [bytes] = contents;
      const [format] = formats as [OriginalFormat];
      const [original] = stored;
      originalObject = original;
      let pages = 0;
      let invoice: InvoiceFields | null = null;
      if (format === 'pdf') {
        pages = (await inspectPdf(storedPdf(intake.store, original, ends[0]), incoming.fileName)).pages;
        pdfObject = original;
      } else if (format === 'jpeg') {
        const pdf = jpegToPdf(bytes, incoming.fileName);
        pages = 1;
        pdfObject = await put('document.pdf', pdf, pdfContentType);
      } else {
        const ubl = ublThreadOf(intake);
        const reading = await ubl.read(bytes, { maxBytes: intake.maxFileBytes });
        invoice = invoiceFields(reading.invoice);
        const { embedded } = reading;
        let rendition: Uint8Array | undefined;
        if (embedded?.content) {
          try {
            pages = (await inspectPdf(embedded.content, embedded.filename ?? 'embedded PDF')).pages;
            rendition = embedded.content;
          } catch {
            // a broken embedded PDF: render the invoice instead of refusing good XML
          }
        }
        if (!rendition) {
          rendition =
            reading.rendered ?? (await ubl.read(bytes, { maxBytes: intake.maxFileBytes, render: 'always' })).rendered!;
          pages = (await inspectPdf(rendition, 'rendition')).pages;
        }
        pdfObject = await put('document.pdf', rendition, pdfContentType);
      }
      row = {
        ...base,
        type: format === 'xml' ? 'ubl' : 'pdf',
        original_format: format,
        pages,
        original_key: original.key,
        original_size: original.size,
        original_sha256: original.sha256,
        pdf_key: pdfObject?.key ?? null,
        pdf_size: pdfObject?.size ?? null,
        invoice,
      };
    }
    return {
      incoming,
      row,
      pages: stored,
      pageFormats: formats,
      pdf: pdfObject,
      original: originalObject,
      written,
    };
  } catch (error) {
    await deleteObjects(intake, written);
    throw error;
  }
}

/**
 * Checked files become documents, and refused ones are recorded (FileRefused and the intake log), all in one
 * transaction: either every document of, say, one e-mail is stored or none is. `claim` runs first in that
 * transaction (e.g. recording that a polled mail was taken); when it answers false nothing is written and the
 * answer is undefined.
 */
export async function commitDocuments(
  intake: IntakeStore,
  checked: CheckedDocument[],
  refusals: Array<{ incoming: Incoming; error: DomainError }> = [],
  options: { claim?: (tx: Queryable) => Promise<boolean> } = {},
): Promise<DocumentRow[] | undefined> {
  const documents = await intake.db.transaction(async (tx) => {
    if (options.claim && !(await options.claim(tx))) return undefined;
    const inserted: DocumentRow[] = [];
    for (const document of checked) inserted.push(await insertChecked(tx, document));
    for (const { incoming, error } of refusals) await insertRefusal(tx, incoming, error);
    return inserted;
  });
  if (documents) intake.eventsWritten();
  return documents;
}

/** Removes the objects of checked files that are not to become documents. */
export const discardDocuments = (intake: IntakeStore, checked: CheckedDocument[]) =>
  deleteObjects(
    intake,
    checked.flatMap((document) => document.written),
  );

const deleteObjects = async (intake: IntakeStore, keys: string[]) => {
  await Promise.all(keys.map((key) => intake.store.delete(key).catch(() => undefined)));
};

async function insertChecked(tx: Queryable, checked: CheckedDocument): Promise<DocumentRow> {
  const { incoming } = checked;
  const inserted = await insertDocument(tx, checked.row);
  await appendEvent(tx, {
    source: SOURCE,
    firmId: incoming.firmId,
    dossierId: incoming.dossierId,
    payload: {
      schema: DocumentStoredSchema,
      value: storedEvent(inserted, checked),
    },
  });
  if (incoming.autoSend) {
    await appendEvent(tx, {
      source: SOURCE,
      firmId: incoming.firmId,
      dossierId: incoming.dossierId,
      payload: {
        schema: DocumentsSentSchema,
        value: {
          firmId: incoming.firmId,
          dossierId: incoming.dossierId,
          documentIds: [inserted.id],
          actorId: incoming.actor.id,
          automatic: true,
          sentAt: timestampFromDate(inserted.sent_at!),
        },
      },
    });
  }
  await recordAudit(tx, {
    firmId: incoming.firmId,
    dossierId: incoming.dossierId,
    actorKind: incoming.actor.kind,
    actorId: incoming.actor.id,
    onBehalfOf: incoming.actor.onBehalfOf,
    action: 'document.stored',
    subjectId: inserted.id,
    details: { channel: incoming.channel, name: inserted.name },
  });
  return inserted;
}

/** The content type of each original format, as downloads and events name it. */
export const CONTENT_TYPES: Readonly<Record<OriginalFormat, string>> = {
  pdf: 'application/pdf',
  jpeg: 'image/jpeg',
  xml: 'application/xml',
};

function storedEvent(doc: DocumentRow, checked: CheckedDocument) {
  const described = (object: StoredObject, format: OriginalFormat) => ({
    key: object.key,
    sha256: object.sha256,
    size: BigInt(object.size),
    contentType: CONTENT_TYPES[format],
  });
  return create(DocumentStoredSchema, {
    ...storedEventBase(doc),
    original: described(checked.original, doc.original_format),
    pdf: checked.pdf ? described(checked.pdf, 'pdf') : undefined,
    actorKind: checked.incoming.actor.kind,
    pagesOriginals:
      checked.incoming.channel === 'scan'
        ? checked.pages.map((page, index) => described(page, checked.pageFormats[index]))
        : [],
  });
}

/** The DocumentStored fields every way of creating a document shares. */
export function storedEventBase(doc: DocumentRow) {
  return {
    firmId: doc.firm_id,
    dossierId: doc.dossier_id,
    documentId: doc.id,
    mailbox: doc.mailbox ?? '',
    name: doc.name,
    channel: doc.channel,
    type: doc.type,
    originalFormat: doc.original_format,
    pages: doc.pages,
    createdAt: timestampFromDate(doc.created_at),
    actorId: doc.created_by,
    senderEmail: doc.sender_email ?? '',
    supplierName: doc.invoice?.supplierName ?? '',
    supplierVatNumber: doc.invoice?.supplierVatNumber ?? '',
    invoiceNumber: doc.invoice?.invoiceNumber ?? '',
    issueDate: doc.invoice?.issueDate ?? '',
    total: doc.invoice?.total ?? '',
    currency: doc.invoice?.currency ?? '',
    status: doc.status,
  };
}

/** Records a refused e-mail attachment so the user sees it with its reason (never silently dropped). */
async function insertRefusal(tx: Queryable, incoming: Incoming, error: DomainError) {
  const refused = {
    firmId: incoming.firmId,
    dossierId: incoming.dossierId,
    fileName: incoming.fileName,
    channel: incoming.channel,
    reason: error.reason,
    message: error.message,
  };
  await insertRefusedFile(tx, { id: randomUUID(), ...refused, senderEmail: incoming.senderEmail });
  await appendEvent(tx, {
    source: SOURCE,
    firmId: incoming.firmId,
    dossierId: incoming.dossierId,
    payload: { schema: FileRefusedSchema, value: { ...refused, senderEmail: incoming.senderEmail ?? '' } },
  });
}

export const actorOf = (actor: Actor) => ({
  kind: actor.kind,
  id: actor.impersonation ? actor.subjectId : actor.subjectId,
  onBehalfOf: actor.impersonation?.portalUserId,
});
