import { randomUUID } from 'node:crypto';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { Queryable } from '@kantoor/database';
import { failedPrecondition, invalidArgument, notFound } from '@kantoor/errors';
import { appendEvent } from '@kantoor/events';
import {
  DocumentDeletedSchema,
  DocumentMovedSchema,
  DocumentRenamedSchema,
  DocumentsMergedSchema,
  DocumentSplitSchema,
  DocumentsProcessedSchema,
  DocumentsSentSchema,
  DocumentStoredSchema,
  DocumentUpdatedSchema,
} from '@kantoor/proto/kantoor/document_intake/v1/events_pb';
import {
  findDocument,
  insertDocument,
  recordAudit,
  updateDocument,
  type DocumentRow,
  type MailboxName,
} from '../data-access/document-repository';
import { mergePdfs, splitPdf } from './file-formats';
import type { AccessGuard, Actor } from './ports';
import { MAILBOXES, storedEventBase, type IntakeStore } from './receive-document';

const SOURCE = 'document-intake';
/** the parts of one split together: at most this many times INTAKE_MAX_FILE_BYTES */
const SPLIT_OUTPUT_FILES = 4;
const megabytes = (bytes: number) => Math.floor(bytes / (1024 * 1024));

export class DocumentActions {
  constructor(
    private readonly intake: IntakeStore,
    private readonly guard: AccessGuard,
  ) {}

  /** The document, if the actor may see its dossier; otherwise "not found" (never that it exists). */
  async get(
    actor: Actor,
    id: string,
    permission: 'document:read' | 'document:write' | 'document:process' = 'document:read',
  ): Promise<DocumentRow> {
    const doc = await findDocument(this.intake.db, id);
    if (!doc) throw notFound('Document not found.', { reason: 'document_not_found' });
    await this.guard(actor, permission, doc.dossier_id);
    // the accountant's side knows only what the client sent
    if (isAccountant(actor) && doc.status === 'draft')
      throw notFound('Document not found.', { reason: 'document_not_found' });
    return doc;
  }

  rename(actor: Actor, id: string, name: string) {
    const clean = givenName(name);
    return this.change(actor, id, 'document.renamed', async (tx, doc) => {
      const updated = await updateDocument(tx, id, { name: clean });
      await this.event(tx, doc, DocumentRenamedSchema, {
        documentId: id,
        previousName: doc.name,
        name: clean,
        actorId: actor.subjectId,
      });
      return updated;
    });
  }

  move(actor: Actor, id: string, mailbox: string) {
    const target = mailboxOf(mailbox);
    return this.change(actor, id, 'document.moved', async (tx, doc) => {
      if (doc.status === 'processed')
        throw failedPrecondition('A processed document stays where it is.', { reason: 'already_processed' });
      const updated = await updateDocument(tx, id, { mailbox: target });
      await this.event(tx, doc, DocumentMovedSchema, {
        documentId: id,
        previousMailbox: doc.mailbox ?? '',
        mailbox: target,
        actorId: actor.subjectId,
      });
      return updated;
    });
  }

  /** Gone from the mailbox; the objects stay for the archive. */
  delete(actor: Actor, id: string) {
    return this.change(actor, id, 'document.deleted', async (tx, doc) => {
      const deletedAt = new Date();
      const updated = await updateDocument(tx, id, { deleted_at: deletedAt });
      await this.event(tx, doc, DocumentDeletedSchema, {
        documentId: id,
        actorId: actor.subjectId,
        deletedAt: timestampFromDate(deletedAt),
      });
      return updated;
    });
  }

  setPaid(actor: Actor, id: string, paid: boolean) {
    return this.change(actor, id, 'document.paid', async (tx, doc) => {
      const updated = await updateDocument(tx, id, { paid });
      await this.event(tx, doc, DocumentUpdatedSchema, {
        documentId: id,
        paid,
        remark: doc.remark,
        actorId: actor.subjectId,
      });
      return updated;
    });
  }

  setRemark(actor: Actor, id: string, remark: string) {
    if (remark.length > 2000)
      throw invalidArgument('A remark has at most 2000 characters.', { reason: 'remark_too_long' });
    return this.change(actor, id, 'document.remark', async (tx, doc) => {
      const updated = await updateDocument(tx, id, { remark });
      await this.event(tx, doc, DocumentUpdatedSchema, {
        documentId: id,
        paid: doc.paid,
        remark,
        actorId: actor.subjectId,
      });
      return updated;
    });
  }

