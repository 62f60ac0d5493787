import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { listDeadLetters } from '@kantoor/events';
import {
  DocumentDeletedSchema,
  DocumentMovedSchema,
  DocumentRenamedSchema,
  DocumentSplitSchema,
  DocumentsMergedSchema,
} from '@kantoor/proto/kantoor/document_intake/v1/events_pb';
import {
  adminCaller,
  collect,
  deliver,
  dossierId,
  employeeCaller,
  eventually,
  firmId,
  otherDossierId,
  secondFirmAdmin,
  secondFirmDossierId,
  secondFirmId,
  startArchive,
  storeInIntake,
  strangerCaller,
  systemCaller,
  type Harness,
} from './archive-harness';
import { PURGE_JOB, runPurge } from '../src/domain/purge';

let h: Harness;
beforeEach(async () => {
  h = await startArchive();
});
afterEach(() => h.close());

const search = (filter: Record<string, unknown>, extra: { pageSize?: number; cursor?: string } = {}) =>
  h.client.searchArchive({ filter: { dossierId, ...filter }, ...extra }, { caller: employeeCaller });
const archived = async (count: number, filter: Record<string, unknown> = { deleted: 'all' }) =>
  eventually(
    () => search(filter, { pageSize: 200 }),
    (answer) => answer.documents.length >= count,
  );

const keyOf = async (objectId: string) =>
  (await h.service.db.query<{ key: string }>('SELECT key FROM archive_object WHERE id = $1', [objectId])).rows[0].key;
const auditOf = async (action: string) =>
  (
    await h.service.db.query<{ actor_id: string; subject_id: string; key: string }>(
      `SELECT actor_id, subject_id, details->>'key' AS key FROM audit_log WHERE action = $1 ORDER BY id`,
      [action],
    )
  ).rows;

/** Where the folder store keeps an archived object: its file, named after the last segment of its key. */
const objectFileOf = (documentId: string, firm = firmId, dossier = dossierId) =>
  path.join(
    h.dataDir,
    'objects',
    'kantoor-archive',
    firm,
    dossier,
    'document-intake',
    `@${createHash('sha256').update(`${documentId}~original`).digest('hex')}.object`,
  );

