/**
 * The archive's public endpoints (spec 03): search a dossier's archive, download one object, a filtered set or
 * the complete archive of a dossier (streamed ZIPs), and the admins' side: legal holds, the firm's retention,
 * early deletion, verification and purge runs. Dossier routes are decided on the dossier by the access policy
 * here; the archive service checks again on every call.
 */
import { Readable } from 'node:stream';
import { toJson } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { unavailable } from '@kantoor/errors';
import type { ServiceClient } from '@kantoor/grpc';
import {
  ArchiveService,
  ArchivedDocumentSchema,
  PurgeRecordSchema,
  RetentionPolicySchema,
  VerificationRunSchema,
  type ArchivedDocument,
  type ArchiveFilterSchema,
  type DownloadObjectResponse,
  type DownloadSelectionResponse,
  type DownloadDossierArchiveResponse,
  type PurgeRecord,
  type RetentionPolicy,
  type VerificationRun,
} from '@kantoor/proto/kantoor/archive/v1/archive_pb';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { ServiceClients } from '../app';
import { defineRoute, namedSchema, reply, streamReply, type JsonSchema, type RouteContext } from '../openapi/route';
import { nextCursor, pageOf, pageQuery, type PageQuery } from './list-pages';

declare module '../app' {
  interface ServiceClients {
    archive?: ServiceClient<typeof ArchiveService>;
  }
}

type Ctx = Pick<RouteContext, 'caller' | 'requestId' | 'signal'>;

// a dossier's complete archive can take long; a leaving client cancels through `signal`
const TRANSFER_TIMEOUT_MS = 60 * 60_000;

function archiveOf(services: ServiceClients) {
  if (!services.archive) throw unavailable('The archive service is not available.', { reason: 'archive_unavailable' });
  return services.archive;
}

const callFor = (ctx: Ctx, timeoutMs?: number) => ({
  caller: { ...ctx.caller!, requestId: ctx.requestId },
  signal: ctx.signal,
  ...(timeoutMs && { timeoutMs }),
});

const json = { alwaysEmitImplicit: true } as const;
/** sizes are int64 in the proto (text in proto JSON); a byte count of one file fits a JSON number */
const documentJson = (document: ArchivedDocument) => {
  const value = toJson(ArchivedDocumentSchema, document, json) as Record<string, unknown>;
  return {
    ...value,
    objects: document.objects.map((object, i) => ({
      ...((value.objects as object[])[i] as object),
      size: Number(object.size),
    })),
  };
};
const runJson = (run: VerificationRun) => toJson(VerificationRunSchema, run, json);
const purgeJson = (record: PurgeRecord) => toJson(PurgeRecordSchema, record, json);
const policyJson = (policy: RetentionPolicy | undefined) => policy && toJson(RetentionPolicySchema, policy, json);

/** `info` then `chunk`s as a streamed reply; a refusal before the first byte is still a problem answer. */
async function streamedFile(
  messages: AsyncIterable<DownloadObjectResponse | DownloadSelectionResponse | DownloadDossierArchiveResponse>,
) {
  const iterator = messages[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done || first.value.part.case !== 'info') throw unavailable('The download ended before it began.');
  const info = first.value.part.value;
  async function* chunks() {
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      if (next.value.part.case === 'chunk') yield Buffer.from(next.value.part.value);
    }
  }
  const body = Readable.from(chunks(), { objectMode: false });
  // the client left: stop the gRPC stream too instead of leaving it to its deadline
  body.once('close', () => void iterator.return?.());
  return streamReply({
    body,
    contentType: info.contentType,
    filename: info.fileName,
    headers: info.sha256 ? { 'x-content-sha256': info.sha256 } : {},
    ...(info.size >= 0n && { contentLength: Number(info.size) }),
  });
}

// ---- schemas ----

const object = (properties: Record<string, unknown>, required: string[] = []): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  properties,
  required,
});
const params = (...names: string[]) =>
  object(Object.fromEntries(names.map((name) => [name, { type: 'string', maxLength: 200 }])), names);