  /** draft → sent; documents already sent or processed stay as they are. */
  async send(actor: Actor, ids: string[]): Promise<DocumentRow[]> {
    const docs = await this.several(actor, ids, 'document:write');
    const unsorted = docs.find((doc) => !doc.mailbox);
    if (unsorted) {
      throw failedPrecondition(`Choose a mailbox for "${unsorted.name}" before sending it.`, { reason: 'unsorted' });
    }
    return this.transition(actor, docs, 'sent');
  }

  /** sent → processed, for the accountant; never back. */
  async markProcessed(actor: Actor, ids: string[]): Promise<DocumentRow[]> {
    const docs = await this.several(actor, ids, 'document:process');
    const draft = docs.find((doc) => doc.status === 'draft');
    if (draft)
      throw failedPrecondition(`"${draft.name}" was not sent yet, so it cannot be processed.`, { reason: 'not_sent' });
    return this.transition(actor, docs, 'processed');
  }

  async split(actor: Actor, id: string, groups: Array<{ name: string; pages: number[] }>): Promise<DocumentRow[]> {
    const doc = await this.get(actor, id, 'document:write');
    if (!doc.pdf_key) throw failedPrecondition('This document has no PDF to split.', { reason: 'no_pdf' });
    if (groups.length === 0) throw invalidArgument('Name at least one group of pages.', { reason: 'no_page_groups' });
    const names = groups.map((group, index) =>
      group.name.trim() ? givenName(group.name) : `${doc.name} ${index + 1}`,
    );
    // the parts are stored as they are made; together they may be at most SPLIT_OUTPUT_FILES times the largest
    // file the intake takes (pages sharing one large image are copied into every part that holds one)
    const limit = SPLIT_OUTPUT_FILES * this.intake.maxFileBytes;
    const results: Array<Awaited<ReturnType<DocumentActions['storeDerived']>>> = [];
    let total = 0;
    try {
      let index = 0;
      for await (const bytes of splitPdf(
        await this.bytes(doc.pdf_key),
        groups.map((group) => group.pages),
      )) {
        total += bytes.length;
        if (bytes.length > this.intake.maxFileBytes || total > limit)
          throw invalidArgument(
            `These parts would together be larger than ${megabytes(limit)} MB, or one of them larger than ${megabytes(this.intake.maxFileBytes)} MB; split into fewer or smaller parts.`,
            { reason: 'split_too_large' },
          );
        results.push(await this.storeDerived(doc, bytes, names[index], groups[index].pages.length, actor));
        index++;
      }
    } catch (error) {
      await this.removeStored(results);
      throw error;
    }
    const rows = await this.intake.db
      .transaction(async (tx) => {
        const inserted: DocumentRow[] = [];
        for (const result of results) inserted.push(await this.insertDerived(tx, result, [doc.id]));
        await this.event(tx, doc, DocumentSplitSchema, {
          documentId: doc.id,
          resultDocumentIds: inserted.map((row) => row.id),
          actorId: actor.subjectId,
        });
        await recordAudit(tx, auditOf(actor, doc, 'document.split', { results: inserted.map((row) => row.id) }));
        return inserted;
      })
      .catch(async (error: unknown) => {
        await this.removeStored(results);
        throw error;
      });
    this.intake.eventsWritten();
    return rows;
  }

