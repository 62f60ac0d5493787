import type { Caller } from '@kantoor/grpc';
import { as, belgianNumber, directoryForTests } from './directory-fixture';

const fx = directoryForTests();
let seed = 5000;

/** Follows `nextCursor` from the first page to the last; every page but the last is full. */
async function everyPage<T>(
  list: (cursor: string) => Promise<{ items: T[]; nextCursor: string }>,
  pageSize: number,
): Promise<T[][]> {
  const pages: T[][] = [];
  let cursor = '';
  do {
    const page = await list(cursor);
    pages.push(page.items);
    cursor = page.nextCursor;
    if (cursor) expect(page.items).toHaveLength(pageSize);
  } while (cursor && pages.length < 100);
  return pages;
}

describe('staff groups, a page at a time', () => {
  const pagesOfGroups = (admin: Caller, pageSize: number) =>
    everyPage(async (cursor) => {
      const page = await fx.directory.listStaffGroups({ pageSize, cursor }, as(admin));
      return { items: page.staffGroups.map((group) => group.name), nextCursor: page.nextCursor };
    }, pageSize);

  test('paging through more groups than fit on a page gives each once, by name whatever its case', async () => {
    const admin = await fx.registerFirm();
    const other = await fx.registerFirm();
    await fx.directory.createStaffGroup({ name: 'Alpha of another firm', memberIds: [] }, as(other));
    for (const name of ['delta', 'Alpha', 'charlie', 'Bravo', 'echo', 'Foxtrot', 'golf'])
      await fx.directory.createStaffGroup({ name, memberIds: [] }, as(admin));

    const pages = await pagesOfGroups(admin, 3);
    expect(pages).toEqual([['Alpha', 'Bravo', 'charlie'], ['delta', 'echo', 'Foxtrot'], ['golf']]);
    expect(await pagesOfGroups(admin, 7)).toEqual([['Alpha', 'Bravo', 'charlie', 'delta', 'echo', 'Foxtrot', 'golf']]);
  });

  // 'ΟΔΟΣ' is lowered by PostgreSQL to 'οδοσ' but by JavaScript to 'οδος' (final sigma): a cursor holding
  // JavaScript's key would start the next page before it and repeat it
  test('names outside ASCII page in the order the database sorts them, without gaps or repeats', async () => {
    const admin = await fx.registerFirm();
    const names = ['Écoles', 'ärzte', 'Zorg', 'ΟΔΟΣ', 'Ωμέγα', 'eik', 'İstanbul', 'Ångström', 'straße'];
    for (const name of names) await fx.directory.createStaffGroup({ name, memberIds: [] }, as(admin));
    const whole = (await fx.directory.listStaffGroups({ pageSize: 200 }, as(admin))).staffGroups.map((g) => g.name);
    expect([...whole].sort()).toEqual([...names].sort());
    expect((await pagesOfGroups(admin, 2)).flat()).toEqual(whole);
  });

  test('without a page size the page holds 50 groups', async () => {
    const admin = await fx.registerFirm();
    for (let n = 0; n < 51; n++)
      await fx.directory.createStaffGroup({ name: `Team ${String(n).padStart(2, '0')}`, memberIds: [] }, as(admin));
    const first = await fx.directory.listStaffGroups({}, as(admin));
    expect(first.staffGroups).toHaveLength(50);
    const rest = await fx.directory.listStaffGroups({ cursor: first.nextCursor }, as(admin));
    expect(rest.staffGroups.map((g) => g.name)).toEqual(['Team 50']);
    expect(rest.nextCursor).toBe('');
  });

  test('a page size outside 1 to 200 and a cursor the service did not give out are refused', async () => {
    const admin = await fx.registerFirm();
    await fx.directory.createStaffGroup({ name: 'Team', memberIds: [] }, as(admin));
    for (const pageSize of [201, -1]) {
      await expect(fx.directory.listStaffGroups({ pageSize }, as(admin))).rejects.toMatchObject({
        kind: 'invalid_argument',
        violations: [expect.objectContaining({ field: 'pageSize' })],
      });
    }
    for (const cursor of ['garbage', Buffer.from('["team","not-an-id"]').toString('base64url')]) {
      await expect(fx.directory.listStaffGroups({ cursor }, as(admin))).rejects.toMatchObject({
        kind: 'invalid_argument',
        reason: 'invalid_cursor',
      });
    }
  });
});

