/**
 * The document intake's public endpoints (spec 02): the client's three mailboxes (upload, scan, API feeds,
 * the actions on a document), and the accountant's side (active clients monitor, dossier view, the ZIP
 * hand-over, download links). Every document route sits under its dossier, so the access policy decides on
 * the dossier before the request reaches the service, which checks again on the document's own dossier.
 * Files stream both ways: an upload goes to the service in messages of up to 256 KiB as it arrives, a download is piped
 * from the service's stream with backpressure.
 */
import { pipeline, Readable, Transform } from 'node:stream';
import { toJson } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { invalidArgument, notFound, unavailable } from '@kantoor/errors';
import { atMost, type ServiceClient } from '@kantoor/grpc';
import {
  ActiveClientSchema,
  DocumentIntakeService,
  DocumentSchema,
  RefusedFileSchema,
  UploadDocumentRequestSchema,
  type Document,
  type DownloadDocumentResponse,
  type DownloadDossierZipResponse,
} from '@kantoor/proto/kantoor/document_intake/v1/document_intake_pb';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { ServiceClients } from '../app';
import { fileParts, type FilePart } from '../middleware/multipart';
import { problemFor, type Problem } from '../middleware/problem';
import { defineRoute, namedSchema, reply, streamReply, type JsonSchema, type RouteContext } from '../openapi/route';
import { activeClientsPage } from './active-clients-page';
import { nextCursor, pageOf, pageQuery, type PageQuery } from './list-pages';

declare module '../app' {
  interface ServiceClients {
    documentIntake?: ServiceClient<typeof DocumentIntakeService>;
  }
}

type Ctx = Pick<RouteContext, 'caller' | 'requestId' | 'services'> & { signal?: AbortSignal };
type Intake = ServiceClient<typeof DocumentIntakeService>;

// a read of the request body (up to 64 KiB) goes as one message, uncopied; a larger one is cut to this (limit 16 MiB)
const CHUNK = 256 * 1024;
// a large file or ZIP takes longer than the client's default deadline; leaving clients cancel through `signal`
const TRANSFER_TIMEOUT_MS = 60 * 60_000;

function intakeOf(services: ServiceClients): Intake {
  if (!services.documentIntake)
    throw unavailable('The document intake service is not available.', { reason: 'document_intake_unavailable' });
  return services.documentIntake;
}

const callFor = (ctx: Ctx, timeoutMs?: number) => ({
  caller: ctx.caller
    ? { ...ctx.caller, requestId: ctx.requestId }
    : { kind: 'system' as const, subjectId: 'gateway', firmId: '', scopes: [], requestId: ctx.requestId },
  signal: ctx.signal,
  ...(timeoutMs && { timeoutMs }),
});

const documentJson = (document: Document | undefined) =>
  document && {
    ...(toJson(DocumentSchema, document, { alwaysEmitImplicit: true }) as Record<string, unknown>),
    size: Number(document.size),
  };

/** The document, if it belongs to the dossier of the path: the policy decided on that dossier only. */
async function documentIn(ctx: Ctx, dossierId: string, documentId: string): Promise<Document> {
  const { document } = await intakeOf(ctx.services).getDocument({ documentId }, callFor(ctx));
  if (!document || document.dossierId !== dossierId)
    throw notFound('Document not found.', { reason: 'document_not_found' });
  return document;
}

/** Several documents of the dossier, checked a few at a time (one abort listener per call would pile up). */
async function documentsIn(ctx: Ctx, dossierId: string, ids: string[]): Promise<void> {
  for (let at = 0; at < ids.length; at += 20)
    await Promise.all(
      ids.slice(at, at + 20).map((documentId) => documentIn({ ...ctx, signal: undefined }, dossierId, documentId)),
    );
}

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

type UploadMessage = MessageInitShape<typeof UploadDocumentRequestSchema>;
type UploadHeader = { dossierId: string; mailbox: string; fileName: string; channel: string; contentType: string };

/**
 * One uploaded file as the messages of its upload call: the header, then the bytes in chunks of at most 256 KiB as
 * they arrive (a stream, so that the chunks pass without promises of their own: see writeAll in @kantoor/grpc), then
 * `end` once the last byte is read (a stream closed without it broke off: see UploadDocumentRequest).
 * The call runs under a signal of its own: the request's, until the file's last byte is read. A file the client
 * sent whole is stored even when the client leaves before its answer (it finds the document in the mailbox); one
 * it broke off is cancelled, and the service keeps nothing of it. When the call ends first, the file's bytes are
 * no longer read.
 */
function fileUpload(request: AbortSignal, header: UploadHeader, bytes: Readable | AsyncIterable<Buffer>) {
  const controller = new AbortController();
  const forward = () => controller.abort(request.reason);
  if (request.aborted) forward();
  else request.addEventListener('abort', forward, { once: true });
  const release = () => request.removeEventListener('abort', forward);
  const messages = new Transform({
    readableObjectMode: true,
    readableHighWaterMark: 1,
    transform(chunk: Buffer, _encoding, done) {
      for (let at = 0; at < chunk.length; at += CHUNK) {
        const value = at === 0 && chunk.length <= CHUNK ? chunk : chunk.subarray(at, at + CHUNK);
        this.push({ part: { case: 'chunk', value } } satisfies UploadMessage);
      }
      done();
    },
    flush(done) {
      release();
      // the file was read whole: only now may the service keep it
      done(null, { part: { case: 'end', value: true } } satisfies UploadMessage);
    },
  });
  messages.push({ part: { case: 'header', value: header } } satisfies UploadMessage);
  // a failing file fails `messages` (and so the call); a call that ends first destroys the file's stream
  pipeline(bytes instanceof Readable ? bytes : Readable.from(bytes, { objectMode: false }), messages, () => undefined);
  return { signal: controller.signal, messages, release };
}