describe('archive service on the folder store', () => {
  test('archives every stored document with original and PDF, once, however often the event comes', async () => {
    const jpeg = await storeInIntake(h, { name: 'Bonnetje', jpeg: true, issueDate: '2025-03-15' });
    const { documents } = await archived(1);
    expect(documents[0]).toMatchObject({
      documentId: jpeg.documentId,
      name: 'Bonnetje',
      mailbox: 'purchase',
      documentDate: '2025-03-15',
    });
    expect(documents[0].objects.map((object) => [object.role, object.contentType])).toEqual([
      ['original', 'image/jpeg'],
      ['pdf', 'application/pdf'],
    ]);
    expect(documents[0].objects[0].sha256).toBe(jpeg.sha256);
    // 7 years from the end of 2025
    expect(
      documents[0].objects[0].retainUntil &&
        new Date(Number(documents[0].objects[0].retainUntil.seconds) * 1000).toISOString(),
    ).toBe('2033-01-01T00:00:00.000Z');

    await deliver(
      h.transport,
      (await import('@kantoor/proto/kantoor/document_intake/v1/events_pb')).DocumentStoredSchema,
      jpeg.event,
      jpeg.eventId,
    );
    await storeInIntake(h, { name: 'Tweede' });
    const after = await archived(2);
    expect(after.documents.flatMap((doc) => doc.objects)).toHaveLength(3);
    const { rows } = await h.service.db.query('SELECT count(*)::int AS n FROM archive_object');
    expect(rows[0].n).toBe(3);
  });

  test('search filters by mailbox, dates, name, channel and deletion, page by page', async () => {
    const base = Date.UTC(2026, 0, 10);
    const made = [];
    for (let index = 0; index < 7; index++)
      made.push(
        await storeInIntake(h, {
          name: `Factuur ${index}`,
          mailbox: index % 2 ? 'sales' : 'purchase',
          issueDate: `2025-0${index + 1}-01`,
          createdAt: new Date(base + index * 3600_000),
        }),
      );
    await archived(7);
    await deliver(h.transport, DocumentDeletedSchema, {
      firmId,
      dossierId,
      documentId: made[0].documentId,
      actorId: 'x',
      deletedAt: timestampFromDate(new Date()),
    });
    await deliver(h.transport, DocumentMovedSchema, {
      firmId,
      dossierId,
      documentId: made[2].documentId,
      previousMailbox: 'purchase',
      mailbox: 'misc',
      actorId: 'x',
    });
    await eventually(
      () => search({}),
      (answer) => answer.documents.length === 6,
    );

    const names = async (filter: Record<string, unknown>) => (await search(filter)).documents.map((doc) => doc.name);
    expect(await names({})).toEqual(['Factuur 6', 'Factuur 5', 'Factuur 4', 'Factuur 3', 'Factuur 2', 'Factuur 1']);
    expect(await names({ deleted: 'deleted' })).toEqual(['Factuur 0']);
    expect(await names({ mailbox: 'misc' })).toEqual(['Factuur 2']);
    expect(await names({ mailbox: 'sales', documentDateFrom: '2025-03-01', documentDateTo: '2025-05-01' })).toEqual([
      'Factuur 3',
    ]);
    expect(await names({ uploadedFrom: timestampFromDate(new Date(base + 4 * 3600_000)) })).toEqual([
      'Factuur 6',
      'Factuur 5',
      'Factuur 4',
    ]);
    expect(await names({ name: 'UUR 5' })).toEqual(['Factuur 5']);
    expect(await names({ channel: 'scan' })).toEqual([]);

    const pages: string[][] = [];
    let cursor = '';
    do {
      const page = await search({ deleted: 'all' }, { pageSize: 3, cursor });
      pages.push(page.documents.map((doc) => doc.name));
      cursor = page.nextCursor;
    } while (cursor);
    expect(pages).toEqual([
      ['Factuur 6', 'Factuur 5', 'Factuur 4'],
      ['Factuur 3', 'Factuur 2', 'Factuur 1'],
      ['Factuur 0'],
    ]);
    await expect(search({ documentDateFrom: '2025-02-30' })).rejects.toMatchObject({ kind: 'invalid_argument' });
    await expect(search({}, { cursor: 'nonsense' })).rejects.toMatchObject({ kind: 'invalid_argument' });
  });

  test('only assigned staff read a dossier archive, only admins hold or delete, only the platform ingests', async () => {
    await storeInIntake(h, { name: 'Geheim' });
    const { documents } = await archived(1);
    const objectId = documents[0].objects[0].id;
    await expect(h.client.searchArchive({ filter: { dossierId } }, { caller: strangerCaller })).rejects.toMatchObject({
      kind: 'permission_denied',
    });
    await expect(
      h.client.setLegalHold({ dossierId, objectId, hold: true, reason: 'dispute' }, { caller: employeeCaller }),
    ).rejects.toMatchObject({ reason: 'admin_required' });
    await expect(
      h.client.setRetentionPolicy({ policy: { years: 10, counting: 'end_of_year' } }, { caller: employeeCaller }),
    ).rejects.toMatchObject({
      kind: 'permission_denied',
    });
    await expect(h.client.runPurge({}, { caller: employeeCaller })).rejects.toMatchObject({
      reason: 'admin_required',
    });
    await expect(h.client.runVerification({}, { caller: employeeCaller })).rejects.toMatchObject({
      reason: 'admin_required',
    });
    // an admin runs the jobs for their own firm: nothing here is past its date, so nothing goes
    expect((await h.client.runPurge({}, { caller: adminCaller })).purged).toBe(0);
    await expect(
      h.client.ingestObject({ object: { firmId, dossierId } }, { caller: adminCaller }),
    ).rejects.toMatchObject({ reason: 'system_only' });
    // an object id of another dossier is not found through this one
    await expect(
      collect(h.client.downloadObject({ dossierId: otherDossierId, objectId }, { caller: employeeCaller })),
    ).rejects.toMatchObject({ kind: 'not_found' });
  });

  test('nothing overwrites or deletes an object before its date: API, purge job, direct store call', async () => {
    await storeInIntake(h, { name: 'Bewaard', issueDate: '2024-06-30' });
    const { documents } = await archived(1);
    const object = documents[0].objects[0];
    const { rows } = await h.service.db.query<{ key: string }>('SELECT key FROM archive_object WHERE id = $1', [
      object.id,
    ]);
    const key = rows[0].key;

    await expect(
      h.client.deleteObject({ dossierId, objectId: object.id }, { caller: adminCaller }),
    ).rejects.toMatchObject({
      kind: 'failed_precondition',
      reason: 'object_retained',
    });
    expect((await h.client.runPurge({}, { caller: systemCaller })).purged).toBe(0);
    await expect(h.archiveStore.delete(key)).rejects.toMatchObject({ reason: 'object_retained' });
    await expect(h.archiveStore.put(key, Buffer.from('forged'))).rejects.toMatchObject({ reason: 'object_retained' });
    await expect(h.archiveStore.setRetention(key, new Date(Date.now() + 3600_000))).rejects.toMatchObject({
      reason: 'object_retained',
    });
    const download = await collect(
      h.client.downloadObject({ dossierId, objectId: object.id }, { caller: employeeCaller }),
    );
    expect(download.bytes.toString()).toContain('%PDF-1.7 Bewaard');
    expect(download.info).toMatchObject({ fileName: 'Bewaard.pdf', sha256: object.sha256 });
  });

  test('bytes unlike the announced SHA-256 are never archived; a copy whose record was lost is re-checked', async () => {
    const ingest = async (documentId: string, bytes: Buffer, sha256: string) => {
      const stored = await h.intakeStore.put(`documents/${documentId}/original`, bytes);
      const object = {
        firmId,
        dossierId,
        source: 'document-intake',
        documentId,
        role: 'original',
        key: stored.key,
        sha256,
        mailbox: 'purchase',
        type: 'pdf',
        name: documentId,
        documentDate: '2026-03-01',
        contentType: 'application/pdf',
      };
      return h.client.ingestObject({ object }, { caller: systemCaller });
    };
    const archiveKeyOf = (documentId: string) => `${firmId}/${dossierId}/document-intake/${documentId}~original`;
    const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
    const bytes = Buffer.from('%PDF-1.7 de echte factuur');

    // the source changed after the event: refused, and no object (locked or not) is left behind
    await expect(ingest('tampered', Buffer.from('%PDF-1.7 vervalst'), sha256(bytes))).rejects.toMatchObject({
      reason: 'checksum_mismatch',
    });
    expect(await h.archiveStore.stat(archiveKeyOf('tampered'))).toBeNull();
    const answer = await ingest('tampered', bytes, sha256(bytes));
    expect(answer).toMatchObject({ created: true, archived: { sha256: sha256(bytes) } });
    expect((await h.archiveStore.stat(archiveKeyOf('tampered')))?.retainUntil?.toISOString()).toBe(
      '2034-01-01T00:00:00.000Z',
    );
    expect((await ingest('tampered', bytes, sha256(bytes))).created).toBe(false);

    // copied and locked, then the record was lost in a crash: the redelivery accepts the right bytes ...
    const until = new Date('2034-01-01T00:00:00.000Z');
    await h.archiveStore.put(archiveKeyOf('crashed'), bytes, { retainUntil: until });
    expect(await ingest('crashed', bytes, sha256(bytes))).toMatchObject({ created: true });
    // ... and refuses a locked copy of other bytes
    await h.archiveStore.put(archiveKeyOf('forged'), Buffer.from('%PDF anders'), { retainUntil: until });
    await expect(ingest('forged', bytes, sha256(bytes))).rejects.toMatchObject({ reason: 'archived_object_differs' });
    const { rows } = await h.service.db.query<{ document_id: string }>(
      'SELECT document_id FROM archive_object ORDER BY document_id',
    );
    expect(rows.map((row) => row.document_id)).toEqual(['crashed', 'tampered']);
  });

  test('handing over an archived object again with another SHA-256 is refused, naming both, and changes nothing', async () => {
    const first = Buffer.from('%PDF-1.7 factuur 2026-001');
    const other = Buffer.from('%PDF-1.7 factuur 2026-001, gecorrigeerd');
    const hash = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
    const handOver = async (bytes: Buffer, key: string) => {
      await h.intakeStore.put(key, bytes);
      const object = {
        firmId,
        dossierId,
        source: 'document-intake',
        documentId: 'inv-2026-001',
        role: 'invoice-pdf',
        key,
        sha256: hash(bytes),
        mailbox: 'sales',
        type: 'pdf',
        name: 'Factuur 2026-001',
        documentDate: '2026-03-01',
        contentType: 'application/pdf',
      };
      return h.client.ingestObject({ object }, { caller: systemCaller });
    };
    const archivedOnce = await handOver(first, 'invoices/1.pdf');
    expect(archivedOnce.created).toBe(true);
    expect((await handOver(first, 'invoices/1.pdf')).created).toBe(false);

    await expect(handOver(other, 'invoices/1-corrected.pdf')).rejects.toMatchObject({
      kind: 'failed_precondition',
      reason: 'archived_object_differs',
      message: expect.stringMatching(new RegExp(`${hash(first)}.*${hash(other)}`)),
    });
    const { rows } = await h.service.db.query<{ sha256: string; source_key: string }>(
      'SELECT sha256, source_key FROM archive_object',
    );
    expect(rows).toEqual([{ sha256: hash(first), source_key: 'invoices/1.pdf' }]);
    const download = await collect(
      h.client.downloadObject({ dossierId, objectId: archivedOnce.archived!.id }, { caller: employeeCaller }),
    );
    expect(download.bytes).toEqual(first);
  });

  test('purge deletes what retention released, spares legal holds, and keeps its record', async () => {
    // a firm keeping 1 year from the document date: documents of 2020 are past their date at once
    await h.client.setRetentionPolicy({ policy: { years: 1, counting: 'document_date' } }, { caller: adminCaller });
    const old = await storeInIntake(h, { name: 'Oud', issueDate: '2020-02-29' });
    const held = await storeInIntake(h, { name: 'Betwist', issueDate: '2020-01-01' });
    const { documents } = await archived(2);
    const heldObject = documents.find((doc) => doc.documentId === held.documentId)!.objects[0];
    expect(
      new Date(
        Number(documents.find((doc) => doc.documentId === old.documentId)!.objects[0].retainUntil!.seconds) * 1000,
      ).toISOString(),
    ).toBe('2021-02-28T00:00:00.000Z');
    await h.client.setLegalHold(
      { dossierId, objectId: heldObject.id, hold: true, reason: 'rechtszaak' },
      { caller: adminCaller },
    );
    await expect(
      h.client.deleteObject({ dossierId, objectId: heldObject.id }, { caller: adminCaller }),
    ).rejects.toMatchObject({ reason: 'object_retained' });

    const purge = await h.client.runPurge({}, { caller: systemCaller });
    expect(purge.records.map((record) => record.documentId)).toEqual([old.documentId]);
    expect(purge.records[0].rule).toContain('retention 1 years from the document date 2020-02-29');
    // the bytes are gone from the store, the held object's are not; the audit log names who purged
    expect(await h.archiveStore.stat(purge.records[0].key)).toBeNull();
    await expect(stat(objectFileOf(old.documentId))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await h.archiveStore.stat(await keyOf(heldObject.id))).not.toBeNull();
    expect(await auditOf('archive_object.purged')).toEqual([
      { actor_id: 'system:invoicing', subject_id: purge.records[0].objectId, key: purge.records[0].key },
    ]);
    const records = await h.client.listPurgeRecords({ dossierId }, { caller: employeeCaller });
    expect(records.records).toHaveLength(1);
    const after = await search({ deleted: 'all' });
    expect(after.documents.find((doc) => doc.documentId === old.documentId)!.objects[0].status).toBe('purged');

    // a dossier hold keeps everything of the dossier, also what was only held on its own before
    await h.client.setLegalHold({ dossierId, hold: true, reason: 'onderzoek' }, { caller: adminCaller });
    await h.client.setLegalHold(
      { dossierId, objectId: heldObject.id, hold: false, reason: 'geregeld' },
      { caller: adminCaller },
    );
    expect((await h.client.runPurge({}, { caller: systemCaller })).purged).toBe(0);
    await h.client.setLegalHold({ dossierId, hold: false, reason: 'klaar' }, { caller: adminCaller });
    expect((await h.client.runPurge({}, { caller: systemCaller })).purged).toBe(1);
  });

  test('DeleteObject after the date removes the object, leaves a purge record and an audit row naming the admin', async () => {
    await h.client.setRetentionPolicy({ policy: { years: 1, counting: 'document_date' } }, { caller: adminCaller });
    const old = await storeInIntake(h, { name: 'Verlopen', issueDate: '2020-06-30' });
    const { documents } = await archived(1);
    const objectId = documents[0].objects[0].id;
    const key = await keyOf(objectId);

    const answer = await h.client.deleteObject({ dossierId, objectId }, { caller: adminCaller });
    expect(answer.object).toMatchObject({ id: objectId, status: 'purged' });
    expect(await h.archiveStore.stat(key)).toBeNull();
    const { records } = await h.client.listPurgeRecords({ dossierId }, { caller: employeeCaller });
    expect(records).toEqual([
      expect.objectContaining({
        objectId,
        documentId: old.documentId,
        key,
        sha256: old.sha256,
        rule: 'deleted on request of staff:admin-1 after retention 1 years from the document date 2020-06-30 ended',
      }),
    ]);
    expect(await auditOf('archive_object.purged')).toEqual([{ actor_id: 'staff:admin-1', subject_id: objectId, key }]);
    // once is enough: a second request is refused and adds nothing
    await expect(h.client.deleteObject({ dossierId, objectId }, { caller: adminCaller })).rejects.toMatchObject({
      kind: 'failed_precondition',
      reason: 'already_purged',
    });
    expect((await h.client.listPurgeRecords({ dossierId }, { caller: employeeCaller })).records).toHaveLength(1);
  });

  test('the purge job leaves an object held while it runs and goes on with the others', async () => {
    await h.client.setRetentionPolicy({ policy: { years: 1, counting: 'document_date' } }, { caller: adminCaller });
    for (const name of ['Eerste', 'Tweede', 'Derde']) await storeInIntake(h, { name, issueDate: '2019-01-01' });
    await archived(3);
    const { rows } = await h.service.db.query<{ id: string; key: string }>(
      'SELECT id::text AS id, key FROM archive_object ORDER BY id',
    );
    // an admin holds the second object right after the job read its batch, while it deletes the first
    const store = new Proxy(h.archiveStore, {
      get(target, property) {
        const value = Reflect.get(target, property, target) as (...args: unknown[]) => unknown;
        if (property !== 'delete') return typeof value === 'function' ? value.bind(target) : value;
        return async (key: string) => {
          if (key === rows[0].key)
            await h.client.setLegalHold(
              { dossierId, objectId: rows[1].id, hold: true, reason: 'beslag' },
              { caller: adminCaller },
            );
          return target.delete(key);
        };
      },
    });
    const records = await runPurge(h.service.db, store, PURGE_JOB);
    expect(records.map((record) => record.object_id)).toEqual([rows[0].id, rows[2].id]);
    expect(await h.archiveStore.stat(rows[1].key)).not.toBeNull();
    const held = await search({ deleted: 'all' });
    const statuses = held.documents.flatMap((doc) => doc.objects.map((object) => [object.id, object.status]));
    expect(statuses.sort()).toEqual(
      [
        [rows[0].id, 'purged'],
        [rows[1].id, 'archived'],
        [rows[2].id, 'purged'],
      ].sort(),
    );
    expect((await auditOf('archive_object.purged')).map((row) => row.actor_id)).toEqual([
      'system:archive-purge',
      'system:archive-purge',
    ]);
  });

  test("verification reports bytes changed or removed behind the service's back", async () => {
    const changed = await storeInIntake(h, { name: 'Gewijzigd' });
    const removed = await storeInIntake(h, { name: 'Verdwenen' });
    await storeInIntake(h, { name: 'Intact' });
    await archived(3);
    const clean = await h.client.runVerification({ sample: 0 }, { caller: systemCaller });
    expect(clean.run).toMatchObject({ checked: 3, findings: [] });

    // the first bytes of the document overwritten in place, its description left as it was
    const file = await readFile(objectFileOf(changed.documentId));
    await writeFile(objectFileOf(changed.documentId), Buffer.concat([Buffer.from('tampered'), file.subarray(8)]));
    await rm(objectFileOf(removed.documentId));
    const run = (await h.client.runVerification({ sample: 0 }, { caller: systemCaller })).run!;
    expect(run.checked).toBe(3);
    expect(run.findings.map((finding) => [finding.key.split('/')[3].split('~')[0], finding.problem]).sort()).toEqual(
      [
        [changed.documentId, 'mismatch'],
        [removed.documentId, 'missing'],
      ].sort(),
    );
    const sampled = (await h.client.runVerification({ sample: 1 }, { caller: systemCaller })).run!;
    expect(sampled.checked).toBe(1);
    const listed = await h.client.listVerificationRuns({ limit: 5 }, { caller: adminCaller });
    expect(listed.runs.map((listedRun) => listedRun.findings.length)).toEqual([sampled.findings.length, 2, 0]);
    expect(listed.runs.map((listedRun) => listedRun.findingCount)).toEqual([sampled.findings.length, 2, 0]);
  });

  test('a run with more than 1,000 findings shows the first 1,000 and says how many there are', async () => {
    const kept = await storeInIntake(h, { name: 'Bewaard' });
    await archived(1);
    // as after a storage outage: 1,500 objects whose bytes are gone (copies of one, with keys nothing is at)
    await h.service.db.query(
      `INSERT INTO archive_object (source, document_id, firm_id, dossier_id, role, key, source_key, sha256, size,
                                   content_type, retain_until, retention_rule)
       SELECT source, document_id, firm_id, dossier_id, 'lost-' || n, key || '~lost-' || n, source_key, sha256, size,
              content_type, retain_until, retention_rule
         FROM archive_object, generate_series(1, 1500) AS n WHERE document_id = $1 AND role = 'original'`,
      [kept.documentId],
    );
    const run = (await h.client.runVerification({ sample: 0 }, { caller: systemCaller })).run!;
    expect([run.checked, run.findingCount, run.findings.length]).toEqual([1501, 1500, 1000]);
    const [listed] = (await h.client.listVerificationRuns({ pageSize: 1 }, { caller: adminCaller })).runs;
    expect([listed.findingCount, listed.findings.length]).toEqual([1500, 1000]);
    expect(listed.findings.every((finding) => finding.problem === 'missing')).toBe(true);
  });

  test("a firm's admin sees its own verification runs and its share of the platform's, never another firm's", async () => {
    await storeInIntake(h, { name: 'Van kantoor A' });
    const ofB = await storeInIntake(h, { name: 'Van kantoor B', firm: secondFirmId, dossier: secondFirmDossierId });
    await storeInIntake(h, { name: 'Ook van B', firm: secondFirmId, dossier: secondFirmDossierId });
    await eventually(
      async () => (await h.service.db.query('SELECT 1 FROM archive_object')).rows.length,
      (count) => count === 3,
    );
    await rm(objectFileOf(ofB.documentId, secondFirmId, secondFirmDossierId));

    const runOfA = (await h.client.runVerification({ sample: 0 }, { caller: adminCaller })).run!;
    const runOfB = (await h.client.runVerification({ sample: 0 }, { caller: secondFirmAdmin })).run!;
    const platformRun = (await h.client.runVerification({ sample: 0 }, { caller: systemCaller })).run!;
    expect([runOfA.checked, runOfB.checked, platformRun.checked]).toEqual([1, 2, 3]);

    const seenBy = async (caller: typeof adminCaller) =>
      (await h.client.listVerificationRuns({ limit: 10 }, { caller })).runs.map((run) => ({
        id: run.id,
        checked: run.checked,
        missing: run.findings.map((finding) => finding.dossierId),
      }));
    expect(await seenBy(adminCaller)).toEqual([
      { id: platformRun.id, checked: 1, missing: [] },
      { id: runOfA.id, checked: 1, missing: [] },
    ]);
    expect(await seenBy(secondFirmAdmin)).toEqual([
      { id: platformRun.id, checked: 2, missing: [secondFirmDossierId] },
      { id: runOfB.id, checked: 2, missing: [secondFirmDossierId] },
    ]);
    expect(await seenBy(systemCaller)).toEqual([
      { id: platformRun.id, checked: 3, missing: [secondFirmDossierId] },
      { id: runOfB.id, checked: 2, missing: [secondFirmDossierId] },
      { id: runOfA.id, checked: 1, missing: [] },
    ]);
    await expect(h.client.listVerificationRuns({ limit: 10 }, { caller: employeeCaller })).rejects.toMatchObject({
      reason: 'admin_required',
    });
  });

  test('a dossier archive ZIP of live and deleted documents matches its manifest, checked by a separate script', async () => {
    const live = await storeInIntake(h, { name: 'Factuur: mei?', jpeg: true });
    await storeInIntake(h, { name: 'factuur: MEI?', mailbox: 'sales' });
    await storeInIntake(h, { name: 'e-factuur', type: 'ubl', bytes: Buffer.from('<Invoice/>'), mailbox: 'sales' });
    const gone = await storeInIntake(h, { name: 'Weg', mailbox: 'misc' });
    await archived(4);
    await deliver(h.transport, DocumentDeletedSchema, { firmId, dossierId, documentId: gone.documentId, actorId: 'x' });
    await eventually(
      () => search({ deleted: 'deleted' }),
      (answer) => answer.documents.length === 1,
    );

    const zip = await collect(h.client.downloadDossierArchive({ dossierId }, { caller: employeeCaller }));
    const zipPath = path.join(h.dataDir, 'dossier.zip');
    await writeFile(zipPath, zip.bytes);
    const report = JSON.parse(
      execFileSync('node', [path.join(__dirname, '../../../tools/verify-archive-zip.js'), zipPath]).toString(),
    );
    expect(report).toMatchObject({ ok: true, checked: 5, problems: [] });
    expect(report.paths.sort()).toEqual(
      [
        'Aankoop-origineel/Factuur_ mei_.jpg',
        'Aankoop-pdf/Factuur_ mei_.pdf',
        'Verkoop-pdf/factuur_ MEI_.pdf',
        'Verkoop-ubl/e-factuur.xml',
        'Verwijderd/Diverse-pdf/Weg.pdf',
      ].sort(),
    );
    expect(report.statuses).toEqual({ live: 4, deleted: 1 });

    const selection = await collect(h.client.downloadSelection({ filter: { dossierId } }, { caller: employeeCaller }));
    await writeFile(zipPath, selection.bytes);
    const listing = execFileSync('unzip', ['-Z1', zipPath]).toString().trim().split('\n');
    expect(listing).toEqual([
      'Aankoop-pdf/Factuur_ mei_.pdf',
      'Verkoop-pdf/factuur_ MEI_.pdf',
      'Verkoop-ubl/e-factuur.xml',
    ]);
    expect(live.documentId).toBeTruthy();
  });
});