  async merge(actor: Actor, ids: string[], name: string): Promise<DocumentRow> {
    if (ids.length < 2) throw invalidArgument('Choose at least two documents to merge.', { reason: 'merge_needs_two' });
    const given = name.trim() ? givenName(name) : undefined;
    const docs = await this.several(actor, ids, 'document:write');
    if (new Set(docs.map((doc) => doc.dossier_id)).size > 1) {
      throw invalidArgument('Only documents of one dossier can be merged.', { reason: 'different_dossiers' });
    }
    const withoutPdf = docs.find((doc) => !doc.pdf_key);
    if (withoutPdf) throw failedPrecondition(`"${withoutPdf.name}" has no PDF to merge.`, { reason: 'no_pdf' });
    const size = docs.reduce((sum, doc) => sum + Number(doc.pdf_size ?? 0), 0);
    if (size > this.intake.maxFileBytes)
      throw invalidArgument(
        `These documents together are larger than ${megabytes(this.intake.maxFileBytes)} MB, the largest file the intake takes; merge fewer at a time.`,
        { reason: 'merge_too_large' },
      );
    const merged = await mergePdfs(docs.map((doc) => () => this.bytes(doc.pdf_key!)));
    const first = docs[0];
    const result = await this.storeDerived(first, merged.bytes, given ?? first.name, merged.pages, actor);
    const row = await this.intake.db.transaction(async (tx) => {
      const inserted = await this.insertDerived(
        tx,
        result,
        docs.map((doc) => doc.id),
      );
      await this.event(tx, first, DocumentsMergedSchema, {
        sourceDocumentIds: docs.map((doc) => doc.id),
        resultDocumentId: inserted.id,
        actorId: actor.subjectId,
      });
      await recordAudit(
        tx,
        auditOf(actor, first, 'document.merged', { sources: docs.map((doc) => doc.id), result: inserted.id }),
      );
      return inserted;
    });
    this.intake.eventsWritten();
    return row;
  }

  private async several(
    actor: Actor,
    ids: string[],
    permission: 'document:read' | 'document:write' | 'document:process',
  ) {
    if (ids.length === 0) throw invalidArgument('Choose at least one document.', { reason: 'no_documents' });
    if (new Set(ids).size !== ids.length)
      throw invalidArgument('A document is named twice.', { reason: 'duplicate_document' });
    const docs: DocumentRow[] = [];
    const checked = new Set<string>();
    for (const id of ids) {
      const doc = await findDocument(this.intake.db, id);
      if (!doc) throw notFound('Document not found.', { reason: 'document_not_found' });
      if (!checked.has(doc.dossier_id)) await this.guard(actor, permission, doc.dossier_id);
      checked.add(doc.dossier_id);
      docs.push(doc);
    }
    return docs;
  }

  private async transition(actor: Actor, docs: DocumentRow[], status: 'sent' | 'processed') {
    const at = new Date();
    const rows = await this.intake.db.transaction(async (tx) => {
      const changed: DocumentRow[] = [];
      const result: DocumentRow[] = [];
      for (const doc of docs) {
        const current = (await findDocument(tx, doc.id, true))!;
        const moves = status === 'sent' ? current.status === 'draft' : current.status === 'sent';
        if (!moves) {
          result.push(current);
          continue;
        }
        const updated = await updateDocument(
          tx,
          doc.id,
          status === 'sent' ? { status, sent_at: at } : { status, processed_at: at },
        );
        changed.push(updated);
        result.push(updated);
      }
      for (const dossierId of new Set(changed.map((doc) => doc.dossier_id))) {
        const ofDossier = changed.filter((doc) => doc.dossier_id === dossierId);
        const payload =
          status === 'sent'
            ? {
                schema: DocumentsSentSchema,
                value: {
                  firmId: ofDossier[0].firm_id,
                  dossierId,
                  documentIds: ofDossier.map((doc) => doc.id),
                  actorId: actor.subjectId,
                  automatic: false,
                  sentAt: timestampFromDate(at),
                },
              }
            : {
                schema: DocumentsProcessedSchema,
                value: {
                  firmId: ofDossier[0].firm_id,
                  dossierId,
                  documentIds: ofDossier.map((doc) => doc.id),
                  actorId: actor.subjectId,
                  processedAt: timestampFromDate(at),
                },
              };
        await appendEvent(tx, { source: SOURCE, firmId: ofDossier[0].firm_id, dossierId, payload } as never);
        await recordAudit(
          tx,
          auditOf(actor, ofDossier[0], `document.${status}`, { documents: ofDossier.map((doc) => doc.id) }),
        );
      }
      return result;
    });
    this.intake.eventsWritten();
    return rows;
  }

  private async change(
    actor: Actor,
    id: string,
    action: string,
    work: (tx: Queryable, doc: DocumentRow) => Promise<DocumentRow>,
  ) {
    const doc = await this.get(actor, id, 'document:write');
    const updated = await this.intake.db.transaction(async (tx) => {
      const current = await findDocument(tx, doc.id, true);
      if (!current) throw notFound('Document not found.', { reason: 'document_not_found' });
      const result = await work(tx, current);
      await recordAudit(tx, auditOf(actor, current, action));
      return result;
    });
    this.intake.eventsWritten();
    return updated;
  }

