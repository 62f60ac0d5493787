/** Rows stored before a rule changed are brought in line with it by the service's migrations. */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { migrate, PgliteDatabase, readMigrations, type Database } from '@kantoor/database';

let db: Database;
const firmId = randomUUID();
const dossierId = randomUUID();

beforeAll(async () => {
  db = await PgliteDatabase.open();
}, 30_000);
afterAll(() => db?.close());

const migrationsUpTo = async (last: string) =>
  (await readMigrations(path.join(__dirname, '..', 'migrations'))).filter(
    (migration) => migration.version.slice(0, 4) <= last,
  );

/** A document row as the service wrote it before the migrations under test. */
async function insertOld(values: {
  channel: string;
  originalFormat?: string;
  originalPart?: string;
  pdfPart?: string;
  createdAt?: Date;
}) {
  const { originalFormat = 'pdf', originalPart = 'document.pdf', pdfPart = 'document.pdf' } = values;
  const id = randomUUID();
  const key = (part: string) => `documents/${dossierId}/${id}/${part}`;
  await db.query(
    `INSERT INTO document (id, firm_id, dossier_id, mailbox, name, type, original_format, channel, pages, original_key,
       original_size, original_sha256, pdf_key, pdf_size, created_by, created_at)
     VALUES ($1, $2, $3, 'purchase', 'oud', 'pdf', $4, $5, 1, $6, 10, 'x', $7, 10, 'someone', $8)`,
    [
      id,
      firmId,
      dossierId,
      originalFormat,
      values.channel,
      key(originalPart),
      key(pdfPart),
      values.createdAt ?? new Date(),
    ],
  );
  return id;
}

/** The audit entry a split or merge wrote (a merge's at the moment its result was inserted). */
const auditOld = (action: string, subjectId: string, details: object, at = new Date()) =>
  db.query(
    `INSERT INTO audit_log (firm_id, dossier_id, actor_kind, actor_id, action, subject_id, details, occurred_at)
     VALUES ($1, $2, 'portal_user', 'someone', $3, $4, $5, $6)`,
    [firmId, dossierId, action, subjectId, JSON.stringify(details), at],
  );

const columnsOf = async (id: string) =>
  (await db.query<{ channel: string; original_format: string }>('SELECT * FROM document WHERE id = $1', [id])).rows[0];

describe('migrations of stored documents', () => {
  let scans: { multiPage: string; upload: string };
  let derived: { split: string; mergeOfSplit: string; unknownMerge: string };

  beforeAll(async () => {
    await migrate(db, await migrationsUpTo('0002'));
    scans = {
      // the merged PDF was the original, but the format said jpeg
      multiPage: await insertOld({
        channel: 'scan',
        originalFormat: 'jpeg',
        originalPart: 'document.pdf',
        pdfPart: 'document.pdf',
      }),
      upload: await insertOld({
        channel: 'upload',
        originalFormat: 'jpeg',
        originalPart: 'original',
        pdfPart: 'document.pdf',
      }),
    };
    // an e-mailed document split; one part merged (first) with a scan; a merge whose audit entry is missing
    const mailed = await insertOld({ channel: 'email' });
    const scanned = await insertOld({ channel: 'scan' });
    const split = await insertOld({ channel: 'split' });
    await auditOld('document.split', mailed, { results: [split] });
    const mergedAt = new Date(Date.now() - 60_000);
    const mergeOfSplit = await insertOld({ channel: 'merge', createdAt: mergedAt });
    await auditOld('document.merged', split, { sources: [split, scanned] }, mergedAt);
    derived = { split, mergeOfSplit, unknownMerge: await insertOld({ channel: 'merge' }) };
    await migrate(db, await readMigrations(path.join(__dirname, '..', 'migrations')));
  });

  it('a scan whose original is its merged PDF has the original format pdf, so it downloads as a PDF', async () => {
    expect((await columnsOf(scans.multiPage)).original_format).toBe('pdf');
    // an uploaded JPEG keeps its original
    expect((await columnsOf(scans.upload)).original_format).toBe('jpeg');
  });

  it("split and merge results take the channel their first document arrived by; 'split' and 'merge' are gone", async () => {
    expect((await columnsOf(derived.split)).channel).toBe('email');
    expect((await columnsOf(derived.mergeOfSplit)).channel).toBe('email');
    expect((await columnsOf(derived.unknownMerge)).channel).toBe('upload');
    await expect(insertOld({ channel: 'split' })).rejects.toThrow(/document_channel_check/);
  });
});
