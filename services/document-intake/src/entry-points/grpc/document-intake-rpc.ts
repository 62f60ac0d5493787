import { Readable } from 'node:stream';
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { invalidArgument } from '@kantoor/errors';
import { pageSizeOf } from '@kantoor/database';
import { coalesced, implement } from '@kantoor/grpc';
import {
  DocumentIntakeService,
  type UploadDocumentRequest,
} from '@kantoor/proto/kantoor/document_intake/v1/document_intake_pb';
import { safeFileName } from '@kantoor/zip-layout';
import {
  listDocuments,
  refusedFiles,
  type DocumentRow,
  type DocumentStatus,
} from '../../data-access/document-repository';
import { isAccountant, mailboxOf, type DocumentActions } from '../../domain/document-actions';
import type { HandOver } from '../../domain/hand-over';
import type { AccessGuard, Actor } from '../../domain/ports';
import {
  actorOf,
  CONTENT_TYPES,
  receiveDocument,
  type Channel,
  type IncomingPage,
  type IntakeStore,
} from '../../domain/receive-document';

// fewer, larger messages: per-message gRPC and protobuf costs dominate at 64 KiB
const CHUNK = 256 * 1024;

export function documentMessage(doc: DocumentRow, actor?: Actor) {
  return {
    id: doc.id,
    dossierId: doc.dossier_id,
    mailbox: doc.mailbox ?? '',
    name: doc.name,
    createdAt: timestampFromDate(doc.created_at),
    type: doc.type,
    channel: doc.channel,
    pages: doc.pages,
    // the paid flag is the client's own note, never shown to the accountant
    paid: actor && isAccountant(actor) ? false : doc.paid,
    remark: doc.remark,
    status: doc.status,
    originalFormat: doc.original_format,
    hasPdf: doc.pdf_key !== null,
    size: BigInt(doc.original_size),
    sha256: doc.original_sha256,
    invoice: doc.invoice ?? undefined,
    sentAt: doc.sent_at ? timestampFromDate(doc.sent_at) : undefined,
    processedAt: doc.processed_at ? timestampFromDate(doc.processed_at) : undefined,
    senderEmail: doc.sender_email ?? '',
  };
}

const brokenOff = () =>
  invalidArgument('The upload broke off before its end; nothing of it was stored.', { reason: 'upload_incomplete' });

/**
 * The upload stream as pages: the bytes between `next_page` markers, each a Readable, with the Content-Type the
 * client declared for it (the header's for the first page, the `page_content_type` right after `next_page` for a
 * later one). The stream must close with its `end` message, right after the last bytes: one that closes without
 * it broke off (see UploadDocumentRequest), and its last page fails with `upload_incomplete`, so that nothing of
 * the upload is kept.
 */
async function* pagesOf(
  requests: AsyncIterator<UploadDocumentRequest>,
  firstContentType: string,
): AsyncIterable<IncomingPage> {
  let done = false;
  let pending: UploadDocumentRequest | undefined;
  let contentType = firstContentType;
  while (!done) {
    async function* bytes(): AsyncIterable<Buffer> {
      for (;;) {
        const next = pending ? { value: pending, done: false } : await requests.next();
        pending = undefined;
        if (next.done) throw brokenOff();
        if (next.value.part.case === 'end') {
          done = true;
          if (!(await requests.next()).done)
            throw invalidArgument('Nothing may follow the end of an upload.', { reason: 'after_end' });
          return;
        }
        if (next.value.part.case === 'nextPage') return;
        // a view, not a copy
        if (next.value.part.case === 'chunk')
          yield Buffer.from(
            next.value.part.value.buffer,
            next.value.part.value.byteOffset,
            next.value.part.value.byteLength,
          );
      }
    }
    const page = Readable.from(bytes(), { objectMode: false });
    yield { bytes: page, contentType };
    // the consumer reads the page to its end before asking for the next one
    if (!page.readableEnded) await new Promise((resolve) => page.once('close', resolve));
    if (done) return;
    const peek = await requests.next();
    if (peek.done) throw brokenOff();
    if (peek.value.part.case === 'pageContentType') contentType = peek.value.part.value;
    else {
      contentType = '';
      pending = peek.value;
    }
  }
}

async function* download(info: { fileName: string; contentType: string; size: bigint }, body: AsyncIterable<Buffer>) {
  yield { part: { case: 'info' as const, value: info } };
  for await (const chunk of coalesced(body, CHUNK)) yield { part: { case: 'chunk' as const, value: chunk } };
}