/**
 * A server stream of `info` then `chunk`s as a streamed reply: waits for the info (so a refusal before the first
 * byte is still a problem answer), then pipes the chunks on demand.
 */
async function streamedFile(
  messages: AsyncIterable<DownloadDocumentResponse | DownloadDossierZipResponse>,
  disposition: 'attachment' | 'inline' = 'attachment',
) {
  const iterator = messages[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done || first.value.part.case !== 'info') throw unavailable('The download ended before it began.');
  const info = first.value.part.value;
  // shown in the browser only as a PDF: never a type the browser would run or render as a page (XML, HTML)
  if (disposition === 'inline' && info.contentType !== 'application/pdf') {
    void iterator.return?.();
    throw invalidArgument('Only the PDF of a document can be previewed.', { reason: 'no_preview' });
  }
  async function* chunks() {
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      // a view, not a copy: the message's bytes are not reused
      if (next.value.part.case === 'chunk') yield asBuffer(next.value.part.value);
    }
  }
  const body = Readable.from(chunks(), { objectMode: false });
  // the client left: stop the gRPC stream too instead of leaving it to its deadline
  body.once('close', () => void iterator.return?.());
  return streamReply({
    body,
    contentType: info.contentType,
    filename: info.fileName,
    disposition,
    ...(info.size >= 0n && { contentLength: Number(info.size) }),
  });
}

// ---- schemas ----

const uuid = { type: 'string', format: 'uuid' } as const;
const text = (maxLength: number) => ({ type: 'string', maxLength }) as const;
const mailbox = { enum: ['purchase', 'sales', 'misc'] } as const;
const object = (properties: Record<string, unknown>, required: string[] = []): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  properties,
  required,
});
const params = (...names: string[]) =>
  object(Object.fromEntries(names.map((name) => [name, { type: 'string', maxLength: 200 }])), names);
const ok = (description: string, schema?: JsonSchema) => ({ description, ...(schema && { schema }) });
const documentIds = { type: 'array', minItems: 1, maxItems: 500, uniqueItems: true, items: uuid } as const;

const InvoiceView = namedSchema('InvoiceSummary', {
  type: 'object',
  description: 'key fields of a UBL document; amounts are exact decimals as text',
  properties: Object.fromEntries(
    ['supplierName', 'supplierVatNumber', 'invoiceNumber', 'issueDate', 'total', 'currency', 'kind', 'syntax'].map(
      (key) => [key, { type: 'string' }],
    ),
  ),
});
const DocumentView = namedSchema('Document', {
  type: 'object',
  required: ['id', 'dossierId', 'name', 'status', 'type', 'channel', 'pages'],
  properties: {
    id: uuid,
    dossierId: uuid,
    mailbox: { enum: ['purchase', 'sales', 'misc', ''], description: 'empty while unsorted (general address)' },
    name: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    type: { enum: ['pdf', 'ubl'] },
    channel: { enum: ['upload', 'scan', 'email', 'api'] },
    pages: { type: 'integer' },
    paid: { type: 'boolean', description: "the client's own note; always false for the accountant" },
    remark: { type: 'string' },
    status: { enum: ['draft', 'sent', 'processed'] },
    originalFormat: { enum: ['pdf', 'jpeg', 'xml'] },
    hasPdf: { type: 'boolean' },
    size: { type: 'integer', description: 'bytes of the original' },
    sha256: { type: 'string' },
    invoice: InvoiceView,
    sentAt: { type: 'string', format: 'date-time' },
    processedAt: { type: 'string', format: 'date-time' },
    senderEmail: { type: 'string' },
  },
});
const DocumentList = { type: 'object', properties: { documents: { type: 'array', items: DocumentView } } };
const DocumentPage = namedSchema('DocumentPage', {
  type: 'object',
  required: ['documents', 'nextCursor'],
  properties: {
    documents: { type: 'array', items: DocumentView },
    nextCursor: { type: 'string', description: 'empty on the last page' },
  },
});
const dossierParams = params('dossierId');
const documentParams = params('dossierId', 'documentId');
/** A multipart body of file parts, for the document: the parts' field names are free, their order counts. */
const filePartsSchema = (description: string): JsonSchema => ({
  type: 'object',
  description: `${description}; every part is a file (with a file name), text fields are refused`,
  additionalProperties: { type: 'string', contentMediaType: 'application/octet-stream' },
});
const UploadOutcomes = namedSchema('UploadOutcomes', {
  type: 'object',
  required: ['stored', 'refused', 'files'],
  properties: {
    stored: { type: 'integer', description: 'files that became documents' },
    refused: { type: 'integer', description: 'files refused (nothing of them is kept)' },
    files: {
      type: 'array',
      items: {
        type: 'object',
        required: ['position', 'fileName'],
        properties: {
          position: { type: 'integer', description: '1-based, among the file parts as sent' },
          fileName: { type: 'string' },
          document: DocumentView,
          refused: { type: 'object', description: 'why: a problem object (type, title, status, detail)' },
        },
      },
    },
  },
});
/**
 * What a file may be declared as; the service checks the content against the declared type (a PDF sent as
 * image/jpeg is refused, `content_type_mismatch`), application/octet-stream declares nothing.
 */
