/**
 * The archive's lists page by keyset cursor on the time PostgreSQL keeps, to the microsecond: documents uploaded,
 * objects purged and verification runs started within one millisecond are each listed once, in order, on PGlite
 * and on PostgreSQL alike.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { migrate, readMigrations } from '@kantoor/database';
import { describeEachDatabase, type TestDatabase } from '@kantoor/testing';
import { cursorAfter, searchDocuments, type SearchCursor } from '../src/data-access/archive-repository';
import { purgeRecords } from '../src/domain/purge';
import { verificationRuns } from '../src/domain/verification';
import { archivedAndPurged, verificationRunAt } from './purged-rows';

const firmId = randomUUID();
const dossierId = randomUUID();
// one millisecond, and microseconds apart within it, newest first
const TIMES = ['.123456', '.123455', '.123454', '.123001', '.123000', '.122999'].map(
  (fraction) => `2026-12-03 10:00:00${fraction}+00`,
);
// the document ids run against the times, so only the time orders them
const documentIds = TIMES.map((_, index) => `document-${index}`);

describeEachDatabase('archive lists of rows written within one millisecond', (open) => {
  let test: TestDatabase;
  let objectIds: string[];

  beforeAll(async () => {
    test = await open();
    await migrate(test.db, await readMigrations(path.join(__dirname, '..', 'migrations')));
    objectIds = [];
    // written in an order unlike the times: the object ids (bigserial) run neither way
    for (const index of [3, 0, 5, 1, 4, 2])
      objectIds[index] = await archivedAndPurged(
        test.db,
        { firmId, dossierId, documentId: documentIds[index] },
        TIMES[index],
      );
  }, 60_000);
  afterAll(() => test?.dispose());

  it('the search lists every document exactly once, newest upload first, a document a page', async () => {
    const listed: string[] = [];
    let after: SearchCursor | undefined;
    for (let pages = 0; pages < TIMES.length; pages++) {
      const [found] = await searchDocuments(test.db, { dossierId, deleted: 'all' }, 1, after);
      if (!found) break;
      listed.push(found.document_id);
      after = cursorAfter(found);
    }
    expect(listed).toEqual(documentIds);
  });

  it('the purge records are listed each exactly once, newest purge first, a record a page', async () => {
    const listed: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages <= TIMES.length; pages++) {
      const page = await purgeRecords(test.db, { dossierId }, { pageSize: 1, cursor });
      listed.push(...page.records.map((record) => record.object_id));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    expect(listed).toEqual(objectIds);
  });

  it('the verification runs are listed each exactly once, newest start first, the later run first at the same time', async () => {
    const runFirm = randomUUID();
    // written in an order unlike the times, two of them started at the same microsecond
    const started = ['.123001', '.123456', '.122999', '.123455', '.123455'].map((at) => `2026-12-03 10:00:00${at}+00`);
    const runs: Array<{ at: string; id: string }> = [];
    for (const at of started) runs.push({ at, id: await verificationRunAt(test.db, runFirm, at) });
    const newestFirst = runs
      .sort((a, b) => b.at.localeCompare(a.at) || Number(b.id) - Number(a.id))
      .map((run) => run.id);
    for (const pageSize of [1, 2]) {
      const listed: string[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages <= started.length; pages++) {
        const page = await verificationRuns(test.db, { pageSize, cursor }, runFirm);
        listed.push(...page.runs.map((run) => run.id));
        if (!page.nextCursor) break;
        cursor = page.nextCursor;
      }
      expect(listed).toEqual(newestFirst);
    }
  });

  it('refuses a purge record cursor it did not give out', async () => {
    const made = (key: string, id: string) => Buffer.from(JSON.stringify([key, id])).toString('base64url');
    for (const cursor of ['nonsense', made('yesterday', objectIds[0]), made(TIMES[0], 'not-an-id')])
      await expect(purgeRecords(test.db, { dossierId }, { pageSize: 1, cursor })).rejects.toMatchObject({
        kind: 'invalid_argument',
        reason: 'invalid_cursor',
      });
  });
});