const ok = (description: string, schema?: JsonSchema) => ({ description, ...(schema && { schema }) });
const date = { type: 'string', format: 'date' } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;

const filterQuery = {
  mailbox: { enum: ['purchase', 'sales', 'misc'] },
  documentDateFrom: { ...date, description: 'document date on or after (YYYY-MM-DD)' },
  documentDateTo: { ...date, description: 'document date on or before (YYYY-MM-DD)' },
  uploadedFrom: dateTime,
  uploadedTo: dateTime,
  name: { type: 'string', maxLength: 200, description: 'part of the name, case-insensitive' },
  channel: { type: 'string', maxLength: 40 },
  deleted: { enum: ['live', 'deleted', 'all'], description: 'default live' },
} as const;
type FilterQuery = {
  mailbox?: string;
  documentDateFrom?: string;
  documentDateTo?: string;
  uploadedFrom?: string;
  uploadedTo?: string;
  name?: string;
  channel?: string;
  deleted?: string;
};

function filterOf(dossierId: string, query: FilterQuery): MessageInitShape<typeof ArchiveFilterSchema> {
  const { uploadedFrom, uploadedTo, ...rest } = query;
  return {
    dossierId,
    ...rest,
    uploadedFrom: uploadedFrom ? timestampFromDate(new Date(uploadedFrom)) : undefined,
    uploadedTo: uploadedTo ? timestampFromDate(new Date(uploadedTo)) : undefined,
  };
}

const ArchivedObjectView = namedSchema('ArchivedObject', {
  type: 'object',
  required: ['id', 'role', 'sha256', 'size', 'status'],
  properties: {
    id: { type: 'string' },
    role: { type: 'string', description: 'original, pdf, page-N, invoice-pdf, e-invoice ...' },
    sha256: { type: 'string' },
    size: { type: 'integer' },
    contentType: { type: 'string' },
    retainUntil: dateTime,
    legalHold: { type: 'boolean' },
    status: { enum: ['archived', 'purged'] },
  },
});
const ArchivedDocumentView = namedSchema('ArchivedDocument', {
  type: 'object',
  required: ['documentId', 'dossierId', 'name', 'deleted', 'objects'],
  properties: {
    documentId: { type: 'string' },
    dossierId: { type: 'string' },
    source: { type: 'string' },
    mailbox: { type: 'string' },
    name: { type: 'string' },
    channel: { type: 'string' },
    type: { enum: ['pdf', 'ubl'] },
    documentDate: { type: 'string' },
    uploadedAt: dateTime,
    deletedAt: dateTime,
    deleted: { type: 'boolean' },
    sourceDocumentIds: { type: 'array', items: { type: 'string' } },
    objects: { type: 'array', items: ArchivedObjectView },
  },
});
const RetentionPolicyView = namedSchema('RetentionPolicy', {
  type: 'object',
  required: ['years', 'counting'],
  properties: {
    years: { type: 'integer', minimum: 1, maximum: 100 },
    counting: {
      enum: ['end_of_year', 'document_date'],
      description: 'from the end of the calendar year of the document date, or from that date',
    },
  },
});
const VerificationRunView = namedSchema('VerificationRun', {
  type: 'object',
  properties: {
    id: { type: 'string' },
    startedAt: dateTime,
    finishedAt: dateTime,
    checked: { type: 'integer' },
    findingCount: { type: 'integer', description: 'how many findings the run has; `findings` holds the first 1,000' },
    findings: {
      type: 'array',
      items: {
        type: 'object',
        properties: Object.fromEntries(
          ['objectId', 'key', 'dossierId', 'problem', 'expectedSha256', 'actualSha256'].map((key) => [
            key,
            { type: 'string' },
          ]),
        ),
      },
    },
  },
});
const PurgeRecordView = namedSchema('PurgeRecord', {
  type: 'object',
  properties: {
    ...Object.fromEntries(
      ['objectId', 'key', 'dossierId', 'documentId', 'sha256', 'rule'].map((key) => [key, { type: 'string' }]),
    ),
    retainUntil: dateTime,
    purgedAt: dateTime,
  },
});
const dossierParams = params('dossierId');
const objectParams = params('dossierId', 'objectId');
const legalHoldBody = object({ hold: { type: 'boolean' }, reason: { type: 'string', minLength: 1, maxLength: 1000 } }, [
  'hold',
  'reason',
]);
const LegalHoldResult = { type: 'object', properties: { objectsAffected: { type: 'integer' } } };