const ACCEPTED_FILES = [
  'application/pdf',
  'image/jpeg',
  'image/jpg',
  'application/xml',
  'text/xml',
  'application/octet-stream',
];

// ---- the client's mailboxes ----

type UploadQuery = { mailbox: string; fileName?: string; channel?: string };

export const uploadDocument = defineRoute<{ params: { dossierId: string }; query: UploadQuery }>({
  method: 'post',
  path: '/v1/dossiers/{dossierId}/documents',
  operationId: 'uploadDocument',
  summary: 'Upload one file (PDF, JPEG or UBL) into a mailbox; one request per file',
  description:
    'The body is the file itself, streamed. Its type is decided from its content, which must be what its ' +
    'Content-Type says (`application/pdf`; `image/jpeg` or `image/jpg`; `application/xml` or `text/xml` for UBL; ' +
    "`application/octet-stream` says nothing) and what its name's extension says: a file whose content is " +
    'another type is refused (400 `content-type-mismatch` or `content-mismatch`), as are encrypted, corrupt or ' +
    'unknown files, and nothing is stored. The name comes from ' +
    '`fileName` or the `X-File-Name` header (URL-encoded). An API key uploads on the `api` channel; a scanner ' +
    'client sends `channel=scan`.',
  tags: ['documents'],
  auth: 'authenticated',
  permission: 'document:write',
  streaming: 'upload',
  bodyLimit: 'UPLOAD_MAX_FILE_BYTES',
  request: {
    params: dossierParams,
    query: object({ mailbox, fileName: text(255), channel: { enum: ['upload', 'scan'] } }, ['mailbox']),
    contentTypes: ACCEPTED_FILES,
  },
  responses: { 201: ok('Stored', DocumentView) },
  handler: async (ctx) => {
    const header = ctx.request.get('x-file-name');
    const fileName = ctx.query.fileName ?? (header ? decodeURIComponent(header) : '');
    // a file the client sent whole is stored even if the client leaves before the answer, as in a multi-file upload
    const file = fileUpload(
      ctx.signal,
      {
        dossierId: ctx.params.dossierId,
        mailbox: ctx.query.mailbox,
        fileName,
        channel: ctx.caller.kind === 'api_key' ? 'api' : (ctx.query.channel ?? 'upload'),
        contentType: ctx.request.get('content-type') ?? '',
      },
      ctx.upload,
    );
    try {
      const { document } = await intakeOf(ctx.services).uploadDocument(
        file.messages,
        callFor({ ...ctx, signal: file.signal }, TRANSFER_TIMEOUT_MS),
      );
      return reply(201, documentJson(document));
    } finally {
      file.release();
    }
  },
});

const tooManyPages = (maxPages: number) =>
  invalidArgument(`A scan has at most ${maxPages} pages (file parts); nothing of this one was stored.`, {
    reason: 'too_many_pages',
    violations: [{ field: 'body', message: `has more than ${maxPages} file parts` }],
  });

/** What a scanner may declare a page to be; the service checks the content against it. */
const PAGE_TYPES = ['image/jpeg', 'image/jpg', 'application/pdf', 'application/octet-stream'];

/**
 * The pages of a multipart scan as one upload stream: header, the first page's bytes, `nextPage`, the next
 * page's bytes, ... A part that cannot be a page, or a scan without pages, fails the stream, which cancels the
 * call: the service then keeps nothing of the pages it already received.
 */
async function* scanMessages(
  header: { dossierId: string; mailbox: string; fileName: string },
  parts: AsyncIterator<FilePart>,
): AsyncIterable<MessageInitShape<typeof UploadDocumentRequestSchema>> {
  try {
    yield* pagesAsMessages(header, parts);
  } finally {
    // the call ended early (refused, cancelled): stop reading the parts
    await parts.return?.();
  }
}

async function* pagesAsMessages(
  header: { dossierId: string; mailbox: string; fileName: string },
  parts: AsyncIterator<FilePart>,
): AsyncIterable<MessageInitShape<typeof UploadDocumentRequestSchema>> {
  let next = await parts.next();
  if (next.done)
    throw invalidArgument('A scan needs at least one page: send each page as a file part.', {
      reason: 'no_pages',
      violations: [{ field: 'body', message: 'has no file parts' }],
    });
  yield {
    part: {
      case: 'header',
      value: {
        ...header,
        fileName: header.fileName || next.value.fileName,
        channel: 'scan',
        contentType: next.value.mediaType,
      },
    },
  };
  for (let page = next.value; ; page = next.value) {
    if (!PAGE_TYPES.includes(page.mediaType)) {
      page.skip();
      throw invalidArgument(
        `Page ${page.position}${page.fileName ? ` ("${page.fileName}")` : ''} is ${page.mediaType}; a scanned page is a JPEG image or a PDF.`,
        {
          reason: 'unsupported_page_type',
          violations: [{ field: `body.${page.field}`, message: 'is not a JPEG image or a PDF' }],
        },
      );
    }
    if (page.position > 1) {
      yield { part: { case: 'nextPage', value: true } };
      yield { part: { case: 'pageContentType', value: page.mediaType } };
    }
    for await (const chunk of atMost(page.bytes, CHUNK)) yield { part: { case: 'chunk', value: chunk } };
    next = await parts.next();
    if (next.done) {
      yield { part: { case: 'end', value: true } };
      return;
    }
  }
}