describe('staff, a page at a time', () => {
  const pagesOfStaff = (admin: Caller, pageSize: number) =>
    everyPage(async (cursor) => {
      const page = await fx.directory.listStaff({ pageSize, cursor }, as(admin));
      return { items: page.staff.map((member) => member.name), nextCursor: page.nextCursor };
    }, pageSize);

  test('paging gives every member once, by name whatever its case, leaving out removed members', async () => {
    const admin = await fx.registerFirm();
    const other = await fx.registerFirm();
    await fx.directory.inviteStaff(
      { name: 'Bob of another firm', email: 'bob@other.example', role: 'employee' },
      as(other),
    );
    const invited = new Map<string, string>();
    for (const name of ['ΟΔΟΣ', 'zoë', 'Dirk', 'bert', 'Anna', 'CHARLOTTE', 'Écoles']) {
      const { staff } = await fx.directory.inviteStaff(
        { name, email: `staff-${seed++}@firm.example`, role: 'support' },
        as(admin),
      );
      invited.set(name, staff!.id);
    }
    await fx.directory.removeStaff({ staffId: invited.get('Anna')! }, as(admin));

    const whole = (await fx.directory.listStaff({ pageSize: 200 }, as(admin))).staff.map((member) => member.name);
    expect(whole.slice(0, 5)).toEqual(['An Admin', 'bert', 'CHARLOTTE', 'Dirk', 'zoë']);
    expect([...whole].sort()).toEqual(['An Admin', 'CHARLOTTE', 'Dirk', 'bert', 'zoë', 'Écoles', 'ΟΔΟΣ'].sort());
    for (const pageSize of [1, 2]) {
      const pages = await pagesOfStaff(admin, pageSize);
      expect(pages).toHaveLength(Math.ceil(whole.length / pageSize));
      expect(pages.flat()).toEqual(whole);
    }
  });

  test('a page size outside 1 to 200 and a cursor the service did not give out are refused', async () => {
    const admin = await fx.registerFirm();
    await expect(fx.directory.listStaff({ pageSize: 201 }, as(admin))).rejects.toMatchObject({
      kind: 'invalid_argument',
      violations: [expect.objectContaining({ field: 'pageSize' })],
    });
    await expect(fx.directory.listStaff({ cursor: 'garbage' }, as(admin))).rejects.toMatchObject({
      kind: 'invalid_argument',
      reason: 'invalid_cursor',
    });
  });
});

describe('client groups, a page at a time', () => {
  const pagesOfGroups = (admin: Caller, pageSize: number) =>
    everyPage(async (cursor) => {
      const page = await fx.directory.listClientGroups({ pageSize, cursor }, as(admin));
      return { items: page.clientGroups.map((group) => group.name), nextCursor: page.nextCursor };
    }, pageSize);
  const create = (admin: Caller, name: string) =>
    fx.directory.createClientGroup({ name, email: 'groep@firm.example', staffIds: [], staffGroupIds: [] }, as(admin));

  test('paging gives every group of the firm once, by name whatever its case', async () => {
    const admin = await fx.registerFirm();
    await create(await fx.registerFirm(), 'Alpha of another firm');
    for (const name of ['Groep West', 'ΟΔΟΣ', 'groep noord', 'Groep Zuid', 'groep oost']) await create(admin, name);
    const ascii = ['groep noord', 'groep oost', 'Groep West', 'Groep Zuid'];
    expect(await pagesOfGroups(admin, 2)).toEqual([ascii.slice(0, 2), ascii.slice(2), ['ΟΔΟΣ']]);
    expect((await pagesOfGroups(admin, 1)).flat()).toEqual([...ascii, 'ΟΔΟΣ']);
  });

  test('a page size outside 1 to 200 and a cursor the service did not give out are refused', async () => {
    const admin = await fx.registerFirm();
    await create(admin, 'Groep');
    await expect(fx.directory.listClientGroups({ pageSize: -1 }, as(admin))).rejects.toMatchObject({
      kind: 'invalid_argument',
      violations: [expect.objectContaining({ field: 'pageSize' })],
    });
    await expect(
      fx.directory.listClientGroups({ cursor: Buffer.from('["groep","not-an-id"]').toString('base64url') }, as(admin)),
    ).rejects.toMatchObject({ kind: 'invalid_argument', reason: 'invalid_cursor' });
  });
});