// ---- reading the archive ----

export const searchArchive = defineRoute<{
  params: { dossierId: string };
  query: FilterQuery & { pageSize?: number; cursor?: string };
}>({
  method: 'get',
  path: '/v1/dossiers/{dossierId}/archive/documents',
  operationId: 'searchArchive',
  summary: "A dossier's archived documents, filtered, newest upload first, a page at a time",
  tags: ['archive'],
  auth: 'authenticated',
  permission: 'archive:read',
  request: {
    params: dossierParams,
    query: object({
      ...filterQuery,
      pageSize: { type: 'integer', minimum: 1, maximum: 200 },
      cursor: { type: 'string', maxLength: 1000 },
    }),
  },
  responses: {
    200: ok('One page', {
      type: 'object',
      required: ['documents', 'nextCursor'],
      properties: {
        documents: { type: 'array', items: ArchivedDocumentView },
        nextCursor: { type: 'string', description: 'empty on the last page' },
      },
    }),
  },
  handler: async (ctx) => {
    const { pageSize, cursor, ...filter } = ctx.query;
    const page = await archiveOf(ctx.services).searchArchive(
      { filter: filterOf(ctx.params.dossierId, filter), pageSize: pageSize ?? 50, cursor: cursor ?? '' },
      callFor(ctx),
    );
    return { documents: page.documents.map(documentJson), nextCursor: page.nextCursor };
  },
});

export const downloadArchivedObject = defineRoute<{ params: { dossierId: string; objectId: string } }>({
  method: 'get',
  path: '/v1/dossiers/{dossierId}/archive/objects/{objectId}/file',
  operationId: 'downloadArchivedObject',
  summary: 'Download one archived object as it was archived (its SHA-256 in X-Content-Sha256)',
  tags: ['archive'],
  auth: 'authenticated',
  permission: 'archive:read',
  streaming: 'download',
  request: { params: objectParams },
  responses: { 200: ok('The file', undefined) },
  handler: async (ctx) =>
    streamedFile(
      archiveOf(ctx.services).downloadObject(
        { dossierId: ctx.params.dossierId, objectId: ctx.params.objectId },
        callFor(ctx, TRANSFER_TIMEOUT_MS),
      ),
    ),
});

export const downloadArchiveSelection = defineRoute<{ params: { dossierId: string }; query: FilterQuery }>({
  method: 'get',
  path: '/v1/dossiers/{dossierId}/archive/selection-zip',
  operationId: 'downloadArchiveSelection',
  summary: 'The archived documents matching the filter as one ZIP (folder per mailbox and kind)',
  tags: ['archive'],
  auth: 'authenticated',
  permission: 'archive:read',
  streaming: 'download',
  request: { params: dossierParams, query: object({ ...filterQuery }) },
  responses: { 200: ok('The ZIP', undefined) },
  handler: async (ctx) =>
    streamedFile(
      archiveOf(ctx.services).downloadSelection(
        { filter: filterOf(ctx.params.dossierId, ctx.query) },
        callFor(ctx, TRANSFER_TIMEOUT_MS),
      ),
    ),
});

export const downloadDossierArchive = defineRoute<{ params: { dossierId: string } }>({
  method: 'get',
  path: '/v1/dossiers/{dossierId}/archive/complete-zip',
  operationId: 'downloadDossierArchive',
  summary: "A dossier's complete archive, deleted documents included, with manifest.json and manifest.csv",
  description: 'Also for a deactivated dossier. The manifest lists every file with its checksum, dates and status.',
  tags: ['archive'],
  auth: 'authenticated',
  permission: 'archive:read',
  streaming: 'download',
  request: { params: dossierParams },
  responses: { 200: ok('The ZIP', undefined) },
  handler: async (ctx) =>
    streamedFile(
      archiveOf(ctx.services).downloadDossierArchive(
        { dossierId: ctx.params.dossierId },
        callFor(ctx, TRANSFER_TIMEOUT_MS),
      ),
    ),
});

