import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import archiver from 'archiver';
import type { Queryable } from '@kantoor/database';
import type { ObjectStore } from '@kantoor/object-storage';
import { layoutFolder, layoutRank, ZipPaths, type DocumentKind, type Mailbox } from '@kantoor/zip-layout';
import {
  cursorAfter,
  objectsOf,
  searchDocuments,
  type DocumentRow,
  type ObjectRow,
  type SearchCursor,
  type SearchFilter,
} from '../data-access/archive-repository';

const PAGE = 500;
const EXTENSIONS: Record<string, string> = {
  'application/pdf': 'pdf',
  'application/xml': 'xml',
  'text/xml': 'xml',
  'image/jpeg': 'jpg',
  'image/png': 'png',
};
const extensionOf = (object: ObjectRow) => EXTENSIONS[object.content_type.split(';')[0].trim()] ?? 'bin';
const mailboxOf = (doc: DocumentRow): Mailbox =>
  (['purchase', 'sales', 'misc'] as const).includes(doc.mailbox as Mailbox) ? (doc.mailbox as Mailbox) : 'misc';

/** Every document matching the filter, page by page, with its objects: memory stays at one page. */
async function* documentPages(db: Queryable, filter: SearchFilter) {
  let after: SearchCursor | undefined;
  for (;;) {
    const documents = await searchDocuments(db, filter, PAGE, after);
    if (documents.length === 0) return;
    yield { documents, objects: await objectsOf(db, documents) };
    if (documents.length < PAGE) return;
    after = cursorAfter(documents[documents.length - 1]);
  }
}

/** The object a document shows in the intake layout: its PDF (JPEG uploads as their PDF), or its UBL original. */
function layoutObject(doc: DocumentRow, objects: ObjectRow[]): ObjectRow | undefined {
  const live = objects.filter((object) => !object.purged_at);
  if (doc.kind === 'ubl') return live.find((object) => ['original', 'e-invoice'].includes(object.role));
  return (
    live.find((object) => ['pdf', 'invoice-pdf'].includes(object.role)) ??
    live.find((object) => object.role === 'original' && object.content_type === 'application/pdf')
  );
}

/** Streams entries into a store-only ZIP, one object open at a time. */
async function* zipStream(
  items: AsyncIterable<{ path: string; key?: string; body?: NodeJS.ReadableStream; date: Date }>,
  store: ObjectStore,
) {
  const zip = archiver('zip', { store: true });
  const abandoned = new AbortController();
  const feed = (async () => {
    for await (const item of items) {
      const body = item.body ?? (await store.get(item.key!));
      zip.append(body as never, { name: item.path, date: item.date });
      await once(zip, 'entry', { signal: abandoned.signal });
    }
    await zip.finalize();
  })();
  feed.catch((error) => (abandoned.signal.aborted ? zip.destroy() : zip.destroy(error)));
  let finished = false;
  try {
    for await (const chunk of zip as AsyncIterable<Buffer>) yield chunk;
    finished = true;
  } finally {
    // the reader went away (or the ZIP failed): stop the feed, so that its items release what they hold
    if (!finished) abandoned.abort();
  }
  await feed;
}

/**
 * The documents matching a filter in the intake ZIP layout (Aankoop-pdf/ ... Diverse-ubl/). The layout is
 * folder by folder, so the matching rows are read once per folder; each pass streams.
 */
export function selectionZip(db: Queryable, store: ObjectStore, filter: SearchFilter): AsyncIterable<Buffer> {
  async function* items() {
    const paths = new ZipPaths();
    const folders = (['purchase', 'sales', 'misc'] as const)
      .flatMap((mailbox) => (['pdf', 'ubl'] as const).map((kind) => ({ mailbox, kind })))
      .sort((a, b) => layoutRank(a.mailbox, a.kind) - layoutRank(b.mailbox, b.kind));
    for (const folder of folders) {
      if (filter.mailbox && filter.mailbox !== folder.mailbox) continue;
      for await (const page of documentPages(db, { ...filter, mailbox: folder.mailbox })) {
        for (const document of page.documents) {
          if (document.kind !== folder.kind) continue;
          const object = layoutObject(
            document,
            page.objects.filter((o) => o.document_id === document.document_id && o.source === document.source),
          );
          if (!object) continue;
          yield {
            path: paths.claim(
              layoutFolder(folder.mailbox, folder.kind as DocumentKind),
              document.name,
              folder.kind === 'pdf' ? 'pdf' : 'xml',
            ),
            key: object.key,
            date: document.uploaded_at,
          };
        }
      }
    }
  }
  return zipStream(items(), store);
}

