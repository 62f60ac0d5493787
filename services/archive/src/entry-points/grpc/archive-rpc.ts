/** ArchiveService: proto <-> domain mapping, access checks first. */
import { timestampDate, timestampFromDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { isPostgresTime, pageSizeOf, type Database } from '@kantoor/database';
import { invalidArgument, notFound, permissionDenied } from '@kantoor/errors';
import { implement } from '@kantoor/grpc';
import {
  ArchiveService,
  type ArchiveFilter,
  type ArchivedBackupFile,
  type ArchivedObject,
} from '@kantoor/proto/kantoor/archive/v1/archive_pb';
import { safeFileName } from '@kantoor/zip-layout';
import {
  audit,
  cursorAfter,
  findObject,
  objectsOf,
  retentionPolicyOf,
  saveRetentionPolicy,
  searchDocuments,
  type ObjectRow,
  type SearchCursor,
  type SearchFilter,
} from '../../data-access/archive-repository';
import {
  findBackupFile,
  listBackupFiles,
  type BackupFileCursor,
  type BackupFilePurgeRecordRow,
  type BackupFileRow,
} from '../../data-access/backup-file-repository';
import { archiveBackupFile } from '../../domain/archive-backup-file';
import { dossierArchiveZip, selectionZip } from '../../domain/archive-zip';
import { ingestDocument, type ArchiveStores } from '../../domain/ingest';
import { setBackupFileLegalHold, setLegalHold } from '../../domain/legal-hold';
import { actorId, type AccessGuard, type Actor } from '../../domain/ports';
import { purgeObject, purgeRecords, runBackupFilePurge, runPurge, type PurgeRecordRow } from '../../domain/purge';
import { DEFAULT_RETENTION, parseDocumentDate, type RetentionCounting } from '../../domain/retention';
import { runVerification, verificationRuns, type VerificationRunRow } from '../../domain/verification';

const CHUNK = 64 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAILBOXES = ['purchase', 'sales', 'misc'];

const refuse = (field: string, message: string): never => {
  throw invalidArgument(`${field}: ${message}.`, { reason: 'invalid_argument', violations: [{ field, message }] });
};
const dossierIdOf = (value: string, field = 'dossierId') =>
  UUID.test(value) ? value : refuse(field, 'must be a UUID');
const ts = (date: Date | null | undefined) => (date ? timestampFromDate(date) : undefined);
const dateOf = (timestamp: Timestamp | undefined) => (timestamp ? timestampDate(timestamp) : undefined);

async function* chunks(body: AsyncIterable<Buffer>) {
  for await (const chunk of body)
    for (let at = 0; at < chunk.length; at += CHUNK)
      yield { part: { case: 'chunk' as const, value: chunk.subarray(at, at + CHUNK) } };
}

function filterOf(filter: ArchiveFilter | undefined): SearchFilter {
  if (!filter) return refuse('filter', 'is required');
  const date = (field: string, value: string) =>
    value ? (parseDocumentDate(value) ?? refuse(field, 'must be a date YYYY-MM-DD')) : undefined;
  if (filter.mailbox && !MAILBOXES.includes(filter.mailbox))
    refuse('filter.mailbox', 'must be purchase, sales or misc');
  const deleted = filter.deleted || 'live';
  if (!['live', 'deleted', 'all'].includes(deleted)) refuse('filter.deleted', 'must be live, deleted or all');
  if (filter.name.length > 200) refuse('filter.name', 'at most 200 characters');
  return {
    dossierId: dossierIdOf(filter.dossierId, 'filter.dossierId'),
    mailbox: filter.mailbox || undefined,
    documentDateFrom: date('filter.documentDateFrom', filter.documentDateFrom),
    documentDateTo: date('filter.documentDateTo', filter.documentDateTo),
    uploadedFrom: dateOf(filter.uploadedFrom),
    uploadedTo: dateOf(filter.uploadedTo),
    name: filter.name || undefined,
    channel: filter.channel || undefined,
    deleted: deleted as SearchFilter['deleted'],
  };
}

// three parts (time, source, document id), which @kantoor/database's two-part cursor cannot hold
const encodeCursor = (cursor: SearchCursor) =>
  Buffer.from(JSON.stringify([cursor.uploadedAt, cursor.source, cursor.documentId])).toString('base64url');
function decodeCursor(text: string): SearchCursor | undefined {
  if (!text) return undefined;
  try {
    const [uploadedAt, source, documentId] = JSON.parse(Buffer.from(text, 'base64url').toString()) as unknown[];
    if (
      typeof uploadedAt === 'string' &&
      isPostgresTime(uploadedAt) &&
      typeof source === 'string' &&
      typeof documentId === 'string'
    )
      return { uploadedAt, source, documentId };
  } catch {
    // falls through to the refusal
  }
  return refuse('cursor', 'is not a cursor this service gave out');
}

const objectMessage = (object: ObjectRow): ArchivedObject =>
  ({
    id: object.id,
    role: object.role,
    sha256: object.sha256,
    size: BigInt(object.size),
    contentType: object.content_type,
    retainUntil: ts(object.retain_until),
    legalHold: object.legal_hold,
    status: object.purged_at ? 'purged' : 'archived',
  }) as ArchivedObject;

const purgeMessage = (record: PurgeRecordRow) => ({
  objectId: record.object_id,
  key: record.key,
  dossierId: record.dossier_id,
  documentId: record.document_id,
  sha256: record.sha256,
  retainUntil: ts(record.retain_until),
  purgedAt: ts(record.purged_at),
  rule: record.rule,
});

const backupFileMessage = (file: BackupFileRow): ArchivedBackupFile =>
  ({
    id: file.id,
    firmId: file.firm_id,
    accountId: file.account_id,
    kind: file.kind,
    backupDate: file.backup_date,
    fileName: file.file_name,
    sha256: file.sha256,
    size: BigInt(file.size),
    contentType: file.content_type,
    retainUntil: ts(file.retain_until),
    legalHold: file.legal_hold,
    status: file.purged_at ? 'purged' : 'archived',
    archivedAt: ts(file.archived_at),
    purgedAt: ts(file.purged_at),
    purgeRule: file.purge_rule ?? '',
  }) as ArchivedBackupFile;

const backupPurgeMessage = (record: BackupFilePurgeRecordRow) => ({
  backupFileId: record.backup_file_id,
  key: record.key,
  sha256: record.sha256,
  retainUntil: ts(record.retain_until),
  purgedAt: ts(record.purged_at),
  rule: record.rule,
});

const BACKUP_KIND = /^[a-z][a-z0-9-]{0,39}$/;
const SOURCE = /^[a-z][a-z0-9-]{0,39}$/;
const encodeBackupCursor = (cursor: BackupFileCursor) =>
  Buffer.from(JSON.stringify([cursor.backupDate, cursor.id])).toString('base64url');
function decodeBackupCursor(text: string): BackupFileCursor | undefined {
  if (!text) return undefined;
  try {
    const [backupDate, id] = JSON.parse(Buffer.from(text, 'base64url').toString()) as string[];
    if (parseDocumentDate(backupDate) && typeof id === 'string' && /^\d{1,18}$/.test(id)) return { backupDate, id };
  } catch {
    // falls through to the refusal
  }
  return refuse('cursor', 'is not a cursor this service gave out');
}

const runMessage = (run: VerificationRunRow) => ({
  id: run.id,
  startedAt: ts(run.started_at),
  finishedAt: ts(run.finished_at),
  checked: run.checked,
  findings: run.findings.map((finding) => ({
    objectId: finding.object_id,
    backupFileId: finding.backup_file_id ?? '',
    key: finding.key,
    dossierId: finding.dossier_id,
    problem: finding.problem,
    expectedSha256: finding.expected_sha256,
    actualSha256: finding.actual_sha256 ?? '',
  })),
  findingCount: run.finding_count,
});

const actorOf = (caller: Actor) => ({ kind: caller.kind, id: actorId(caller) });

const systemOnly = (actor: Actor, what: string) => {
  if (actor.kind !== 'system')
    throw permissionDenied(`${what} is for the platform's own services.`, { reason: 'system_only' });
};

export function archiveRpc(deps: { db: Database; stores: ArchiveStores; guard: AccessGuard }) {
  const { db, stores, guard } = deps;

  /** archive:manage (admins): on a dossier its facts are checked too, so another firm's dossier stays unknown. */
  async function requireAdmin(actor: Actor, dossierId?: string) {
    if (actor.kind !== 'system') await guard(actor, 'archive:manage', dossierId);
  }

  /**
   * The firm whose backup files a call concerns: system callers name it; everyone else needs archive:manage
   * (staff admins; portal users and API keys never) and reaches their own firm only.
   */
  async function backupFirmOf(actor: Actor, requested: string) {
    if (actor.kind === 'system') return dossierIdOf(requested, 'firmId');
    if (requested && requested !== actor.firmId)
      throw permissionDenied('This belongs to another firm.', { reason: 'other_firm' });
    await guard(actor, 'archive:manage');
    return actor.firmId;
  }

  async function backupFileIn(firmId: string, backupFileId: string) {
    const file = await findBackupFile(db, backupFileId);
    if (!file || file.firm_id !== firmId)
      throw notFound('No such archived backup file in this firm.', { reason: 'backup_file_not_found' });
    return file;
  }

  async function objectIn(dossierId: string, objectId: string) {
    const object = await findObject(db, objectId);
    if (!object || object.dossier_id !== dossierId)
      throw notFound('No such archived object in this dossier.', { reason: 'object_not_found' });
    return object;
  }

  return implement(ArchiveService, {
    async searchArchive(request, { caller }) {
      const filter = filterOf(request.filter);
      await guard(caller, 'archive:read', filter.dossierId);
      const pageSize = pageSizeOf(request);
      const documents = await searchDocuments(db, filter, pageSize + 1, decodeCursor(request.cursor));
      const page = documents.slice(0, pageSize);
      const objects = await objectsOf(db, page);
      const last = page[page.length - 1];
      return {
        documents: page.map((doc) => ({
          documentId: doc.document_id,
          dossierId: doc.dossier_id,
          source: doc.source,
          mailbox: doc.mailbox,
          name: doc.name,
          channel: doc.channel,
          type: doc.kind,
          documentDate: doc.document_date,
          uploadedAt: ts(doc.uploaded_at),
          deletedAt: ts(doc.deleted_at),
          deleted: doc.deleted_at !== null,
          sourceDocumentIds: doc.source_document_ids,
          objects: objects
            .filter((object) => object.source === doc.source && object.document_id === doc.document_id)
            .map(objectMessage),
        })),
        nextCursor: documents.length > pageSize ? encodeCursor(cursorAfter(last)) : '',
      };
    },

    async *downloadObject(request, { caller }) {
      const dossierId = dossierIdOf(request.dossierId);
      await guard(caller, 'archive:read', dossierId);
      const object = await objectIn(dossierId, request.objectId);
      if (object.purged_at) throw notFound('This object was purged after its retention.', { reason: 'object_purged' });
      const [document] = await db
        .query<{ name: string }>('SELECT name FROM archive_document WHERE source = $1 AND document_id = $2', [
          object.source,
          object.document_id,
        ])
        .then((result) => result.rows);
      const extension =
        { 'application/pdf': 'pdf', 'image/jpeg': 'jpg', 'application/xml': 'xml' }[object.content_type] ?? 'bin';
      const body = (await stores.archive.get(object.key)) as AsyncIterable<Buffer>;
      yield {
        part: {
          case: 'info' as const,
          value: {
            fileName: safeFileName(document?.name ?? object.role, extension),
            contentType: object.content_type,
            size: BigInt(object.size),
            sha256: object.sha256,
          },
        },
      };
      yield* chunks(body);
    },

    async *downloadSelection(request, { caller }) {
      const filter = filterOf(request.filter);
      await guard(caller, 'archive:read', filter.dossierId);
      yield {
        part: {
          case: 'info' as const,
          value: { fileName: 'archief.zip', contentType: 'application/zip', size: -1n, sha256: '' },
        },
      };
      yield* chunks(selectionZip(db, stores.archive, filter));
    },

    async *downloadDossierArchive(request, { caller }) {
      const dossierId = dossierIdOf(request.dossierId);
      await guard(caller, 'archive:read', dossierId);
      yield {
        part: {
          case: 'info' as const,
          value: { fileName: `archief-${dossierId}.zip`, contentType: 'application/zip', size: -1n, sha256: '' },
        },
      };
      yield* chunks(dossierArchiveZip(db, stores.archive, dossierId));
    },

    async ingestObject(request, { caller }) {
      systemOnly(caller, 'Handing objects to the archive');
      const object = request.object ?? refuse('object', 'is required');
      dossierIdOf(object.firmId, 'object.firmId');
      dossierIdOf(object.dossierId, 'object.dossierId');
      if (!MAILBOXES.includes(object.mailbox)) refuse('object.mailbox', 'must be purchase, sales or misc');
      if (!['pdf', 'ubl'].includes(object.type)) refuse('object.type', 'must be pdf or ubl');
      if (!/^[0-9a-f]{64}$/.test(object.sha256)) refuse('object.sha256', 'must be a hex SHA-256');
      if (!object.name) refuse('object.name', 'is required');
      const documentDate =
        parseDocumentDate(object.documentDate) ?? refuse('object.documentDate', 'must be a date YYYY-MM-DD');
      const result = await db.transaction((tx) =>
        ingestDocument(tx, stores, {
          firm_id: object.firmId,
          dossier_id: object.dossierId,
          source: object.source,
          document_id: object.documentId,
          mailbox: object.mailbox,
          name: object.name,
          channel: object.channel || object.source,
          kind: object.type,
          document_date: documentDate,
          uploaded_at: dateOf(object.createdAt) ?? new Date(),
          source_document_ids: [],
          objects: [
            { role: object.role, sourceKey: object.key, sha256: object.sha256, contentType: object.contentType },
          ],
        }),
      );
      return { archived: objectMessage(result.objects[0]), created: result.created > 0 };
    },

    async deleteObject(request, { caller }) {
      const dossierId = dossierIdOf(request.dossierId);
      await requireAdmin(caller, dossierId);
      const object = await objectIn(dossierId, request.objectId);
      const record = await purgeObject(
        db,
        stores.archive,
        object,
        `deleted on request of ${actorId(caller)} after ${object.retention_rule} ended`,
        actorOf(caller),
      );
      return { object: objectMessage({ ...object, purged_at: record.purged_at }) };
    },

    async setLegalHold(request, { caller }) {
      const dossierId = dossierIdOf(request.dossierId);
      await requireAdmin(caller, dossierId);
      if (!request.reason.trim()) refuse('reason', 'a legal hold needs a reason');
      const objectsAffected = await setLegalHold(db, stores.archive, caller, {
        dossierId,
        objectId: request.objectId || undefined,
        hold: request.hold,
        reason: request.reason.trim(),
      });
      return { objectsAffected };
    },

    async getRetentionPolicy(_request, { caller }) {
      await guard(caller, 'firm:read');
      return { policy: (await retentionPolicyOf(db, caller.firmId)) ?? DEFAULT_RETENTION };
    },

    async setRetentionPolicy(request, { caller }) {
      await requireAdmin(caller);
      const policy = request.policy ?? refuse('policy', 'is required');
      if (!Number.isInteger(policy.years) || policy.years < 1 || policy.years > 100)
        refuse('policy.years', 'must be 1 to 100');
      if (!['end_of_year', 'document_date'].includes(policy.counting))
        refuse('policy.counting', 'must be end_of_year or document_date');
      const next = { years: policy.years, counting: policy.counting as RetentionCounting };
      await db.transaction(async (tx) => {
        await saveRetentionPolicy(tx, caller.firmId, next, actorId(caller));
        await audit(tx, {
          firmId: caller.firmId,
          actorKind: caller.kind,
          actorId: actorId(caller),
          action: 'retention_policy.set',
          details: next,
        });
      });
      return { policy: next };
    },

    async runVerification(request, { caller }) {
      await requireAdmin(caller);
      // an admin's run re-reads their own firm's objects only; the platform's job reads everyone's
      const firmId = caller.kind === 'system' ? undefined : caller.firmId;
      return { run: runMessage(await runVerification(db, stores.archive, Math.max(request.sample, 0), 500, firmId)) };
    },

    async listVerificationRuns(request, { caller }) {
      if (caller.kind !== 'system') await requireAdmin(caller);
      const page = await verificationRuns(
        db,
        { pageSize: pageSizeOf(request, 100), cursor: request.cursor || undefined },
        caller.kind === 'system' ? undefined : caller.firmId,
      );
      return { runs: page.runs.map(runMessage), nextCursor: page.nextCursor };
    },

    async runPurge(_request, { caller }) {
      await requireAdmin(caller);
      const firmId = caller.kind === 'system' ? undefined : caller.firmId;
      const now = new Date();
      const records = await runPurge(db, stores.archive, actorOf(caller), now, 500, firmId);
      const backupFiles = await runBackupFilePurge(db, stores.archive, actorOf(caller), now, 500, firmId);
      return {
        purged: records.length + backupFiles.length,
        records: [...records.map(purgeMessage), ...backupFiles.map(backupPurgeMessage)],
      };
    },

    async listPurgeRecords(request, { caller }) {
      const dossierId = dossierIdOf(request.dossierId);
      await guard(caller, 'archive:read', dossierId);
      const page = await purgeRecords(
        db,
        { dossierId },
        { pageSize: pageSizeOf(request, 1000), cursor: request.cursor || undefined },
      );
      return { records: page.records.map(purgeMessage), nextCursor: page.nextCursor };
    },

    async archiveBackupFile(request, { caller }) {
      systemOnly(caller, 'Handing backup files to the archive');
      const file = request.file ?? refuse('file', 'is required');
      const firmId = dossierIdOf(file.firmId, 'file.firmId');
      const source = file.source || 'backup';
      if (!SOURCE.test(source)) refuse('file.source', 'lowercase letters, digits and dashes');
      if (!file.key || file.key.length > 1000) refuse('file.key', 'is required, at most 1000 characters');
      if (!/^[0-9a-f]{64}$/.test(file.sha256)) refuse('file.sha256', 'must be a hex SHA-256');
      if (!BACKUP_KIND.test(file.kind)) refuse('file.kind', 'lowercase letters, digits and dashes, e.g. daily');
      const backupDate = parseDocumentDate(file.backupDate) ?? refuse('file.backupDate', 'must be a date YYYY-MM-DD');
      if (!file.fileName.trim() || file.fileName.length > 255)
        refuse('file.fileName', 'is required, at most 255 characters');
      if (file.accountId.length > 100) refuse('file.accountId', 'at most 100 characters');
      const retainUntil = dateOf(file.retainUntil) ?? refuse('file.retainUntil', 'is required');
      // a date already past would leave the file unlocked, and purgeable at once
      if (retainUntil.getTime() <= Date.now()) refuse('file.retainUntil', 'must be in the future');
      if (retainUntil.getTime() > Date.now() + 100 * 366 * 24 * 3600_000)
        refuse('file.retainUntil', 'at most 100 years ahead');
      const result = await archiveBackupFile(db, stores, {
        firm_id: firmId,
        source,
        source_key: file.key,
        account_id: file.accountId,
        kind: file.kind,
        backup_date: backupDate,
        file_name: file.fileName.trim(),
        sha256: file.sha256,
        content_type: file.contentType || 'application/zip',
        retain_until: retainUntil,
        archived_by: actorId(caller),
      });
      return { archived: backupFileMessage(result.file), created: result.created };
    },

    async listBackupFiles(request, { caller }) {
      const firmId = await backupFirmOf(caller, request.firmId);
      if (request.kind && !BACKUP_KIND.test(request.kind)) refuse('kind', 'lowercase letters, digits and dashes');
      const pageSize = pageSizeOf(request);
      const files = await listBackupFiles(
        db,
        {
          firmId,
          kind: request.kind || undefined,
          accountId: request.accountId || undefined,
          includePurged: request.includePurged,
        },
        pageSize + 1,
        decodeBackupCursor(request.cursor),
      );
      const page = files.slice(0, pageSize);
      const last = page[page.length - 1];
      return {
        files: page.map(backupFileMessage),
        nextCursor: files.length > pageSize ? encodeBackupCursor({ backupDate: last.backup_date, id: last.id }) : '',
      };
    },

    async *downloadBackupFile(request, { caller }) {
      const firmId = await backupFirmOf(caller, request.firmId);
      const file = await backupFileIn(firmId, request.backupFileId);
      if (file.purged_at)
        throw notFound('This backup file was purged after its retention.', { reason: 'object_purged' });
      const body = (await stores.archive.get(file.key)) as AsyncIterable<Buffer>;
      const dot = file.file_name.lastIndexOf('.');
      yield {
        part: {
          case: 'info' as const,
          value: {
            fileName: safeFileName(
              dot > 0 ? file.file_name.slice(0, dot) : file.file_name,
              dot > 0 ? file.file_name.slice(dot + 1) : '',
            ),
            contentType: file.content_type,
            size: BigInt(file.size),
            sha256: file.sha256,
          },
        },
      };
      yield* chunks(body);
    },

    async setBackupFileLegalHold(request, { caller }) {
      const firmId = await backupFirmOf(caller, request.firmId);
      if (!request.reason.trim()) refuse('reason', 'a legal hold needs a reason');
      const file = await setBackupFileLegalHold(db, stores.archive, caller, {
        firmId,
        backupFileId: request.backupFileId,
        hold: request.hold,
        reason: request.reason.trim(),
      });
      return { file: backupFileMessage(file) };
    },
  });
}