  private async event(
    tx: Queryable,
    doc: DocumentRow,
    schema: never | Parameters<typeof appendEvent>[1]['payload']['schema'],
    value: object,
  ) {
    await appendEvent(tx, {
      source: SOURCE,
      firmId: doc.firm_id,
      dossierId: doc.dossier_id,
      payload: { schema, value: { firmId: doc.firm_id, dossierId: doc.dossier_id, ...value } },
    } as never);
  }

  /** Removes the objects of derived documents that will not be inserted (one that cannot be removed is left). */
  private async removeStored(results: Array<{ stored: { key: string } }>): Promise<void> {
    await Promise.all(results.map((result) => this.intake.store.delete(result.stored.key).catch(() => undefined)));
  }

  private async bytes(key: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of (await this.intake.store.get(key)) as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  /**
   * A split or merge result: a new document that arrived the way its source did (merge: its first document), so
   * it keeps that channel; where it came from is its DocumentStored event's source_document_ids.
   */
  private async storeDerived(source: DocumentRow, bytes: Uint8Array, name: string, pages: number, actor: Actor) {
    const id = randomUUID();
    const stored = await this.intake.store.put(`documents/${source.dossier_id}/${id}/document.pdf`, bytes, {
      contentType: 'application/pdf',
    });
    return { id, source, stored, name: name.slice(0, 200), pages, actor };
  }

  private async insertDerived(
    tx: Queryable,
    result: Awaited<ReturnType<DocumentActions['storeDerived']>>,
    sourceIds: string[],
  ) {
    const { source, stored } = result;
    const row = await insertDocument(tx, {
      id: result.id,
      firm_id: source.firm_id,
      dossier_id: source.dossier_id,
      mailbox: source.mailbox,
      name: result.name,
      type: 'pdf',
      original_format: 'pdf',
      channel: source.channel,
      pages: result.pages,
      status: 'draft',
      original_key: stored.key,
      original_size: stored.size,
      original_sha256: stored.sha256,
      pdf_key: stored.key,
      pdf_size: stored.size,
      sender_email: null,
      created_by: result.actor.subjectId,
      invoice: null,
    });
    await appendEvent(tx, {
      source: SOURCE,
      firmId: row.firm_id,
      dossierId: row.dossier_id,
      payload: {
        schema: DocumentStoredSchema,
        value: {
          ...storedEventBase(row),
          original: {
            key: stored.key,
            sha256: stored.sha256,
            size: BigInt(stored.size),
            contentType: 'application/pdf',
          },
          pdf: { key: stored.key, sha256: stored.sha256, size: BigInt(stored.size), contentType: 'application/pdf' },
          actorKind: result.actor.kind,
          sourceDocumentIds: sourceIds,
        },
      },
    });
    return row;
  }
}

/** A name a user gives a document (rename, split, merge): trimmed, 1 to 200 characters, no control characters. */
function givenName(name: string): string {
  const clean = name.trim();
  if (!clean || clean.length > 200 || /[\u0000-\u001f\u007f]/.test(clean)) {
    throw invalidArgument('A name has 1 to 200 characters and no control characters.', { reason: 'invalid_name' });
  }
  return clean;
}

export function mailboxOf(value: string): MailboxName {
  if (!(MAILBOXES as readonly string[]).includes(value)) {
    throw invalidArgument(`The mailbox must be purchase, sales or misc, not "${value}".`, {
      reason: 'invalid_mailbox',
    });
  }
  return value as MailboxName;
}

/** Staff on the accountant's side (not acting as the client in the portal). */
export const isAccountant = (actor: Actor) => actor.kind === 'staff' && !actor.impersonation;

const auditOf = (actor: Actor, doc: DocumentRow, action: string, details?: object) => ({
  firmId: doc.firm_id,
  dossierId: doc.dossier_id,
  actorKind: actor.kind,
  actorId: actor.subjectId,
  onBehalfOf: actor.impersonation?.portalUserId,
  action,
  subjectId: doc.id,
  details,
});