export const scanDocument = defineRoute<{
  params: { dossierId: string };
  query: { mailbox: string; fileName?: string };
}>({
  method: 'post',
  path: '/v1/dossiers/{dossierId}/scans',
  operationId: 'scanDocument',
  summary: 'A scanned document of several pages, one multipart part per page, stored as one document',
  description:
    'The body is `multipart/form-data` with one file part per page, in page order: a JPEG image or a PDF ' +
    '(`image/jpeg` or `image/jpg`, `application/pdf`, or `application/octet-stream`, which says nothing; a page ' +
    'whose content is not its declared type refuses the scan, `content-type-mismatch`). Parts stream to the ' +
    'service one after the other; JPEG pages become PDF pages and everything is merged into one document on the ' +
    '`scan` channel, named after `fileName` or else the first part. At most {SCAN_MAX_PAGES} parts, each at most ' +
    '{UPLOAD_MAX_FILE_BYTES} bytes. A scan without pages, with more parts than that, a part of another ' +
    'type, a text field or an unreadable page is refused and nothing is stored.',
  tags: ['documents'],
  auth: 'authenticated',
  permission: 'document:write',
  streaming: 'upload',
  bodyLimit: 'UPLOAD_MAX_REQUEST_BYTES',
  request: {
    params: dossierParams,
    query: object({ mailbox, fileName: text(255) }, ['mailbox']),
    contentTypes: ['multipart/form-data'],
    uploadSchema: filePartsSchema('one file part per page, in page order: a JPEG image or a PDF'),
  },
  responses: { 201: ok('Stored as one document', DocumentView) },
  handler: async (ctx) => {
    // every page is held by the service while it merges them: SCAN_MAX_PAGES is the only cap on their number
    const parts = fileParts(ctx.request.headers, ctx.upload, {
      maxFileBytes: ctx.deps.config.UPLOAD_MAX_FILE_BYTES,
      maxFiles: ctx.deps.config.SCAN_MAX_PAGES,
      tooMany: tooManyPages,
    });
    const { document } = await intakeOf(ctx.services).uploadDocument(
      scanMessages(
        { dossierId: ctx.params.dossierId, mailbox: ctx.query.mailbox, fileName: ctx.query.fileName ?? '' },
        parts,
      ),
      callFor(ctx, TRANSFER_TIMEOUT_MS),
    );
    return reply(201, documentJson(document));
  },
});

type FileOutcome =
  | { position: number; fileName: string; document: ReturnType<typeof documentJson> }
  | { position: number; fileName: string; refused: Problem['details'] };

export const uploadDocuments = defineRoute<{ params: { dossierId: string }; query: { mailbox: string } }>({
  method: 'post',
  path: '/v1/dossiers/{dossierId}/document-uploads',
  operationId: 'uploadDocuments',
  summary: 'Upload several files at once into a mailbox; each file becomes its own document',
  description:
    'The body is `multipart/form-data` with one file part per file (PDF, JPEG or UBL; the content decides the ' +
    "type, and must be what the part's Content-Type says: `application/pdf`, `image/jpeg` or `image/jpg`, " +
    '`application/xml` or `text/xml`; `application/octet-stream` says nothing; a part declared as something else, ' +
    'or whose content is not its declared type, is refused, `unsupported-type` or `content-type-mismatch`). At ' +
    'most {UPLOAD_MAX_FILES_PER_REQUEST} files, each at most {UPLOAD_MAX_FILE_BYTES} bytes; they ' +
    'stream to the service one after the other. The answer ' +
    'names every file in the order sent: the stored document, or `refused` with the reason (a problem object). ' +
    'A refused file does not stop or undo the others. If the body itself breaks off (too large, malformed, the ' +
    'files limit), the files before it keep their outcome and the answer ends with the refusal; nothing after ' +
    'it is stored. A file sent whole is stored even if the client leaves before the answer.',
  tags: ['documents'],
  auth: 'authenticated',
  permission: 'document:write',
  streaming: 'upload',
  bodyLimit: 'UPLOAD_MAX_REQUEST_BYTES',
  request: {
    params: dossierParams,
    query: object({ mailbox }, ['mailbox']),
    contentTypes: ['multipart/form-data'],
    uploadSchema: filePartsSchema('one file part per file'),
  },
  responses: { 200: ok('The outcome per file, in the order sent', UploadOutcomes) },
  handler: async (ctx) => {
    const intake = intakeOf(ctx.services);
    const outcomes: FileOutcome[] = [];
    const refused = (position: number, fileName: string, error: unknown) =>
      outcomes.push({ position, fileName, refused: problemFor(error, ctx.requestId, ctx.logger).details });
    let current: FilePart | undefined;
    try {
      for await (const part of fileParts(ctx.request.headers, ctx.upload, {
        maxFileBytes: ctx.deps.config.UPLOAD_MAX_FILE_BYTES,
        maxFiles: ctx.deps.config.UPLOAD_MAX_FILES_PER_REQUEST,
      })) {
        current = part;
        if (!ACCEPTED_FILES.includes(part.mediaType)) {
          part.skip();
          refused(
            part.position,
            part.fileName,
            invalidArgument(
              `"${part.fileName}" is ${part.mediaType}; a document is a PDF, a JPEG image or a UBL file.`,
              {
                reason: 'unsupported_type',
              },
            ),
          );
          continue;
        }
        const file = fileUpload(
          ctx.signal,
          {
            dossierId: ctx.params.dossierId,
            mailbox: ctx.query.mailbox,
            fileName: part.fileName,
            channel: ctx.caller.kind === 'api_key' ? 'api' : 'upload',
            contentType: part.mediaType,
          },
          part.bytes,
        );
        try {
          const { document } = await intake.uploadDocument(
            file.messages,
            callFor({ ...ctx, signal: file.signal }, TRANSFER_TIMEOUT_MS),
          );
          outcomes.push({ position: part.position, fileName: part.fileName, document: documentJson(document) });
        } catch (error) {
          if (ctx.signal.aborted) throw error;
          // the service refused at the file's first bytes: the rest of it is read and dropped
          part.skip();
          refused(part.position, part.fileName, error);
        } finally {
          file.release();
        }
        current = undefined;
      }
    } catch (error) {
      // the body itself broke off: what came before keeps its outcome, unless nothing did
      if (outcomes.length === 0 || ctx.signal.aborted) throw error;
      const last = outcomes.at(-1)!;
      // a body that broke off while a file streamed is that file's refusal already
      if (!('refused' in last && last.refused.detail === problemFor(error, ctx.requestId, ctx.logger).details.detail))
        refused(current?.position ?? last.position + 1, current?.fileName ?? '', error);
    }
    if (outcomes.length === 0)
      throw invalidArgument('No file was sent: send each file as a part with a file name.', {
        reason: 'no_files',
        violations: [{ field: 'body', message: 'has no file parts' }],
      });
    return {
      stored: outcomes.filter((outcome) => 'document' in outcome).length,
      refused: outcomes.filter((outcome) => 'refused' in outcome).length,
      files: outcomes,
    };
  },
});

