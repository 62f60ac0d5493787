/** The paging every list of the gateway offers (spec 08), checked the same way for each of them. */
import request from 'supertest';
import { problemType } from './helpers';

export interface PagedList {
  app: Parameters<typeof request>[0];
  path: string;
  authorization: string;
  /** the answer's array of items */
  items: string;
  idOf: (item: Record<string, unknown>) => string;
}

const get = (list: PagedList, query: Record<string, string | number>) =>
  request(list.app).get(list.path).query(query).set('authorization', list.authorization);

/**
 * Every page of `pageSize` items, following `nextCursor` until it is empty: the ids in the order listed. The first
 * page is asked for with an empty cursor, as a client passing its cursor variable along would.
 */
export async function everyPage(list: PagedList, pageSize: number): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor = '';
  for (let pages = 1; pages <= 100; pages++) {
    const page = await get(list, { pageSize, cursor });
    expect(page.status).toBe(200);
    const items = page.body[list.items] as Array<Record<string, unknown>>;
    expect(items.length).toBeLessThanOrEqual(pageSize);
    ids.push(...items.map(list.idOf));
    cursor = page.body.nextCursor as string;
    if (cursor === '') return { ids, pages };
  }
  throw new Error(`${list.path} never reached its last page`);
}

/**
 * A cursor the list did not give out, a page size outside 1–200, and a page size given under both its names are
 * refused with 400, naming what is wrong.
 */
export async function expectPagingRefusals(list: PagedList): Promise<void> {
  const notGivenOut = Buffer.from(JSON.stringify(['yesterday', 'x'])).toString('base64url');
  for (const cursor of ['not-a-cursor', notGivenOut]) {
    const refused = await get(list, { cursor });
    expect(refused.status).toBe(400);
    expect(refused.body.type).toBe(problemType('invalid-cursor'));
  }
  const badPageSizes: Array<Record<string, string | number>> = [
    { pageSize: 0 },
    { pageSize: 201 },
    { pageSize: 'ten' },
    { pageSize: 10, limit: 10 },
  ];
  for (const query of badPageSizes) {
    const refused = await get(list, query);
    expect(refused.status).toBe(400);
    expect(refused.body.type).toBe(problemType('validation-failed'));
  }
}

/**
 * The list pages through `expected` (its ids in order, fewer than 50): every item exactly once in that order
 * whatever the page size, all of them on the default page, the deprecated `limit` as the page size with its
 * cursor leading to the rest, and the refusals of `expectPagingRefusals`.
 */
export async function expectPaging(list: PagedList, expected: string[]): Promise<void> {
  for (const pageSize of [1, 2])
    expect(await everyPage(list, pageSize)).toEqual({ ids: expected, pages: Math.ceil(expected.length / pageSize) });
  const whole = await get(list, {});
  expect(whole.body[list.items].map(list.idOf)).toEqual(expected);
  expect(whole.body.nextCursor).toBe('');
  const limited = await get(list, { limit: 3 });
  expect(limited.body[list.items].map(list.idOf)).toEqual(expected.slice(0, 3));
  const rest = await get(list, { cursor: limited.body.nextCursor });
  expect(rest.body[list.items].map(list.idOf)).toEqual(expected.slice(3));
  expect(rest.body.nextCursor).toBe('');
  await expectPagingRefusals(list);
}
