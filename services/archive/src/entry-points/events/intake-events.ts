/**
 * What document intake publishes, archived: every stored document (split and merge results included, they
 * arrive as DocumentStored with their sources), renames and moves (the search follows the mailbox), and
 * deletions (marked, never removed). Each handler runs in the consumer's inbox transaction, so a redelivered
 * event changes nothing twice; the transport keeps one dossier's events in order.
 */
import { timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { handlerFor, type EventHandlers } from '@kantoor/events';
import type { Queryable } from '@kantoor/database';
import { unavailable } from '@kantoor/errors';
import {
  DocumentDeletedSchema,
  DocumentMovedSchema,
  DocumentRenamedSchema,
  DocumentSplitSchema,
  DocumentsMergedSchema,
  DocumentStoredSchema,
  type StoredObject,
} from '@kantoor/proto/kantoor/document_intake/v1/events_pb';
import { markDeleted, recordReplacement, updateDocument } from '../../data-access/archive-repository';
import { ingestDocument, type ArchiveStores, type IncomingObject } from '../../domain/ingest';
import { parseDocumentDate } from '../../domain/retention';

const SOURCE = 'document-intake';
const dateOf = (timestamp: Timestamp | undefined) => (timestamp ? timestampDate(timestamp) : new Date());

/** A document event for a document not archived yet comes before its DocumentStored: retry until it is there. */
const notArchivedYet = (...documentIds: string[]) =>
  unavailable(
    documentIds.length === 1
      ? `Document ${documentIds[0]} is not archived yet.`
      : `Documents ${documentIds.join(', ')} are not archived yet.`,
    { reason: 'document_not_archived' },
  );

/** A split or merge of documents not all archived yet is retried, like any other event about them. */
async function replace(tx: Queryable, sourceIds: string[], resultIds: string[]) {
  const recorded = await recordReplacement(tx, sourceIds, resultIds);
  const missing = sourceIds.filter((id) => !recorded.includes(id));
  if (missing.length > 0) throw notArchivedYet(...missing);
}

export function intakeEventHandlers(stores: ArchiveStores): EventHandlers {
  return {
    ...handlerFor(DocumentStoredSchema, async ({ payload, tx }) => {
      const uploadedAt = dateOf(payload.createdAt);
      const object = (role: string, stored: StoredObject): IncomingObject => ({
        role,
        sourceKey: stored.key,
        sha256: stored.sha256,
        contentType: stored.contentType,
      });
      const objects: IncomingObject[] = [];
      if (payload.original) objects.push(object('original', payload.original));
      if (payload.pdf && payload.pdf.key !== payload.original?.key) objects.push(object('pdf', payload.pdf));
      payload.pagesOriginals.forEach((page, index) => objects.push(object(`page-${index + 1}`, page)));
      await ingestDocument(tx, stores, {
        firm_id: payload.firmId,
        dossier_id: payload.dossierId,
        source: SOURCE,
        document_id: payload.documentId,
        mailbox: payload.mailbox,
        name: payload.name,
        channel: payload.channel,
        kind: payload.type === 'ubl' ? 'ubl' : 'pdf',
        document_date: parseDocumentDate(payload.issueDate) ?? uploadedAt.toISOString().slice(0, 10),
        uploaded_at: uploadedAt,
        source_document_ids: payload.sourceDocumentIds,
        objects,
      });
    }),
    ...handlerFor(DocumentRenamedSchema, async ({ payload, tx }) => {
      if (!(await updateDocument(tx, payload.documentId, { name: payload.name })))
        throw notArchivedYet(payload.documentId);
    }),
    ...handlerFor(DocumentMovedSchema, async ({ payload, tx }) => {
      if (!(await updateDocument(tx, payload.documentId, { mailbox: payload.mailbox })))
        throw notArchivedYet(payload.documentId);
    }),
    ...handlerFor(DocumentDeletedSchema, async ({ payload, tx }) => {
      if (!(await markDeleted(tx, payload.documentId, dateOf(payload.deletedAt), payload.actorId)))
        throw notArchivedYet(payload.documentId);
    }),
    ...handlerFor(DocumentSplitSchema, async ({ payload, tx }) => {
      await replace(tx, [payload.documentId], payload.resultDocumentIds);
    }),
    ...handlerFor(DocumentsMergedSchema, async ({ payload, tx }) => {
      await replace(tx, payload.sourceDocumentIds, [payload.resultDocumentId]);
    }),
  };
}