type ListQuery = {
  mailbox?: string;
  status?: string[];
  search?: string;
  channel?: string;
  type?: string;
  createdFrom?: string;
  createdTo?: string;
  pageSize?: number;
  cursor?: string;
};

export const listDocuments = defineRoute<{ params: { dossierId: string }; query: ListQuery }>({
  method: 'get',
  path: '/v1/dossiers/{dossierId}/documents',
  operationId: 'listDocuments',
  summary: "A dossier's documents, filtered, newest first, a page at a time",
  description:
    'The accountant sees sent and processed documents only; `mailbox=unsorted` lists mail to the general address.',
  tags: ['documents'],
  auth: 'authenticated',
  permission: 'document:read',
  request: {
    params: dossierParams,
    query: object({
      mailbox: { enum: ['purchase', 'sales', 'misc', 'unsorted'] },
      status: {
        type: 'array',
        maxItems: 3,
        items: { enum: ['draft', 'sent', 'processed'] },
        description: 'repeat the parameter for several',
      },
      search: text(200),
      channel: { enum: ['upload', 'scan', 'email', 'api'] },
      type: { enum: ['pdf', 'ubl'] },
      createdFrom: { type: 'string', format: 'date-time' },
      createdTo: { type: 'string', format: 'date-time' },
      pageSize: { type: 'integer', minimum: 1, maximum: 200 },
      cursor: text(1000),
    }),
  },
  responses: { 200: ok('One page', DocumentPage) },
  handler: async (ctx) => {
    const { status, createdFrom, createdTo, ...rest } = ctx.query;
    const page = await intakeOf(ctx.services).listDocuments(
      {
        dossierId: ctx.params.dossierId,
        ...rest,
        statuses: status ?? [],
        createdFrom: createdFrom ? timestampFromDate(new Date(createdFrom)) : undefined,
        createdTo: createdTo ? timestampFromDate(new Date(createdTo)) : undefined,
        pageSize: rest.pageSize ?? 50,
      },
      callFor(ctx),
    );
    return { documents: page.documents.map(documentJson), nextCursor: page.nextCursor };
  },
});

export const getDocument = defineRoute<{ params: { dossierId: string; documentId: string } }>({
  method: 'get',
  path: '/v1/dossiers/{dossierId}/documents/{documentId}',
  operationId: 'getDocument',
  summary: 'One document',
  tags: ['documents'],
  auth: 'authenticated',
  permission: 'document:read',
  request: { params: documentParams },
  responses: { 200: ok('The document', DocumentView) },
  handler: async (ctx) => documentJson(await documentIn(ctx, ctx.params.dossierId, ctx.params.documentId)),
});

export const updateDocument = defineRoute<{
  params: { dossierId: string; documentId: string };
  body: { name?: string; mailbox?: string; paid?: boolean; remark?: string };
}>({
  method: 'patch',
  path: '/v1/dossiers/{dossierId}/documents/{documentId}',
  operationId: 'updateDocument',
  summary: 'Rename, move to another mailbox (also: sort an unsorted document), set the paid flag or the remark',
  tags: ['documents'],
  auth: 'authenticated',
  permission: 'document:write',
  request: {
    params: documentParams,
    body: object({
      name: { type: 'string', minLength: 1, maxLength: 200 },
      mailbox,
      paid: { type: 'boolean' },
      remark: text(2000),
    }),
  },
  responses: { 200: ok('The document as changed', DocumentView) },
  handler: async (ctx) => {
    const { documentId, dossierId } = ctx.params;
    let document = await documentIn(ctx, dossierId, documentId);
    const intake = intakeOf(ctx.services);
    const { name, mailbox: box, paid, remark } = ctx.body;
    if (name !== undefined) document = (await intake.renameDocument({ documentId, name }, callFor(ctx))).document!;
    if (box !== undefined) document = (await intake.moveDocument({ documentId, mailbox: box }, callFor(ctx))).document!;
    if (paid !== undefined) document = (await intake.setPaid({ documentId, paid }, callFor(ctx))).document!;
    if (remark !== undefined) document = (await intake.setRemark({ documentId, remark }, callFor(ctx))).document!;
    return documentJson(document);
  },
});