export function documentIntakeRpc(deps: {
  intake: IntakeStore;
  guard: AccessGuard;
  actions: DocumentActions;
  handOver: HandOver;
}) {
  const { intake, guard, actions, handOver } = deps;
  return implement(DocumentIntakeService, {
    async uploadDocument(requests, { caller }) {
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done || first.value.part.case !== 'header') {
        throw invalidArgument('An upload starts with its header.', { reason: 'missing_header' });
      }
      const header = first.value.part.value;
      const channel = (header.channel || (caller.kind === 'api_key' ? 'api' : 'upload')) as Channel;
      if (!['upload', 'scan', 'api'].includes(channel)) {
        throw invalidArgument('The channel must be upload, scan or api.', { reason: 'invalid_channel' });
      }
      if (channel === 'api' && caller.kind !== 'api_key')
        throw invalidArgument('The api channel is for API keys.', { reason: 'invalid_channel' });
      const mailbox = mailboxOf(header.mailbox);
      await guard(caller, 'document:write', header.dossierId);
      const document = await receiveDocument(
        intake,
        {
          firmId: caller.firmId,
          dossierId: header.dossierId,
          mailbox,
          fileName: header.fileName || 'document',
          channel,
          actor: actorOf(caller),
        },
        pagesOf(iterator, header.contentType),
      );
      return { document: documentMessage(document, caller) };
    },

    async listDocuments(request, { caller }) {
      await guard(caller, 'document:read', request.dossierId);
      const statuses = request.statuses as DocumentStatus[];
      if (statuses.some((status) => !['draft', 'sent', 'processed'].includes(status))) {
        throw invalidArgument('A status is draft, sent or processed.', { reason: 'invalid_status' });
      }
      const page = await listDocuments(intake.db, {
        dossierId: request.dossierId,
        mailbox: request.mailbox === 'unsorted' ? null : request.mailbox ? mailboxOf(request.mailbox) : undefined,
        // the accountant sees what the client sent, never the drafts
        statuses: isAccountant(caller)
          ? statuses.length
            ? statuses.filter((s) => s !== 'draft')
            : ['sent', 'processed']
          : statuses,
        search: request.search || undefined,
        channel: request.channel || undefined,
        type: request.type || undefined,
        createdFrom: request.createdFrom ? timestampDate(request.createdFrom) : undefined,
        createdTo: request.createdTo ? timestampDate(request.createdTo) : undefined,
        pageSize: pageSizeOf(request),
        cursor: request.cursor || undefined,
      });
      if (isAccountant(caller) && statuses.length === 1 && statuses[0] === 'draft') page.documents = [];
      return { documents: page.documents.map((doc) => documentMessage(doc, caller)), nextCursor: page.nextCursor };
    },

    async getDocument(request, { caller }) {
      return { document: documentMessage(await actions.get(caller, request.documentId), caller) };
    },
    async renameDocument(request, { caller }) {
      return { document: documentMessage(await actions.rename(caller, request.documentId, request.name), caller) };
    },
    async moveDocument(request, { caller }) {
      return { document: documentMessage(await actions.move(caller, request.documentId, request.mailbox), caller) };
    },
    async deleteDocument(request, { caller }) {
      await actions.delete(caller, request.documentId);
      return {};
    },
    async splitDocument(request, { caller }) {
      const docs = await actions.split(
        caller,
        request.documentId,
        request.groups.map((group) => ({ name: group.name, pages: group.pages })),
      );
      return { documents: docs.map((doc) => documentMessage(doc, caller)) };
    },
    async mergeDocuments(request, { caller }) {
      return { document: documentMessage(await actions.merge(caller, request.documentIds, request.name), caller) };
    },
    async sendDocuments(request, { caller }) {
      return {
        documents: (await actions.send(caller, request.documentIds)).map((doc) => documentMessage(doc, caller)),
      };
    },
    async setPaid(request, { caller }) {
      return { document: documentMessage(await actions.setPaid(caller, request.documentId, request.paid), caller) };
    },
    async setRemark(request, { caller }) {
      return { document: documentMessage(await actions.setRemark(caller, request.documentId, request.remark), caller) };
    },
    async markProcessed(request, { caller }) {
      return {
        documents: (await actions.markProcessed(caller, request.documentIds)).map((doc) =>
          documentMessage(doc, caller),
        ),
      };
    },

    async *downloadDocument(request, { caller }) {
      const doc = await actions.get(caller, request.documentId);
      const original = request.variant === 'original';
      if (!original && !doc.pdf_key) throw invalidArgument('This document has no PDF.', { reason: 'no_pdf' });
      const extension = original ? { pdf: 'pdf', jpeg: 'jpg', xml: 'xml' }[doc.original_format] : 'pdf';
      const contentType = CONTENT_TYPES[original ? doc.original_format : 'pdf'];
      const key = original ? doc.original_key : doc.pdf_key!;
      const size = original ? Number(doc.original_size) : Number(doc.pdf_size);
      yield* download(
        { fileName: safeFileName(doc.name, extension), contentType, size: BigInt(size) },
        (await intake.store.get(key)) as AsyncIterable<Buffer>,
      );
    },

    async listActiveClients(request, { caller }) {
      return {
        clients: await handOver.activeClients(caller, request.dossierIds, {
          mailbox: request.mailbox,
          onlyWaiting: request.onlyWaiting,
        }),
      };
    },

    async *downloadDossierZip(request, { caller }) {
      const who = await handOver.downloader(caller, request.dossierId, request.linkToken, request.markProcessed);
      yield* download(
        { fileName: 'documents.zip', contentType: 'application/zip', size: -1n },
        handOver.zip(who.actor, who.dossierId, who.markProcessed),
      );
    },

    async requestDownloadLink(request, { caller }) {
      const link = await handOver.requestLink(caller, request.dossierId, request.markProcessed);
      return { expiresAt: timestampFromDate(link.expiresAt), recipientEmail: link.recipientEmail };
    },

    async getIntakeLog(request, { caller }) {
      await guard(caller, 'document:read', request.dossierId);
      const page = await refusedFiles(intake.db, request.dossierId, {
        pageSize: pageSizeOf(request, 500),
        cursor: request.cursor || undefined,
      });
      return {
        nextCursor: page.nextCursor,
        refused: page.refused.map((row) => ({
          id: row.id,
          fileName: row.file_name,
          channel: row.channel,
          reason: row.reason,
          message: row.message,
          senderEmail: row.sender_email ?? '',
          receivedAt: timestampFromDate(row.received_at),
        })),
      };
    },
  });
}