export const listPurgeRecords = defineRoute<{ params: { dossierId: string }; query: PageQuery }>({
  method: 'get',
  path: '/v1/dossiers/{dossierId}/archive/purge-records',
  operationId: 'listPurgeRecords',
  summary: "A dossier's purge records: what was removed, when, and which rule allowed it, a page at a time",
  description:
    'Newest purge first, `pageSize` records a page (default 50). When more follow, `nextCursor` is set: pass it ' +
    'as `cursor` for the next page; on the last page it is empty. `limit` is the deprecated name of `pageSize`.',
  tags: ['archive'],
  auth: 'authenticated',
  permission: 'archive:read',
  request: { params: dossierParams, query: object(pageQuery(1000)) },
  responses: {
    200: ok('One page of records, newest purge first', {
      type: 'object',
      required: ['records', 'nextCursor'],
      properties: { records: { type: 'array', items: PurgeRecordView }, nextCursor },
    }),
  },
  handler: async (ctx) => {
    const page = await archiveOf(ctx.services).listPurgeRecords(
      { dossierId: ctx.params.dossierId, ...pageOf(ctx.query) },
      callFor(ctx),
    );
    return { records: page.records.map(purgeJson), nextCursor: page.nextCursor };
  },
});

// ---- the admins' side ----

export const setObjectLegalHold = defineRoute<{
  params: { dossierId: string; objectId: string };
  body: { hold: boolean; reason: string };
}>({
  method: 'put',
  path: '/v1/dossiers/{dossierId}/archive/objects/{objectId}/legal-hold',
  operationId: 'setObjectLegalHold',
  summary: 'Put one archived object under legal hold, or release it (with a reason, audited)',
  tags: ['archive'],
  auth: 'authenticated',
  permission: 'archive:manage',
  request: { params: objectParams, body: legalHoldBody },
  responses: { 200: ok('Objects changed', LegalHoldResult) },
  handler: async (ctx) =>
    archiveOf(ctx.services)
      .setLegalHold({ ...ctx.params, ...ctx.body }, callFor(ctx))
      .then(({ objectsAffected }) => ({
        objectsAffected,
      })),
});

export const setDossierLegalHold = defineRoute<{
  params: { dossierId: string };
  body: { hold: boolean; reason: string };
}>({
  method: 'put',
  path: '/v1/dossiers/{dossierId}/archive/legal-hold',
  operationId: 'setDossierLegalHold',
  summary: "Put a dossier's whole archive under legal hold (also what is archived later), or release it",
  description: 'Releasing the dossier hold keeps the objects held on their own.',
  tags: ['archive'],
  auth: 'authenticated',
  permission: 'archive:manage',
  request: { params: dossierParams, body: legalHoldBody },
  responses: { 200: ok('Objects changed', LegalHoldResult) },
  handler: async (ctx) =>
    archiveOf(ctx.services)
      .setLegalHold({ dossierId: ctx.params.dossierId, objectId: '', ...ctx.body }, callFor(ctx))
      .then(({ objectsAffected }) => ({ objectsAffected })),
});

export const deleteArchivedObject = defineRoute<{ params: { dossierId: string; objectId: string } }>({
  method: 'delete',
  path: '/v1/dossiers/{dossierId}/archive/objects/{objectId}',
  operationId: 'deleteArchivedObject',
  summary: 'Remove one archived object whose retention ended and that has no legal hold (leaves a purge record)',
  tags: ['archive'],
  auth: 'authenticated',
  permission: 'archive:manage',
  request: { params: objectParams },
  responses: { 204: ok('Removed') },
  handler: async (ctx) => {
    await archiveOf(ctx.services).deleteObject(ctx.params, callFor(ctx));
    return reply(204);
  },
});

