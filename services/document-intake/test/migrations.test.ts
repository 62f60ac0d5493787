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
async function insertOld(values: { channel: string; originalFormat: string; originalPart: string; pdfPart: string }) {
  const id = randomUUID();
  const key = (part: string) => `documents/${dossierId}/${id}/${part}`;
  await db.query(
    `INSERT INTO document (id, firm_id, dossier_id, mailbox, name, type, original_format, channel, pages, original_key,
       original_size, original_sha256, pdf_key, pdf_size, created_by)
     VALUES ($1, $2, $3, 'purchase', 'oud', 'pdf', $4, $5, 1, $6, 10, 'x', $7, 10, 'someone')`,
    [id, firmId, dossierId, values.originalFormat, values.channel, key(values.originalPart), key(values.pdfPart)],
  );
  return id;
}

const columnsOf = async (id: string) =>
  (await db.query<{ channel: string; original_format: string }>('SELECT * FROM document WHERE id = $1', [id])).rows[0];

describe('migrations of stored documents', () => {
  let scans: { multiPage: string; upload: string };

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
    await migrate(db, await readMigrations(path.join(__dirname, '..', 'migrations')));
  });

  it('a scan whose original is its merged PDF has the original format pdf, so it downloads as a PDF', async () => {
    expect((await columnsOf(scans.multiPage)).original_format).toBe('pdf');
    // an uploaded JPEG keeps its original
    expect((await columnsOf(scans.upload)).original_format).toBe('jpeg');
  });
});
