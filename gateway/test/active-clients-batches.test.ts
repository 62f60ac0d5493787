/**
 * How the active clients monitor fills a page from two services (routes/active-clients-page.ts), against a
 * directory and an intake made of arrays: thousands of dossiers, few of them shown.
 */
import { activeClientsPage, type ActiveClientsSources } from '../src/routes/active-clients-page';

/** `count` dossiers in the directory's order; the intake shows those for which `shown` holds. */
function firm(count: number, shown: (index: number) => boolean, options: { cursorsAfter?: boolean } = {}) {
  const names = Array.from({ length: count }, (_, index) => `dossier ${String(index).padStart(5, '0')}`);
  const calls = { directory: [] as number[], intake: [] as number[] };
  const sources: ActiveClientsSources<{ dossierId: string }> = {
    async dossiersAfter(cursor, size) {
      calls.directory.push(size);
      const from = cursor === '' ? 0 : Number(cursor.slice('after:'.length)) + 1;
      const indices = Array.from({ length: Math.max(0, Math.min(size, count - from)) }, (_, i) => from + i);
      return {
        dossiers: indices.map((index) => ({ id: `id-${index}`, name: names[index] })),
        cursorsAfter: options.cursorsAfter === false ? [] : indices.map((index) => `after:${index}`),
        nextCursor: from + size < count ? `after:${from + size - 1}` : '',
      };
    },
    async shownOf(dossierIds) {
      calls.intake.push(dossierIds.length);
      // in an order of its own, as the intake answers
      return dossierIds
        .filter((id) => shown(Number(id.slice('id-'.length))))
        .reverse()
        .map((dossierId) => ({ dossierId }));
    },
  };
  const expected = names.flatMap((_, index) => (shown(index) ? [`id-${index}`] : []));
  return { sources, calls, expected };
}

async function everyPage(sources: ActiveClientsSources<{ dossierId: string }>, pageSize: number) {
  const pages: string[][] = [];
  let cursor = '';
  do {
    const page = await activeClientsPage({ pageSize, cursor }, sources);
    pages.push(page.clients.map((client) => client.dossierId));
    cursor = page.nextCursor;
  } while (cursor && pages.length < 5000);
  return pages;
}

test.each([
  ['every dossier shown', 3000, () => true],
  ['one in 97 shown', 3000, (index: number) => index % 97 === 13],
  ['runs of shown and not shown dossiers', 1000, (index: number) => Math.floor(index / 150) % 2 === 1],
  ['only the last dossier shown', 1000, (index: number) => index === 999],
  ['none shown', 500, () => false],
])('%s: each page full but the last, every dossier shown once and in order', async (_case, count, shown) => {
  for (const pageSize of [1, 7, 50, 200]) {
    const { sources, expected } = firm(count, shown);
    const pages = await everyPage(sources, pageSize);
    expect(pages.flat()).toEqual(expected);
    expect(pages.slice(0, -1).every((page) => page.length === pageSize)).toBe(true);
    expect(pages).toHaveLength(Math.max(1, Math.ceil(expected.length / pageSize)));
  }
});

test('a sparse list is read in batches that grow to 200, not one dossier at a time', async () => {
  const { sources, calls } = firm(3000, (index) => index === 2999);
  const page = await activeClientsPage({ pageSize: 50, cursor: '' }, sources);
  expect(page.clients.map((client) => client.dossierId)).toEqual(['id-2999']);
  expect(calls.directory.slice(0, 3)).toEqual([51, 102, 200]);
  expect(calls.directory.length).toBeLessThanOrEqual(3 + Math.ceil(3000 / 200));
  // each dossier is asked about once
  expect(calls.intake.reduce((sum, size) => sum + size, 0)).toBe(3000);
});

test('a full first batch answers the page with one call to each service', async () => {
  const { sources, calls } = firm(3000, () => true);
  const page = await activeClientsPage({ pageSize: 50, cursor: '' }, sources);
  expect(page.clients).toHaveLength(50);
  expect(page.nextCursor).toBe('after:49');
  expect(calls).toEqual({ directory: [51], intake: [51] });
});

test('a directory that gives no cursor per dossier is refused rather than paged wrongly', async () => {
  const { sources } = firm(100, (index) => index % 2 === 0, { cursorsAfter: false });
  await expect(activeClientsPage({ pageSize: 10, cursor: '' }, sources)).rejects.toMatchObject({
    kind: 'unavailable',
    reason: 'directory_outdated',
  });
});