export interface ManifestEntry {
  path: string;
  objectId: string;
  documentId: string;
  source: string;
  role: string;
  name: string;
  mailbox: string;
  channel: string;
  sha256: string;
  size: number;
  documentDate: string;
  uploadedAt: string;
  deletedAt: string | null;
  retainUntil: string;
  /** live, deleted, or purged (listed, without a file) */
  status: 'live' | 'deleted' | 'purged';
}

const CSV_COLUMNS: Array<keyof ManifestEntry> = [
  'path',
  'objectId',
  'documentId',
  'source',
  'role',
  'name',
  'mailbox',
  'channel',
  'sha256',
  'size',
  'documentDate',
  'uploadedAt',
  'deletedAt',
  'retainUntil',
  'status',
];
const csvCell = (value: unknown) => {
  const text = value === null || value === undefined ? '' : String(value);
  // a leading = + - @ would be a formula in a spreadsheet
  const safe = /^[=+\-@]/.test(text) ? `'${text}` : text;
  return /[",\n\r;]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
};

/** A temporary file written with backpressure; what the manifest of a large dossier is kept in instead of memory. */
class SpoolFile {
  private readonly out: WriteStream;

  constructor(readonly path: string) {
    this.out = createWriteStream(path);
  }

  async write(text: string) {
    if (!this.out.write(text)) await once(this.out, 'drain');
  }

  async close() {
    if (this.out.closed) return;
    this.out.end();
    await once(this.out, 'close');
  }
}

/**
 * Everything archived for a dossier: live documents under the intake folders with their originals beside them
 * (`<Map>-origineel/`), deleted ones under `Verwijderd/`, then manifest.json and manifest.csv listing every file.
 * The manifest rows are spooled to temporary files while the objects stream, so memory does not grow with the
 * dossier.
 */
export function dossierArchiveZip(db: Queryable, store: ObjectStore, dossierId: string): AsyncIterable<Buffer> {
  async function* items() {
    const spool = await mkdtemp(join(tmpdir(), 'kantoor-archive-manifest-'));
    const json = new SpoolFile(join(spool, 'files.json'));
    const csv = new SpoolFile(join(spool, 'manifest.csv'));
    try {
      await csv.write(`${CSV_COLUMNS.join(',')}\r\n`);
      let listed = 0;
      const paths = new ZipPaths();
      for await (const page of documentPages(db, { dossierId, deleted: 'all' })) {
        for (const document of page.documents) {
          const objects = page.objects.filter(
            (o) => o.document_id === document.document_id && o.source === document.source,
          );
          const shown = layoutObject(document, objects);
          for (const object of objects) {
            const kind = document.kind === 'ubl' ? 'ubl' : 'pdf';
            const folder =
              object === shown
                ? layoutFolder(mailboxOf(document), kind)
                : `${layoutFolder(mailboxOf(document), kind).split('-')[0]}-origineel`;
            const role = object === shown || object.role === 'original' ? '' : ` ${object.role}`;
            const entry: ManifestEntry = {
              path: '',
              objectId: object.id,
              documentId: document.document_id,
              source: document.source,
              role: object.role,
              name: document.name,
              mailbox: document.mailbox,
              channel: document.channel,
              sha256: object.sha256,
              size: Number(object.size),
              documentDate: document.document_date,
              uploadedAt: document.uploaded_at.toISOString(),
              deletedAt: document.deleted_at?.toISOString() ?? null,
              retainUntil: object.retain_until.toISOString(),
              status: object.purged_at ? 'purged' : document.deleted_at ? 'deleted' : 'live',
            };
            if (entry.status !== 'purged') {
              entry.path = paths.claim(
                `${document.deleted_at ? 'Verwijderd/' : ''}${folder}`,
                `${document.name}${role}`,
                extensionOf(object),
              );
              yield { path: entry.path, key: object.key, date: document.uploaded_at };
            }
            await json.write(`${listed++ ? ',\n' : '\n'}${JSON.stringify(entry)}`);
            await csv.write(`${CSV_COLUMNS.map((column) => csvCell(entry[column])).join(',')}\r\n`);
          }
        }
      }
      await Promise.all([json.close(), csv.close()]);
      const now = new Date();
      const head = `{"dossierId":${JSON.stringify(dossierId)},"createdAt":"${now.toISOString()}","files":[`;
      yield { path: 'manifest.json', body: concat(head, json.path, '\n]}\n'), date: now };
      yield { path: 'manifest.csv', body: createReadStream(csv.path), date: now };
    } finally {
      // reached when the ZIP ends, fails or its reader goes away
      await Promise.allSettled([json.close(), csv.close()]);
      await rm(spool, { recursive: true, force: true });
    }
  }
  return zipStream(items(), store);
}

const concat = (head: string, file: string, tail: string) =>
  Readable.from(
    (async function* () {
      yield Buffer.from(head);
      yield* createReadStream(file) as AsyncIterable<Buffer>;
      yield Buffer.from(tail);
    })(),
  );