export const deleteDocument = defineRoute<{ params: { dossierId: string; documentId: string } }>({
  method: 'delete',
  path: '/v1/dossiers/{dossierId}/documents/{documentId}',
  operationId: 'deleteDocument',
  summary: 'Remove a document from its mailbox (the archive keeps it)',
  tags: ['documents'],
  auth: 'authenticated',
  permission: 'document:write',
  request: { params: documentParams },
  responses: { 204: ok('Removed') },
  handler: async (ctx) => {
    await documentIn(ctx, ctx.params.dossierId, ctx.params.documentId);
    await intakeOf(ctx.services).deleteDocument({ documentId: ctx.params.documentId }, callFor(ctx));
    return reply(204);
  },
});

export const splitDocument = defineRoute<{
  params: { dossierId: string; documentId: string };
  body: { groups: Array<{ name: string; pages: number[] }> };
}>({
  method: 'post',
  path: '/v1/dossiers/{dossierId}/documents/{documentId}/split',
  operationId: 'splitDocument',
  summary: 'Split into page groups, each a new named document',
  tags: ['documents'],
  auth: 'authenticated',
  permission: 'document:write',
  request: {
    params: documentParams,
    body: object(
      {
        groups: {
          type: 'array',
          minItems: 1,
          maxItems: 200,
          items: object(
            {
              name: { type: 'string', minLength: 1, maxLength: 200 },
              pages: { type: 'array', minItems: 1, maxItems: 2000, items: { type: 'integer', minimum: 1 } },
            },
            ['name', 'pages'],
          ),
        },
      },
      ['groups'],
    ),
  },
  responses: { 201: ok('The new documents', DocumentList) },
  handler: async (ctx) => {
    await documentIn(ctx, ctx.params.dossierId, ctx.params.documentId);
    const { documents } = await intakeOf(ctx.services).splitDocument(
      { documentId: ctx.params.documentId, groups: ctx.body.groups },
      callFor(ctx, TRANSFER_TIMEOUT_MS),
    );
    return reply(201, { documents: documents.map(documentJson) });
  },
});

export const mergeDocuments = defineRoute<{
  params: { dossierId: string };
  body: { documentIds: string[]; name: string };
}>({
  method: 'post',
  path: '/v1/dossiers/{dossierId}/document-merges',
  operationId: 'mergeDocuments',
  summary: 'Merge documents, in the order given, into a new named document',
  tags: ['documents'],
  auth: 'authenticated',
  permission: 'document:write',
  request: {
    params: dossierParams,
    body: object(
      { documentIds: { ...documentIds, minItems: 2 }, name: { type: 'string', minLength: 1, maxLength: 200 } },
      ['documentIds', 'name'],
    ),
  },
  responses: { 201: ok('The merged document', DocumentView) },
  handler: async (ctx) => {
    await documentsIn(ctx, ctx.params.dossierId, ctx.body.documentIds);
    const { document } = await intakeOf(ctx.services).mergeDocuments(ctx.body, callFor(ctx, TRANSFER_TIMEOUT_MS));
    return reply(201, documentJson(document));
  },
});

export const sendDocuments = defineRoute<{ params: { dossierId: string }; body: { documentIds: string[] } }>({
  method: 'post',
  path: '/v1/dossiers/{dossierId}/document-sends',
  operationId: 'sendDocuments',
  summary: 'Send documents to the accountant (draft → sent)',
  tags: ['documents'],
  auth: 'authenticated',
  permission: 'document:write',
  request: { params: dossierParams, body: object({ documentIds }, ['documentIds']) },
  responses: { 200: ok('The documents as sent', DocumentList) },
  handler: async (ctx) => {
    await documentsIn(ctx, ctx.params.dossierId, ctx.body.documentIds);
    const { documents } = await intakeOf(ctx.services).sendDocuments(ctx.body, callFor(ctx, TRANSFER_TIMEOUT_MS));
    return { documents: documents.map(documentJson) };
  },
});

