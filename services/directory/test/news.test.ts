import type { Caller } from '@kantoor/grpc';
import { as, belgianNumber, directoryForTests, PASSWORD, TERMS } from './directory-fixture';

const fx = directoryForTests();
let seed = 5000;

/** an active dossier of the firm with a portal user who activated, accepted the terms and chose a password */
async function clientOf(admin: Caller): Promise<{ client: Caller; dossierId: string }> {
  const { dossier } = await fx.directory.createDossier(
    { name: `Garage ${seed}`, country: 'BE', enterpriseNumber: belgianNumber(seed++), language: 'nl' },
    as(admin),
  );
  await fx.directory.activateDossier({ dossierId: dossier!.id, fileManagerId: admin.subjectId }, as(admin));
  const email = `news-client-${seed++}@client.example`;
  const { portalUser } = await fx.directory.addPortalUser({ dossierId: dossier!.id, email, name: 'Klant' }, as(admin));
  const added = (await fx.events<{ portalUserId: string; activationToken: string }>('PortalUserAdded')).find(
    (event) => event.portalUserId === portalUser!.id,
  )!;
  const { generatedPassword } = await fx.directory.activatePortalUser(
    { token: added.activationToken, password: '' },
    as(fx.operator),
  );
  const client: Caller = { kind: 'portal_user', subjectId: portalUser!.id, firmId: admin.firmId, scopes: [] };
  await fx.directory.acceptTerms({ version: TERMS }, as(client));
  await fx.directory.changePassword({ currentPassword: generatedPassword, newPassword: PASSWORD }, as(client));
  return { client, dossierId: dossier!.id };
}

const titles = async (caller: Caller) =>
  (await fx.directory.listNewsItems({}, as(caller))).items.map((item) => item.title);

