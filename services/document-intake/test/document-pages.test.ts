/**
 * Lists page by keyset cursor on the time PostgreSQL keeps, to the microsecond: rows written within one
 * millisecond are each listed once, in order, on PGlite and on PostgreSQL alike.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { migrate, readMigrations, type Database } from '@kantoor/database';
import { describeEachDatabase, type TestDatabase } from '@kantoor/testing';
import { listDocuments, refusedFiles } from '../src/data-access/document-repository';
import { refusedAt } from './refused-rows';

const firmId = randomUUID();
const dossierId = randomUUID();
// one millisecond, and microseconds apart within it; the ids run against the times, so only the time orders them
const TIMES = ['.123456', '.123455', '.123454', '.123001', '.123000', '.122999'].map(
  (fraction) => `2026-12-03 10:00:00${fraction}+00`,
);
const ids = TIMES.map((_, index) => `00000000-0000-4000-8000-00000000000${index}`);

async function insertDocument(db: Database, id: string, createdAt: string) {
  await db.query(
    `INSERT INTO document (id, firm_id, dossier_id, mailbox, name, type, original_format, channel, pages, original_key,
       original_size, original_sha256, pdf_key, pdf_size, created_by, created_at)
     VALUES ($1, $2, $3, 'purchase', $4, 'pdf', 'pdf', 'upload', 1, $5, 10, 'x', $5, 10, 'someone', $6::timestamptz)`,
    [id, firmId, dossierId, `document ${id.at(-1)}`, `documents/${dossierId}/${id}/original`, createdAt],
  );
}

/** Every page, a row at a time, following the cursors; the ids in the order listed. */
async function everyPage(list: (cursor?: string) => Promise<{ ids: string[]; nextCursor: string }>) {
  const listed: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages <= TIMES.length; pages++) {
    const page = await list(cursor);
    listed.push(...page.ids);
    if (!page.nextCursor) return listed;
    cursor = page.nextCursor;
  }
  throw new Error(`more pages than rows: ${listed.join(', ')}`);
}

describeEachDatabase('paging through rows written within one millisecond', (open) => {
  let test: TestDatabase;

  beforeAll(async () => {
    test = await open();
    await migrate(test.db, await readMigrations(path.join(__dirname, '..', 'migrations')));
    // written in an order unlike both the times and the ids
    for (const index of [3, 0, 5, 1, 4, 2]) {
      await insertDocument(test.db, ids[index], TIMES[index]);
      await refusedAt(test.db, { id: ids[index], firmId, dossierId }, TIMES[index]);
    }
  }, 60_000);
  afterAll(() => test?.dispose());

  it('lists every document exactly once, newest first, a document a page', async () => {
    const listed = await everyPage(async (cursor) => {
      const page = await listDocuments(test.db, { dossierId, pageSize: 1, cursor });
      return { ids: page.documents.map((doc) => doc.id), nextCursor: page.nextCursor };
    });
    expect(listed).toEqual(ids);
  });

  it('lists every refused file of the intake log exactly once, newest first, a file a page', async () => {
    const listed = await everyPage(async (cursor) => {
      const page = await refusedFiles(test.db, dossierId, { pageSize: 1, cursor });
      return { ids: page.refused.map((file) => file.id), nextCursor: page.nextCursor };
    });
    expect(listed).toEqual(ids);
  });

  it('pages of two end where the next begins, and the last page has no cursor', async () => {
    const first = await listDocuments(test.db, { dossierId, pageSize: 4 });
    const second = await listDocuments(test.db, { dossierId, pageSize: 4, cursor: first.nextCursor });
    expect(first.documents.map((doc) => doc.id)).toEqual(ids.slice(0, 4));
    expect(second.documents.map((doc) => doc.id)).toEqual(ids.slice(4));
    expect(second.nextCursor).toBe('');
  });

  it('refuses a cursor it did not give out, naming the cursor', async () => {
    const made = (key: string, id: string) => Buffer.from(JSON.stringify([key, id])).toString('base64url');
    for (const cursor of ['nonsense', made('yesterday', ids[0]), made(TIMES[0], 'not-an-id')]) {
      await expect(listDocuments(test.db, { dossierId, pageSize: 1, cursor })).rejects.toMatchObject({
        kind: 'invalid_argument',
        reason: 'invalid_cursor',
      });
      await expect(refusedFiles(test.db, dossierId, { pageSize: 1, cursor })).rejects.toMatchObject({
        kind: 'invalid_argument',
        reason: 'invalid_cursor',
      });
    }
  });
});