export const downloadDocument = defineRoute<{
  params: { dossierId: string; documentId: string };
  query: { variant?: 'pdf' | 'original'; disposition?: 'attachment' | 'inline' };
}>({
  method: 'get',
  path: '/v1/dossiers/{dossierId}/documents/{documentId}/file',
  operationId: 'downloadDocument',
  summary: 'Download the PDF (default) or the original as handed in (JPEG, PDF or UBL XML), or preview the PDF',
  description:
    '`disposition=inline` is the preview: the PDF rendition, served as `application/pdf` with ' +
    '`Content-Disposition: inline` (and, as every answer, `X-Content-Type-Options: nosniff`) for the browser to ' +
    'show. Only the PDF previews: with `variant=original`, or for a UBL document without a PDF, it is refused.',
  tags: ['documents'],
  auth: 'authenticated',
  permission: 'document:read',
  streaming: 'download',
  request: {
    params: documentParams,
    query: object({
      variant: { enum: ['pdf', 'original'] },
      disposition: { enum: ['attachment', 'inline'], description: 'inline: a preview of the PDF; default attachment' },
    }),
  },
  responses: { 200: ok('The file', undefined) },
  handler: async (ctx) => {
    const disposition = ctx.query.disposition ?? 'attachment';
    const variant = ctx.query.variant ?? 'pdf';
    if (disposition === 'inline' && variant !== 'pdf')
      throw invalidArgument('Only the PDF of a document can be previewed; download the original instead.', {
        reason: 'no_preview',
        violations: [{ field: 'query.variant', message: 'must be pdf for an inline preview' }],
      });
    await documentIn(ctx, ctx.params.dossierId, ctx.params.documentId);
    return streamedFile(
      intakeOf(ctx.services).downloadDocument(
        { documentId: ctx.params.documentId, variant },
        callFor(ctx, TRANSFER_TIMEOUT_MS),
      ),
      disposition,
    );
  },
});

export const getIntakeLog = defineRoute<{ params: { dossierId: string }; query: PageQuery }>({
  method: 'get',
  path: '/v1/dossiers/{dossierId}/intake-log',
  operationId: 'getIntakeLog',
  summary: 'Received files that were refused, with the reason (never silently dropped), a page at a time',
  description:
    'Newest first, `pageSize` files a page (default 50). When more follow, `nextCursor` is set: pass it as ' +
    '`cursor` for the next page; on the last page it is empty. `limit` is the deprecated name of `pageSize`.',
  tags: ['documents'],
  auth: 'authenticated',
  permission: 'document:read',
  request: { params: dossierParams, query: object(pageQuery(500)) },
  responses: {
    200: ok('One page of refused files, newest first', {
      type: 'object',
      required: ['refused', 'nextCursor'],
      properties: { refused: { type: 'array' }, nextCursor },
    }),
  },
  handler: async (ctx) => {
    const page = await intakeOf(ctx.services).getIntakeLog(
      { dossierId: ctx.params.dossierId, ...pageOf(ctx.query) },
      callFor(ctx),
    );
    return {
      refused: page.refused.map((file) => toJson(RefusedFileSchema, file, { alwaysEmitImplicit: true })),
      nextCursor: page.nextCursor,
    };
  },
});

// ---- the accountant's side ----

type ActiveClientsQuery = {
  clientGroupId?: string;
  fileManagerId?: string;
  staffId?: string;
  search?: string;
  mailbox?: string;
  onlyWaiting?: boolean;
};

const ActiveClientView = namedSchema('ActiveClient', {
  type: 'object',
  required: ['dossierId', 'dossierName', 'mailboxes', 'unsorted'],
  properties: {
    dossierId: uuid,
    dossierName: { type: 'string' },
    mailboxes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['mailbox', 'notSent', 'waiting'],
        properties: {
          mailbox: mailbox,
          notSent: { type: 'integer', description: 'grey: present, not yet sent by the client' },
          waiting: { type: 'integer', description: 'green: sent, waiting to be processed' },
        },
      },
    },
    unsorted: { type: 'integer', description: 'mail to the general address, still without a mailbox' },
  },
});

export const listActiveClients = defineRoute<{ query: ActiveClientsQuery & PageQuery }>({
  method: 'get',
  path: '/v1/active-clients',
  operationId: 'listActiveClients',
  summary: 'The active clients monitor: per dossier the caller sees and mailbox, documents not sent and waiting',
  description:
    'Only active dossiers the caller may see (support staff: those assigned to them) that hold documents. The ' +
    'filters limit the list, each one narrowing it further; a dossier shown has all its mailboxes counted. By ' +
    'dossier name (case-insensitive, then dossier id), `pageSize` dossiers a page (default 50). When more follow, ' +
    '`nextCursor` is set: pass it as `cursor`, with the same filters, for the next page; on the last page it is empty.',
  tags: ['hand-over'],
  auth: 'authenticated',
  permission: 'document:monitor',
  request: {
    query: object({
      clientGroupId: { ...uuid, description: "only the client group's dossiers" },
      fileManagerId: { ...uuid, description: 'only dossiers this staff member is the file manager of' },
      staffId: {
        ...uuid,
        description:
          'only dossiers this staff member is assigned to: as file manager or collaborator, through a collaborating ' +
          "staff group, or as staff (or in a staff group) of the dossier's client group",
      },
      search: { ...text(200), description: 'part of the dossier name, code or enterprise number' },
      mailbox: { enum: ['purchase', 'sales', 'misc', 'unsorted'], description: 'only dossiers with documents there' },
      onlyWaiting: {
        type: 'boolean',
        description: 'only dossiers with sent documents waiting to be processed (in `mailbox` when given)',
      },
      ...pageQuery(),
    }),
  },
  responses: {
    200: ok('One page of dossiers with documents, by name', {
      type: 'object',
      required: ['clients', 'nextCursor'],
      properties: { clients: { type: 'array', items: ActiveClientView }, nextCursor },
    }),
  },
  handler: async (ctx) => {
    const directory = ctx.services.directory;
    if (!directory) throw unavailable('The directory service is not available.', { reason: 'directory_unavailable' });
    const {
      clientGroupId = '',
      fileManagerId = '',
      staffId = '',
      search = '',
      mailbox: box = '',
      onlyWaiting = false,
    } = ctx.query;
    // the directory lists the dossiers this caller sees (support staff: their assignments) with their own
    // filters, in name order; the intake tells which of them to show (see active-clients-page.ts)
    return activeClientsPage(pageOf(ctx.query), {
      dossiersAfter: (cursor, size) =>
        directory.listDossiers(
          { status: 'active', pageSize: size, cursor, clientGroupId, fileManagerId, assignedStaffId: staffId, search },
          callFor(ctx),
        ),
      shownOf: async (dossierIds) => {
        const { clients } = await intakeOf(ctx.services).listActiveClients(
          { dossierIds, mailbox: box, onlyWaiting },
          callFor(ctx),
        );
        return clients.map(
          (client) => toJson(ActiveClientSchema, client, { alwaysEmitImplicit: true }) as { dossierId: string },
        );
      },
    });
  },
});