const sha256Of = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const unzipList = (zipPath: string) => execFileSync('unzip', ['-Z1', zipPath]).toString().trim().split('\n');
const unzipFile = (zipPath: string, name: string) => execFileSync('unzip', ['-p', zipPath, name]);

/** manifest.csv as rows of cells (quoted cells may hold commas and doubled quotes, never line breaks here) */
function parseCsv(text: string): string[][] {
  return text
    .split('\r\n')
    .filter(Boolean)
    .map((line) => {
      const cells: string[] = [];
      for (let at = 0; at <= line.length;) {
        if (line[at] === '"') {
          let cell = '';
          for (at++; ; at++) {
            if (line[at] === '"' && line[at + 1] === '"') cell += line[at++];
            else if (line[at] === '"') break;
            else cell += line[at];
          }
          cells.push(cell);
          at += 2;
        } else {
          const end = line.indexOf(',', at) === -1 ? line.length : line.indexOf(',', at);
          cells.push(line.slice(at, end));
          at = end + 1;
        }
      }
      return cells;
    });
}

describe('archive service: what intake sends, and what comes out', () => {
  test('split and merge results are archived with their sources, which record what replaced them; a rename follows', async () => {
    const scan = await storeInIntake(h, { name: 'Scan stapel', channel: 'scan' });
    await archived(1);
    const first = await storeInIntake(h, { name: 'Deel 1', channel: 'split', sourceDocumentIds: [scan.documentId] });
    const second = await storeInIntake(h, { name: 'Deel 2', channel: 'split', sourceDocumentIds: [scan.documentId] });
    await deliver(h.transport, DocumentSplitSchema, {
      firmId,
      dossierId,
      documentId: scan.documentId,
      resultDocumentIds: [first.documentId, second.documentId],
      actorId: 'x',
    });
    const merged = await storeInIntake(h, {
      name: 'Samengevoegd',
      channel: 'merge',
      sourceDocumentIds: [first.documentId, second.documentId],
    });
    await deliver(h.transport, DocumentsMergedSchema, {
      firmId,
      dossierId,
      sourceDocumentIds: [first.documentId, second.documentId],
      resultDocumentId: merged.documentId,
      actorId: 'x',
    });
    await deliver(h.transport, DocumentRenamedSchema, {
      firmId,
      dossierId,
      documentId: merged.documentId,
      previousName: 'Samengevoegd',
      name: 'Factuur april',
      actorId: 'x',
    });
    const { documents } = await eventually(
      () => search({ deleted: 'all' }),
      (answer) => answer.documents.some((doc) => doc.name === 'Factuur april'),
    );
    const shown = Object.fromEntries(
      documents.map((doc) => [doc.documentId, [doc.name, doc.channel, doc.sourceDocumentIds, doc.objects[0].sha256]]),
    );
    expect(shown).toEqual({
      [scan.documentId]: ['Scan stapel', 'scan', [], scan.sha256],
      [first.documentId]: ['Deel 1', 'split', [scan.documentId], first.sha256],
      [second.documentId]: ['Deel 2', 'split', [scan.documentId], second.sha256],
      [merged.documentId]: ['Factuur april', 'merge', [first.documentId, second.documentId], merged.sha256],
    });
    const { rows } = await h.service.db.query<{ document_id: string; replaced_by: string[] }>(
      'SELECT document_id, replaced_by FROM archive_document',
    );
    const replacedBy = Object.fromEntries(rows.map((row) => [row.document_id, [...row.replaced_by].sort()]));
    expect(replacedBy).toEqual({
      [scan.documentId]: [first.documentId, second.documentId].sort(),
      [first.documentId]: [merged.documentId],
      [second.documentId]: [merged.documentId],
      [merged.documentId]: [],
    });
  });

  test('a merge of documents not archived is retried and then dead-lettered, never dropped', async () => {
    const fast = await startArchive(undefined, { ARCHIVE_EVENT_RETRY_ATTEMPTS: 2, ARCHIVE_EVENT_RETRY_FIRST_MS: 10 });
    try {
      await deliver(fast.transport, DocumentsMergedSchema, {
        firmId,
        dossierId,
        sourceDocumentIds: ['nooit-1', 'nooit-2'],
        resultDocumentId: 'samen',
        actorId: 'x',
      });
      const letters = await eventually(
        () => listDeadLetters(fast.service.db, 'archive'),
        (found) => found.length === 1,
      );
      expect(letters[0]).toMatchObject({
        type: 'kantoor.document_intake.v1.DocumentsMerged',
        attempts: 2,
        error: 'Documents nooit-1, nooit-2 are not archived yet.',
      });
    } finally {
      await fast.close();
    }
  });

  test('a scan is archived with each page it was built from, downloadable and beside its PDF in the dossier ZIP', async () => {
    const pages = [Buffer.from('\xff\xd8\xff pagina een'), Buffer.from('\xff\xd8\xff pagina twee')];
    const scan = await storeInIntake(h, { name: 'Scan 3 mei', channel: 'scan', pages });
    const { documents } = await archived(1);
    const objects = documents[0].objects;
    expect(objects.map((object) => [object.role, object.contentType, object.sha256, Number(object.size)])).toEqual([
      ['original', 'application/pdf', scan.sha256, Number(scan.event.original.size)],
      ['page-1', 'image/jpeg', sha256Of(pages[0]), pages[0].length],
      ['page-2', 'image/jpeg', sha256Of(pages[1]), pages[1].length],
    ]);
    const page2 = await collect(
      h.client.downloadObject({ dossierId, objectId: objects[2].id }, { caller: employeeCaller }),
    );
    expect(page2.bytes).toEqual(pages[1]);
    expect(page2.info).toMatchObject({ fileName: 'Scan 3 mei.jpg', contentType: 'image/jpeg' });

    const zipPath = path.join(h.dataDir, 'scan.zip');
    await writeFile(
      zipPath,
      (await collect(h.client.downloadDossierArchive({ dossierId }, { caller: employeeCaller }))).bytes,
    );
    expect(unzipList(zipPath).sort()).toEqual(
      [
        'Aankoop-pdf/Scan 3 mei.pdf',
        'Aankoop-origineel/Scan 3 mei page-1.jpg',
        'Aankoop-origineel/Scan 3 mei page-2.jpg',
        'manifest.json',
        'manifest.csv',
      ].sort(),
    );
    expect(unzipFile(zipPath, 'Aankoop-origineel/Scan 3 mei page-1.jpg')).toEqual(pages[0]);
  });

  test('a legal hold refuses even a direct store deletion of an object whose date has passed', async () => {
    await h.client.setRetentionPolicy({ policy: { years: 1, counting: 'document_date' } }, { caller: adminCaller });
    await storeInIntake(h, { name: 'Beslag', issueDate: '2020-01-15' });
    const { documents } = await archived(1);
    const objectId = documents[0].objects[0].id;
    const key = await keyOf(objectId);
    // retained until 15 January 2021: past already, so the store holds it without a lock of its own
    expect(new Date(Number(documents[0].objects[0].retainUntil!.seconds) * 1000).toISOString()).toBe(
      '2021-01-15T00:00:00.000Z',
    );
    expect(await h.archiveStore.stat(key)).toMatchObject({ retainUntil: null, legalHold: false });
    await h.client.setLegalHold({ dossierId, objectId, hold: true, reason: 'beslag' }, { caller: adminCaller });

    await expect(h.archiveStore.delete(key)).rejects.toMatchObject({
      kind: 'failed_precondition',
      reason: 'object_retained',
      message: expect.stringContaining('legal hold'),
    });
    expect(await h.archiveStore.stat(key)).toMatchObject({ legalHold: true });
    // released, the date alone no longer keeps it
    await h.client.setLegalHold({ dossierId, objectId, hold: false, reason: 'opgeheven' }, { caller: adminCaller });
    await h.archiveStore.delete(key);
    expect(await h.archiveStore.stat(key)).toBeNull();
  });

  test('a dossier hold also holds an object archived after it was set, in the store and for the purge', async () => {
    await h.client.setRetentionPolicy({ policy: { years: 1, counting: 'document_date' } }, { caller: adminCaller });
    await h.client.setLegalHold({ dossierId, hold: true, reason: 'fiscaal onderzoek' }, { caller: adminCaller });
    await storeInIntake(h, { name: 'Later gearchiveerd', issueDate: '2020-01-15' });
    const { documents } = await archived(1);
    const objectId = documents[0].objects[0].id;
    const key = await keyOf(objectId);

    expect(await h.archiveStore.stat(key)).toMatchObject({ legalHold: true });
    await expect(h.archiveStore.delete(key)).rejects.toMatchObject({ reason: 'object_retained' });
    expect((await h.client.runPurge({}, { caller: systemCaller })).purged).toBe(0);
    await expect(h.client.deleteObject({ dossierId, objectId }, { caller: adminCaller })).rejects.toMatchObject({
      reason: 'object_retained',
    });

    await h.client.setLegalHold({ dossierId, hold: false, reason: 'afgerond' }, { caller: adminCaller });
    expect(await h.archiveStore.stat(key)).toMatchObject({ legalHold: false });
    expect((await h.client.runPurge({}, { caller: systemCaller })).purged).toBe(1);
  });

  test("a deactivated dossier's complete archive downloads with its manifest; other staff are refused", async () => {
    const kept = await storeInIntake(h, { name: 'Oud dossier', dossier: otherDossierId });
    await eventually(
      () => h.client.searchArchive({ filter: { dossierId: otherDossierId } }, { caller: employeeCaller }),
      (answer) => answer.documents.length === 1,
    );
    const zip = await collect(
      h.client.downloadDossierArchive({ dossierId: otherDossierId }, { caller: employeeCaller }),
    );
    expect(zip.info).toMatchObject({ fileName: `archief-${otherDossierId}.zip`, contentType: 'application/zip' });
    const zipPath = path.join(h.dataDir, 'deactivated.zip');
    await writeFile(zipPath, zip.bytes);
    const report = JSON.parse(
      execFileSync('node', [path.join(__dirname, '../../../tools/verify-archive-zip.js'), zipPath]).toString(),
    );
    expect(report).toMatchObject({ ok: true, checked: 1, problems: [], paths: ['Aankoop-pdf/Oud dossier.pdf'] });
    expect(sha256Of(unzipFile(zipPath, 'Aankoop-pdf/Oud dossier.pdf'))).toBe(kept.sha256);
    await expect(
      collect(h.client.downloadDossierArchive({ dossierId: otherDossierId }, { caller: strangerCaller })),
    ).rejects.toMatchObject({ kind: 'permission_denied' });
  });

  test('a selection ZIP names two same-named documents of one folder apart, each with its own bytes', async () => {
    const older = Buffer.from('%PDF-1.7 de eerste factuur');
    const newer = Buffer.from('%PDF-1.7 de tweede factuur');
    await storeInIntake(h, { name: 'Factuur', bytes: older, createdAt: new Date('2026-04-01T08:00:00Z') });
    await storeInIntake(h, { name: 'factuur', bytes: newer, createdAt: new Date('2026-04-02T08:00:00Z') });
    await archived(2);
    const zipPath = path.join(h.dataDir, 'selection.zip');
    await writeFile(
      zipPath,
      (await collect(h.client.downloadSelection({ filter: { dossierId } }, { caller: employeeCaller }))).bytes,
    );
    // newest upload first; names compared as Windows and macOS do, ignoring case
    expect(unzipList(zipPath)).toEqual(['Aankoop-pdf/factuur.pdf', 'Aankoop-pdf/Factuur (2).pdf']);
    expect(unzipFile(zipPath, 'Aankoop-pdf/factuur.pdf')).toEqual(newer);
    expect(unzipFile(zipPath, 'Aankoop-pdf/Factuur (2).pdf')).toEqual(older);
  });

  test('the manifest CSV lists every object with its path, ids, checksum, size, dates and status', async () => {
    await h.client.setRetentionPolicy({ policy: { years: 1, counting: 'document_date' } }, { caller: adminCaller });
    const jpeg = Buffer.from('\xff\xd8\xff bon');
    const bon = await storeInIntake(h, {
      name: 'Bon 1',
      jpeg: true,
      bytes: jpeg,
      issueDate: '2026-03-15',
      createdAt: new Date('2026-03-16T10:00:00.000Z'),
    });
    const formula = await storeInIntake(h, {
      name: '=HYPERLINK("x")',
      mailbox: 'sales',
      issueDate: '2026-01-02',
      createdAt: new Date('2026-03-17T10:00:00.000Z'),
    });
    const gone = await storeInIntake(h, {
      name: 'Weg',
      mailbox: 'misc',
      issueDate: '2026-02-01',
      createdAt: new Date('2026-03-18T10:00:00.000Z'),
    });
    const purged = await storeInIntake(h, {
      name: 'Oud',
      issueDate: '2020-05-05',
      createdAt: new Date('2026-03-19T10:00:00.000Z'),
    });
    await archived(4);
    await deliver(h.transport, DocumentDeletedSchema, {
      firmId,
      dossierId,
      documentId: gone.documentId,
      actorId: 'x',
      deletedAt: timestampFromDate(new Date('2026-03-20T09:00:00.000Z')),
    });
    await eventually(
      () => search({ deleted: 'deleted' }),
      (answer) => answer.documents.length === 1,
    );
    const ids = Object.fromEntries(
      (await search({ deleted: 'all' })).documents.flatMap((doc) =>
        doc.objects.map((object) => [`${doc.name} ${object.role}`, object.id]),
      ),
    );
    await h.client.deleteObject({ dossierId, objectId: ids['Oud original'] }, { caller: adminCaller });

    const zipPath = path.join(h.dataDir, 'manifest.zip');
    await writeFile(
      zipPath,
      (await collect(h.client.downloadDossierArchive({ dossierId }, { caller: employeeCaller }))).bytes,
    );
    const csv = unzipFile(zipPath, 'manifest.csv').toString();
    const pdfOfBon = Buffer.concat([Buffer.from('%PDF '), jpeg]);
    const formulaBytes = Buffer.from(`%PDF-1.7 =HYPERLINK("x") ${formula.documentId}`);
    const purgedBytes = Buffer.from(`%PDF-1.7 Oud ${purged.documentId}`);
    const goneBytes = Buffer.from(`%PDF-1.7 Weg ${gone.documentId}`);
    const row = (
      file: string,
      objectId: string,
      documentId: string,
      role: string,
      name: string,
      mailbox: string,
      bytes: Buffer,
      dates: [string, string, string, string],
      status: string,
    ) => [
      file,
      objectId,
      documentId,
      'document-intake',
      role,
      name,
      mailbox,
      'upload',
      sha256Of(bytes),
      String(bytes.length),
      ...dates,
      status,
    ];
    expect(parseCsv(csv)).toEqual([
      'path,objectId,documentId,source,role,name,mailbox,channel,sha256,size,documentDate,uploadedAt,deletedAt,retainUntil,status'.split(
        ',',
      ),
      row(
        '',
        ids['Oud original'],
        purged.documentId,
        'original',
        'Oud',
        'purchase',
        purgedBytes,
        ['2020-05-05', '2026-03-19T10:00:00.000Z', '', '2021-05-05T00:00:00.000Z'],
        'purged',
      ),
      row(
        'Verwijderd/Diverse-pdf/Weg.pdf',
        ids['Weg original'],
        gone.documentId,
        'original',
        'Weg',
        'misc',
        goneBytes,
        ['2026-02-01', '2026-03-18T10:00:00.000Z', '2026-03-20T09:00:00.000Z', '2027-02-01T00:00:00.000Z'],
        'deleted',
      ),
      // a name starting with = would be a formula in a spreadsheet: it is quoted with a leading apostrophe
      row(
        'Verkoop-pdf/=HYPERLINK(_x_).pdf',
        ids['=HYPERLINK("x") original'],
        formula.documentId,
        'original',
        `'=HYPERLINK("x")`,
        'sales',
        formulaBytes,
        ['2026-01-02', '2026-03-17T10:00:00.000Z', '', '2027-01-02T00:00:00.000Z'],
        'live',
      ),
      row(
        'Aankoop-origineel/Bon 1.jpg',
        ids['Bon 1 original'],
        bon.documentId,
        'original',
        'Bon 1',
        'purchase',
        jpeg,
        ['2026-03-15', '2026-03-16T10:00:00.000Z', '', '2027-03-15T00:00:00.000Z'],
        'live',
      ),
      row(
        'Aankoop-pdf/Bon 1.pdf',
        ids['Bon 1 pdf'],
        bon.documentId,
        'pdf',
        'Bon 1',
        'purchase',
        pdfOfBon,
        ['2026-03-15', '2026-03-16T10:00:00.000Z', '', '2027-03-15T00:00:00.000Z'],
        'live',
      ),
    ]);
    expect(csv).toContain(`,"'=HYPERLINK(""x"")",`);
    // the files themselves: each path holds the bytes its row describes
    expect(unzipFile(zipPath, 'Aankoop-origineel/Bon 1.jpg')).toEqual(jpeg);
    expect(unzipFile(zipPath, 'Verwijderd/Diverse-pdf/Weg.pdf')).toEqual(goneBytes);
  });
});
