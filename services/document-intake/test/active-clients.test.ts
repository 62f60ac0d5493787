/** The active clients monitor's filters at the RPC: they limit the list, never the counts of a dossier shown. */
import { PDFDocument } from 'pdf-lib';
import { startIntake, type IntakeHarness } from './intake-harness';

let h: IntakeHarness;
beforeAll(async () => {
  h = await startIntake();
  const pdf = Buffer.from(await (await PDFDocument.create()).addPage([200, 200]).doc.save());
  const store = async (dossierId: string, mailbox: string) => {
    const { document } = await h.client.uploadDocument(
      (async function* () {
        yield { part: { case: 'header' as const, value: { dossierId, mailbox, fileName: 'factuur.pdf' } } };
        yield { part: { case: 'chunk' as const, value: pdf } };
        yield { part: { case: 'end' as const, value: true } };
      })(),
      { caller: dossierId === h.dossierId ? h.portal : h.admin },
    );
    return document!.id;
  };
  // the client's dossier: one purchase document sent (waiting), one sales draft; the other: a misc draft
  const sent = await store(h.dossierId, 'purchase');
  await h.client.sendDocuments({ documentIds: [sent] }, { caller: h.portal });
  await store(h.dossierId, 'sales');
  await store(h.otherDossierId, 'misc');
}, 60_000);
afterAll(() => h?.stop());

const listed = async (filter: { mailbox?: string; onlyWaiting?: boolean }) =>
  (
    await h.client.listActiveClients({ dossierIds: [h.dossierId, h.otherDossierId], ...filter }, { caller: h.admin })
  ).clients.map((client) => client.dossierId);

test('by mailbox: only dossiers with documents there, whatever their state', async () => {
  expect((await listed({})).sort()).toEqual([h.dossierId, h.otherDossierId].sort());
  expect(await listed({ mailbox: 'sales' })).toEqual([h.dossierId]);
  expect(await listed({ mailbox: 'misc' })).toEqual([h.otherDossierId]);
  expect(await listed({ mailbox: 'unsorted' })).toEqual([]);
});

test('only waiting: dossiers with sent documents to process, in the mailbox when given; rows keep all counts', async () => {
  expect(await listed({ onlyWaiting: true })).toEqual([h.dossierId]);
  expect(await listed({ mailbox: 'sales', onlyWaiting: true })).toEqual([]);
  const { clients } = await h.client.listActiveClients(
    { dossierIds: [h.dossierId, h.otherDossierId], mailbox: 'purchase', onlyWaiting: true },
    { caller: h.admin },
  );
  expect(clients).toHaveLength(1);
  expect(clients[0].mailboxes).toEqual([
    expect.objectContaining({ mailbox: 'purchase', notSent: 0, waiting: 1 }),
    expect.objectContaining({ mailbox: 'sales', notSent: 1, waiting: 0 }),
    expect.objectContaining({ mailbox: 'misc', notSent: 0, waiting: 0 }),
  ]);
});

test('an unknown mailbox is refused', async () => {
  await expect(listed({ mailbox: 'attic' })).rejects.toMatchObject({ reason: 'invalid_mailbox' });
});