describe('news in the client portal', () => {
  test("the firm's clients read what staff publish, newest first, with who published it and when", async () => {
    const admin = await fx.registerFirm();
    const employee = await fx.activeStaff(admin, 'employee', 'Els Employee');
    const { client } = await clientOf(admin);
    const before = Date.now();
    await fx.directory.publishNewsItem(
      { title: 'Nieuwe btw-tarieven', body: 'Vanaf 1 januari gelden nieuwe tarieven.' },
      as(admin),
    );
    const { item } = await fx.directory.publishNewsItem(
      { title: '  Scannen met je gsm  ', body: 'Zo gaat het:\n\n1. Open de app.\n2. Scan.' },
      as(employee),
    );
    expect(item).toMatchObject({
      title: 'Scannen met je gsm',
      body: 'Zo gaat het:\n\n1. Open de app.\n2. Scan.',
      publishedByName: 'Els Employee',
    });
    expect(Number(item!.publishedAt!.seconds) * 1000).toBeGreaterThanOrEqual(before - 1000);
    expect(item!.withdrawnAt).toBeUndefined();
    expect(await titles(client)).toEqual(['Scannen met je gsm', 'Nieuwe btw-tarieven']);
    // every change records who made it
    const { rows } = await fx.service.db.query<{ actor_id: string }>(
      `SELECT actor_id FROM audit_log WHERE action = 'news.published' AND subject_id = $1`,
      [item!.id],
    );
    expect(rows).toEqual([{ actor_id: employee.subjectId }]);
  });

  test('a withdrawn item leaves the portal; staff still see it, marked withdrawn; withdrawing again changes nothing', async () => {
    const admin = await fx.registerFirm();
    const { client } = await clientOf(admin);
    const { item: kept } = await fx.directory.publishNewsItem({ title: 'Blijft', body: 'Tekst' }, as(admin));
    const { item: gone } = await fx.directory.publishNewsItem({ title: 'Vergissing', body: 'Tekst' }, as(admin));
    const { item: withdrawn } = await fx.directory.withdrawNewsItem({ id: gone!.id }, as(admin));
    expect(withdrawn!.withdrawnAt).toBeDefined();
    expect(await titles(client)).toEqual(['Blijft']);
    const staffView = (await fx.directory.listNewsItems({}, as(admin))).items;
    expect(staffView.map((item) => [item.title, item.withdrawnAt !== undefined])).toEqual([
      ['Vergissing', true],
      ['Blijft', false],
    ]);
    const again = await fx.directory.withdrawNewsItem({ id: gone!.id }, as(admin));
    expect(again.item!.withdrawnAt).toEqual(withdrawn!.withdrawnAt);
    expect(kept!.withdrawnAt).toBeUndefined();
  });

  test('news stays within its firm: no client or staff member of another firm sees or withdraws it', async () => {
    const admin = await fx.registerFirm();
    const otherAdmin = await fx.registerFirm();
    const { client: otherClient } = await clientOf(otherAdmin);
    const { item } = await fx.directory.publishNewsItem({ title: 'Alleen voor ons', body: 'Tekst' }, as(admin));
    expect(await titles(otherClient)).toEqual([]);
    expect(await titles(otherAdmin)).toEqual([]);
    await expect(fx.directory.withdrawNewsItem({ id: item!.id }, as(otherAdmin))).rejects.toMatchObject({
      kind: 'not_found',
      reason: 'news_item_not_found',
    });
    expect(await titles(admin)).toEqual(['Alleen voor ons']);
  });

  test('clients and support staff may read but not publish or withdraw; nothing is stored', async () => {
    const admin = await fx.registerFirm();
    const support = await fx.activeStaff(admin, 'support');
    const { client } = await clientOf(admin);
    const { item } = await fx.directory.publishNewsItem({ title: 'Eerste', body: 'Tekst' }, as(admin));
    await expect(fx.directory.publishNewsItem({ title: 'Van klant', body: 'x' }, as(client))).rejects.toMatchObject({
      kind: 'permission_denied',
      reason: 'not_for_portal_users',
    });
    await expect(fx.directory.publishNewsItem({ title: 'Van support', body: 'x' }, as(support))).rejects.toMatchObject({
      kind: 'permission_denied',
      reason: 'role_not_allowed',
    });
    await expect(fx.directory.withdrawNewsItem({ id: item!.id }, as(support))).rejects.toMatchObject({
      reason: 'role_not_allowed',
    });
    expect(await titles(support)).toEqual(['Eerste']);
    expect(await titles(client)).toEqual(['Eerste']);
  });

  test('a client who has not accepted the terms yet reads no news', async () => {
    const admin = await fx.registerFirm();
    const { dossier } = await fx.directory.createDossier(
      { name: `Apotheek ${seed}`, country: 'BE', enterpriseNumber: belgianNumber(seed++), language: 'nl' },
      as(admin),
    );
    await fx.directory.activateDossier({ dossierId: dossier!.id, fileManagerId: admin.subjectId }, as(admin));
    const { portalUser } = await fx.directory.addPortalUser(
      { dossierId: dossier!.id, email: `new-${seed++}@client.example`, name: 'Nieuw' },
      as(admin),
    );
    const fresh: Caller = { kind: 'portal_user', subjectId: portalUser!.id, firmId: admin.firmId, scopes: [] };
    await expect(fx.directory.listNewsItems({}, as(fresh))).rejects.toMatchObject({ kind: 'permission_denied' });
  });

  test('bad input is refused with the field named, and nothing is published', async () => {
    const admin = await fx.registerFirm();
    const refused: [string, { title: string; body: string }][] = [
      ['title', { title: '', body: 'Tekst' }],
      ['title', { title: '   ', body: 'Tekst' }],
      ['title', { title: 'x'.repeat(201), body: 'Tekst' }],
      ['title', { title: 'Twee\nregels', body: 'Tekst' }],
      ['body', { title: 'Titel', body: '' }],
      ['body', { title: 'Titel', body: 'x'.repeat(20_001) }],
      ['body', { title: 'Titel', body: 'bel\u0007' }],
    ];
    for (const [field, input] of refused) {
      await expect(fx.directory.publishNewsItem(input, as(admin))).rejects.toMatchObject({
        kind: 'invalid_argument',
        reason: 'validation_failed',
        violations: [expect.objectContaining({ field })],
      });
    }
    await expect(fx.directory.withdrawNewsItem({ id: 'not-an-id' }, as(admin))).rejects.toMatchObject({
      reason: 'validation_failed',
    });
    await expect(fx.directory.listNewsItems({ pageSize: 500 }, as(admin))).rejects.toMatchObject({
      reason: 'validation_failed',
    });
    await expect(fx.directory.listNewsItems({ cursor: 'bogus' }, as(admin))).rejects.toMatchObject({
      reason: 'invalid_cursor',
    });
    expect(await titles(admin)).toEqual([]);
  });

  test('pages follow each other without repeating or skipping an item, also items published in the same instant', async () => {
    const admin = await fx.registerFirm();
    const { client } = await clientOf(admin);
    for (let i = 1; i <= 7; i++)
      await fx.directory.publishNewsItem({ title: `Bericht ${i}`, body: 'Tekst' }, as(admin));
    // two items with the very same publication time: the cursor must still tell them apart
    await fx.service.db.query(
      `UPDATE news_item SET published_at = (SELECT published_at FROM news_item WHERE title = 'Bericht 3')
       WHERE title = 'Bericht 4'`,
    );
    const seen: string[] = [];
    let cursor = '';
    do {
      const page = await fx.directory.listNewsItems({ pageSize: 3, cursor }, as(client));
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((item) => item.title));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
    expect(seen.slice(0, 3)).toEqual(['Bericht 7', 'Bericht 6', 'Bericht 5']);
  });
});
