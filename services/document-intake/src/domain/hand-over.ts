import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Readable } from 'node:stream';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { appendEvent } from '@kantoor/events';
import { failedPrecondition, invalidArgument, permissionDenied, unauthenticated } from '@kantoor/errors';
import { DownloadLinkRequestedSchema } from '@kantoor/proto/kantoor/document_intake/v1/events_pb';
import { layoutFolder, MAILBOX_ORDER, storedZip, ZipPaths } from '@kantoor/zip-layout';
import {
  countsPerMailbox,
  documentsToProcess,
  type DocumentRow,
  type MailboxName,
} from '../data-access/document-repository';
import { isAccountant, type DocumentActions } from './document-actions';
import type { AccessGuard, Actor, DossierLabels } from './ports';
import { MAILBOXES, type IntakeStore } from './receive-document';

/** What limits the active clients monitor's list (the dossiers' own attributes are filtered by the directory). */
export interface ActiveClientsFilter {
  /** purchase, sales, misc or unsorted: only dossiers with documents there */
  mailbox?: string;
  /** only dossiers with sent documents waiting to be processed (in `mailbox` when given) */
  onlyWaiting?: boolean;
}

export interface ZipEntry {
  path: string;
  key: string;
  document: DocumentRow;
}

/**
 * The ZIP layout of spec 02 (packages/zip-layout): the PDF documents (JPEG uploads as their PDF) in -pdf and the
 * UBL files in -ubl, mailbox by mailbox; only folders with files appear.
 */
export function zipLayout(documents: DocumentRow[]): ZipEntry[] {
  const paths = new ZipPaths();
  const entries: ZipEntry[] = [];
  for (const mailbox of MAILBOX_ORDER) {
    for (const kind of ['pdf', 'ubl'] as const) {
      for (const document of documents.filter((doc) => doc.mailbox === mailbox && doc.type === kind)) {
        entries.push({
          path: paths.claim(layoutFolder(mailbox, kind), document.name, kind === 'pdf' ? 'pdf' : 'xml'),
          key: kind === 'pdf' ? document.pdf_key! : document.original_key,
          document,
        });
      }
    }
  }
  return entries;
}

export interface LinkClaims {
  firmId: string;
  dossierId: string;
  staffId: string;
  expiresAt: Date;
  markProcessed: boolean;
}

/** Signed, expiring download links bound to a dossier and the staff member who asked for them. */
export class DownloadLinks {
  constructor(private readonly secret: string) {}

  sign(claims: LinkClaims): string {
    const body = Buffer.from(
      JSON.stringify({
        f: claims.firmId,
        d: claims.dossierId,
        s: claims.staffId,
        e: Math.floor(claims.expiresAt.getTime() / 1000),
        p: claims.markProcessed,
      }),
    ).toString('base64url');
    return `${body}.${this.mac(body)}`;
  }

  verify(token: string, now = new Date()): LinkClaims {
    const [body, mac] = token.split('.');
    const expected = body ? this.mac(body) : '';
    if (!body || !mac || mac.length !== expected.length || !timingSafeEqual(Buffer.from(mac), Buffer.from(expected))) {
      throw unauthenticated('This download link is not valid.', { reason: 'invalid_link' });
    }
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as {
      f: string;
      d: string;
      s: string;
      e: number;
      p: boolean;
    };
    if (claims.e * 1000 < now.getTime())
      throw unauthenticated('This download link has expired; ask for a new one.', { reason: 'link_expired' });
    return {
      firmId: claims.f,
      dossierId: claims.d,
      staffId: claims.s,
      expiresAt: new Date(claims.e * 1000),
      markProcessed: claims.p,
    };
  }

  private mac(body: string): string {
    return createHmac('sha256', this.secret).update(body).digest('base64url');
  }
}

export class HandOver {
  constructor(
    private readonly intake: IntakeStore,
    private readonly guard: AccessGuard,
    private readonly actions: DocumentActions,
    private readonly links: DownloadLinks,
    private readonly dossierLabel: DossierLabels,
    private readonly settings: { publicUrl: string; linkTtlHours: number },
  ) {}