describe("a dossier's portal users, a page at a time", () => {
  async function activeDossier(admin: Caller) {
    const { dossier } = await fx.directory.createDossier(
      { name: 'Bakkerij', country: 'BE', enterpriseNumber: belgianNumber(seed++), language: 'nl' },
      as(admin),
    );
    await fx.directory.activateDossier({ dossierId: dossier!.id, fileManagerId: admin.subjectId }, as(admin));
    return dossier!.id;
  }

  test('paging gives every user once, by name and then id, and only the users of that dossier', async () => {
    const admin = await fx.registerFirm();
    const dossierId = await activeDossier(admin);
    const otherDossierId = await activeDossier(admin);
    await fx.directory.addPortalUser(
      { dossierId: otherDossierId, email: 'else@client.example', name: 'Anna' },
      as(admin),
    );
    const people = [
      ['wim@client.example', 'Wim'],
      ['jan1@client.example', 'jan Peeters'],
      ['els@client.example', 'Els'],
      ['jan2@client.example', 'Jan Peeters'],
      ['bart@client.example', 'bart'],
      ['jan3@client.example', 'JAN PEETERS'],
    ];
    const added = [];
    for (const [email, name] of people)
      added.push((await fx.directory.addPortalUser({ dossierId, email, name }, as(admin))).portalUser!);
    const jans = added
      .filter((user) => user.name.toLowerCase() === 'jan peeters')
      .map((user) => user.id)
      .sort();
    const byEmail = new Map(added.map((user) => [user.id, user.email]));

    const pages = await everyPage(async (cursor) => {
      const page = await fx.directory.listPortalUsers({ dossierId, pageSize: 2, cursor }, as(admin));
      return { items: page.portalUsers.map((user) => user.id), nextCursor: page.nextCursor };
    }, 2);
    expect(pages).toHaveLength(3);
    const order = pages.flat();
    expect(order.map((id) => byEmail.get(id))).toEqual([
      'bart@client.example',
      'els@client.example',
      ...jans.map((id) => byEmail.get(id)),
      'wim@client.example',
    ]);
  });

  test('a bad page size or cursor is refused', async () => {
    const admin = await fx.registerFirm();
    const dossierId = await activeDossier(admin);
    await expect(fx.directory.listPortalUsers({ dossierId, pageSize: 500 }, as(admin))).rejects.toMatchObject({
      kind: 'invalid_argument',
      violations: [expect.objectContaining({ field: 'pageSize' })],
    });
    await expect(fx.directory.listPortalUsers({ dossierId, cursor: 'x' }, as(admin))).rejects.toMatchObject({
      kind: 'invalid_argument',
      reason: 'invalid_cursor',
    });
  });
});

describe('dossiers, a page at a time', () => {
  test('a name the database lowers differently from JavaScript is neither repeated nor skipped', async () => {
    const admin = await fx.registerFirm();
    for (const name of ['Ωμέγα', 'beta', 'ΟΔΟΣ', 'alpha'])
      await fx.directory.createDossier(
        { name, country: 'BE', enterpriseNumber: belgianNumber(seed++), language: 'nl' },
        as(admin),
      );
    const pages = await everyPage(async (cursor) => {
      const page = await fx.directory.listDossiers({ pageSize: 1, cursor }, as(admin));
      return { items: page.dossiers.map((dossier) => dossier.name), nextCursor: page.nextCursor };
    }, 1);
    expect(pages.flat()).toEqual(['alpha', 'beta', 'ΟΔΟΣ', 'Ωμέγα']);
  });

  test("each dossier's cursor continues right after it, as a page ending there would; the last one's too", async () => {
    const admin = await fx.registerFirm();
    for (const name of ['Ωμέγα', 'beta', 'ΟΔΟΣ', 'alpha', 'Beta'])
      await fx.directory.createDossier(
        { name, country: 'BE', enterpriseNumber: belgianNumber(seed++), language: 'nl' },
        as(admin),
      );
    const whole = await fx.directory.listDossiers({ pageSize: 200 }, as(admin));
    const ids = whole.dossiers.map((dossier) => dossier.id);
    expect(whole.cursorsAfter).toHaveLength(ids.length);
    for (const [index, cursor] of whole.cursorsAfter.entries()) {
      const rest = await fx.directory.listDossiers({ pageSize: 200, cursor }, as(admin));
      expect(rest.dossiers.map((dossier) => dossier.id)).toEqual(ids.slice(index + 1));
    }
    const firstTwo = await fx.directory.listDossiers({ pageSize: 2 }, as(admin));
    expect(firstTwo.nextCursor).toBe(firstTwo.cursorsAfter[1]);
  });
});