export const markDocumentsProcessed = defineRoute<{ params: { dossierId: string }; body: { documentIds: string[] } }>({
  method: 'post',
  path: '/v1/dossiers/{dossierId}/processed-documents',
  operationId: 'markDocumentsProcessed',
  summary: 'Mark sent documents processed (never back)',
  tags: ['hand-over'],
  auth: 'authenticated',
  permission: 'document:process',
  request: { params: dossierParams, body: object({ documentIds }, ['documentIds']) },
  responses: { 200: ok('The documents as processed', DocumentList) },
  handler: async (ctx) => {
    await documentsIn(ctx, ctx.params.dossierId, ctx.body.documentIds);
    const { documents } = await intakeOf(ctx.services).markProcessed(ctx.body, callFor(ctx, TRANSFER_TIMEOUT_MS));
    return { documents: documents.map(documentJson) };
  },
});

export const downloadDossierZip = defineRoute<{ params: { dossierId: string }; query: { markProcessed?: boolean } }>({
  method: 'get',
  path: '/v1/dossiers/{dossierId}/documents-zip',
  operationId: 'downloadDossierZip',
  summary: 'Download every sent document still to process as one ZIP (folder per mailbox and kind)',
  description: 'With `markProcessed=true` the downloaded documents become processed once the last byte is out.',
  tags: ['hand-over'],
  auth: 'authenticated',
  permission: 'document:process',
  streaming: 'download',
  request: { params: dossierParams, query: object({ markProcessed: { type: 'boolean' } }) },
  responses: { 200: ok('The ZIP', undefined) },
  handler: async (ctx) =>
    streamedFile(
      intakeOf(ctx.services).downloadDossierZip(
        { dossierId: ctx.params.dossierId, markProcessed: ctx.query.markProcessed ?? false },
        callFor(ctx, TRANSFER_TIMEOUT_MS),
      ),
    ),
});

export const requestDownloadLink = defineRoute<{ params: { dossierId: string }; body: { markProcessed?: boolean } }>({
  method: 'post',
  path: '/v1/dossiers/{dossierId}/download-links',
  operationId: 'requestDownloadLink',
  summary: 'E-mail oneself a signed link to the ZIP, bound to the dossier and oneself, that expires',
  tags: ['hand-over'],
  auth: 'authenticated',
  permission: 'document:process',
  request: { params: dossierParams, body: object({ markProcessed: { type: 'boolean' } }) },
  responses: {
    202: ok('The link is on its way', {
      type: 'object',
      properties: { expiresAt: { type: 'string', format: 'date-time' }, recipientEmail: { type: 'string' } },
    }),
  },
  handler: async (ctx) => {
    const answer = await intakeOf(ctx.services).requestDownloadLink(
      { dossierId: ctx.params.dossierId, markProcessed: ctx.body?.markProcessed ?? false },
      callFor(ctx),
    );
    return reply(202, {
      expiresAt: answer.expiresAt ? new Date(Number(answer.expiresAt.seconds) * 1000).toISOString() : undefined,
      recipientEmail: answer.recipientEmail,
    });
  },
});

export const downloadWithLink = defineRoute<{ params: { token: string } }>({
  method: 'get',
  path: '/v1/document-downloads/{token}',
  operationId: 'downloadWithLink',
  summary: 'The ZIP of an e-mailed download link',
  description:
    'The token is the credential: it names the dossier and the staff member, whose access is checked again now; it expires.',
  tags: ['hand-over'],
  auth: 'public',
  streaming: 'download',
  request: { params: object({ token: { type: 'string', minLength: 20, maxLength: 2000 } }, ['token']) },
  responses: { 200: ok('The ZIP', undefined) },
  handler: async (ctx) =>
    streamedFile(
      intakeOf(ctx.services).downloadDossierZip({ linkToken: ctx.params.token }, callFor(ctx, TRANSFER_TIMEOUT_MS)),
    ),
});

export const documentIntakeRoutes = [
  uploadDocument,
  scanDocument,
  uploadDocuments,
  listDocuments,
  getDocument,
  updateDocument,
  deleteDocument,
  splitDocument,
  mergeDocuments,
  sendDocuments,
  downloadDocument,
  getIntakeLog,
  listActiveClients,
  markDocumentsProcessed,
  downloadDossierZip,
  requestDownloadLink,
  downloadWithLink,
];