  /**
   * Per dossier and mailbox: grey = not yet sent, green = sent and waiting (only dossiers the actor sees). The
   * filter limits the list, not the counts: a dossier shown has all its mailboxes counted.
   */
  async activeClients(actor: Actor, dossierIds: string[], filter: ActiveClientsFilter = {}) {
    const mailbox = filter.mailbox || undefined;
    if (mailbox && mailbox !== 'unsorted' && !MAILBOXES.includes(mailbox as MailboxName)) {
      throw invalidArgument('The mailbox filter is purchase, sales, misc or unsorted.', {
        reason: 'invalid_mailbox',
        violations: [{ field: 'mailbox', message: 'is not purchase, sales, misc or unsorted' }],
      });
    }
    if (actor.kind !== 'system' && dossierIds.length === 0) return [];
    for (const dossierId of dossierIds) await this.guard(actor, 'document:read', dossierId);
    const counts = await countsPerMailbox(this.intake.db, dossierIds);
    const clients = new Map<
      string,
      { dossierId: string; mailboxes: Map<string, { notSent: number; waiting: number }>; unsorted: number }
    >();
    for (const row of counts) {
      const client = clients.get(row.dossier_id) ?? { dossierId: row.dossier_id, mailboxes: new Map(), unsorted: 0 };
      clients.set(row.dossier_id, client);
      if (!row.mailbox) {
        client.unsorted += row.count;
        continue;
      }
      const box = client.mailboxes.get(row.mailbox) ?? { notSent: 0, waiting: 0 };
      if (row.status === 'draft') box.notSent += row.count;
      else box.waiting += row.count;
      client.mailboxes.set(row.mailbox, box);
    }
    const shown = [...clients.values()].filter((client) => {
      if (mailbox === 'unsorted') return !filter.onlyWaiting && client.unsorted > 0;
      const boxes = mailbox ? [client.mailboxes.get(mailbox)] : [...client.mailboxes.values()];
      return boxes.some((box) => box && (filter.onlyWaiting ? box.waiting > 0 : box.notSent + box.waiting > 0));
    });
    return shown.map((client) => ({
      dossierId: client.dossierId,
      unsorted: client.unsorted,
      mailboxes: MAILBOXES.map((mailbox) => ({
        mailbox,
        ...(client.mailboxes.get(mailbox) ?? { notSent: 0, waiting: 0 }),
      })),
    }));
  }

  /** Who downloads: the caller, or the staff member a signed link names (whose access is checked again now). */
  async downloader(
    actor: Actor,
    dossierId: string,
    linkToken: string,
    markProcessed: boolean,
  ): Promise<{ actor: Actor; dossierId: string; markProcessed: boolean }> {
    if (linkToken) {
      const claims = this.links.verify(linkToken);
      const staff: Actor = { kind: 'staff', subjectId: claims.staffId, firmId: claims.firmId, scopes: [] };
      await this.guard(staff, 'document:process', claims.dossierId);
      return { actor: staff, dossierId: claims.dossierId, markProcessed: claims.markProcessed };
    }
    if (!isAccountant(actor) && actor.kind !== 'api_key') {
      throw permissionDenied('The download of documents to process is for the accountant.', {
        reason: 'accountant_only',
      });
    }
    await this.guard(actor, 'document:process', dossierId);
    return { actor, dossierId, markProcessed };
  }

  /** The ZIP as a stream of chunks, one object after the other (the next few opened ahead); processed only once the whole ZIP is out. */
  async *zip(actor: Actor, dossierId: string, markProcessed: boolean): AsyncIterable<Buffer> {
    const documents = await documentsToProcess(this.intake.db, dossierId);
    const entries = zipLayout(documents);
    yield* storedZip(
      entries.map((entry) => ({
        name: entry.path,
        date: entry.document.created_at,
        open: async () => (await this.intake.store.get(entry.key)) as Readable,
      })),
    );
    if (markProcessed && documents.length > 0)
      await this.actions.markProcessed(
        actor,
        documents.map((doc) => doc.id),
      );
  }

  async requestLink(actor: Actor, dossierId: string, markProcessed: boolean) {
    if (!isAccountant(actor)) throw permissionDenied('Download links are for staff members.', { reason: 'staff_only' });
    if (!actor.email)
      throw failedPrecondition('Your account has no e-mail address to send the link to.', { reason: 'no_email' });
    await this.guard(actor, 'document:process', dossierId);
    const expiresAt = new Date(Date.now() + this.settings.linkTtlHours * 3600_000);
    const token = this.links.sign({
      firmId: actor.firmId,
      dossierId,
      staffId: actor.subjectId,
      expiresAt,
      markProcessed,
    });
    const count = (await documentsToProcess(this.intake.db, dossierId)).length;
    const dossier = await this.dossierLabel(actor.firmId, dossierId);
    await this.intake.db.transaction((tx) =>
      appendEvent(tx, {
        source: 'document-intake',
        firmId: actor.firmId,
        dossierId,
        payload: {
          schema: DownloadLinkRequestedSchema,
          value: {
            firmId: actor.firmId,
            dossierId,
            staffId: actor.subjectId,
            recipientEmail: actor.email!,
            link: `${this.settings.publicUrl.replace(/\/$/, '')}/v1/document-downloads/${token}`,
            expiresAt: timestampFromDate(expiresAt),
            documentCount: count,
            dossierName: dossier.name,
            dossierCode: dossier.code,
          },
        },
      }),
    );
    this.intake.eventsWritten();
    return { expiresAt, recipientEmail: actor.email };
  }
}