export const getArchiveRetention = defineRoute({
  method: 'get',
  path: '/v1/archive/retention-policy',
  operationId: 'getArchiveRetention',
  summary: "The firm's archive retention: years and how they are counted",
  tags: ['archive'],
  auth: 'authenticated',
  permission: 'firm:read',
  responses: { 200: ok('The policy', RetentionPolicyView) },
  handler: async (ctx) => policyJson((await archiveOf(ctx.services).getRetentionPolicy({}, callFor(ctx))).policy),
});

export const setArchiveRetention = defineRoute<{ body: { years: number; counting: string } }>({
  method: 'put',
  path: '/v1/archive/retention-policy',
  operationId: 'setArchiveRetention',
  summary: "Change the firm's archive retention (for objects archived from now on; a lock is never shortened)",
  tags: ['archive'],
  auth: 'authenticated',
  permission: 'archive:manage',
  request: { body: RetentionPolicyView },
  responses: { 200: ok('The policy now', RetentionPolicyView) },
  handler: async (ctx) =>
    policyJson((await archiveOf(ctx.services).setRetentionPolicy({ policy: ctx.body }, callFor(ctx))).policy),
});

export const listVerificationRuns = defineRoute<{ query: PageQuery }>({
  method: 'get',
  path: '/v1/archive/verification-runs',
  operationId: 'listVerificationRuns',
  summary: "The integrity checks with their findings on the firm's objects (missing or changed), a page at a time",
  description:
    'Newest start first (the run id breaks ties), `pageSize` runs a page (default 50). When more follow, ' +
    '`nextCursor` is set: pass it as `cursor` for the next page; on the last page it is empty. `limit` is the ' +
    'deprecated name of `pageSize`.',
  tags: ['archive'],
  auth: 'authenticated',
  permission: 'archive:manage',
  request: { query: object(pageQuery(100)) },
  responses: {
    200: ok('One page of runs, newest first', {
      type: 'object',
      required: ['runs', 'nextCursor'],
      properties: { runs: { type: 'array', items: VerificationRunView }, nextCursor },
    }),
  },
  handler: async (ctx) => {
    const page = await archiveOf(ctx.services).listVerificationRuns(pageOf(ctx.query), callFor(ctx));
    return { runs: page.runs.map(runJson), nextCursor: page.nextCursor };
  },
});

export const runArchiveVerification = defineRoute<{ body: { sample?: number } }>({
  method: 'post',
  path: '/v1/archive/verification-runs',
  operationId: 'runArchiveVerification',
  summary: "Re-read the firm's archived objects now (all, or a random sample) and compare their SHA-256",
  tags: ['archive'],
  auth: 'authenticated',
  permission: 'archive:manage',
  request: { body: object({ sample: { type: 'integer', minimum: 0, maximum: 1_000_000 } }) },
  responses: { 201: ok('The run', VerificationRunView) },
  handler: async (ctx) => {
    const { run } = await archiveOf(ctx.services).runVerification(
      { sample: ctx.body?.sample ?? 0 },
      callFor(ctx, TRANSFER_TIMEOUT_MS),
    );
    return reply(201, run && runJson(run));
  },
});

export const runArchivePurge = defineRoute({
  method: 'post',
  path: '/v1/archive/purge-runs',
  operationId: 'runArchivePurge',
  summary: "Remove the firm's objects whose retention ended and that have no legal hold, now",
  tags: ['archive'],
  auth: 'authenticated',
  permission: 'archive:manage',
  responses: {
    201: ok('What was purged', {
      type: 'object',
      properties: { purged: { type: 'integer' }, records: { type: 'array', items: PurgeRecordView } },
    }),
  },
  handler: async (ctx) => {
    const { purged, records } = await archiveOf(ctx.services).runPurge({}, callFor(ctx, TRANSFER_TIMEOUT_MS));
    return reply(201, { purged, records: records.map(purgeJson) });
  },
});

export const archiveRoutes = [
  searchArchive,
  downloadArchivedObject,
  downloadArchiveSelection,
  downloadDossierArchive,
  listPurgeRecords,
  setObjectLegalHold,
  setDossierLegalHold,
  deleteArchivedObject,
  getArchiveRetention,
  setArchiveRetention,
  listVerificationRuns,
  runArchiveVerification,
  runArchivePurge,
];
