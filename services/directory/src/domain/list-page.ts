import { decodeCursor, DEFAULT_PAGE_SIZE, encodeCursor, MAX_PAGE_SIZE, pageOfRows } from '@kantoor/database';
import { Violations } from './validation';

/** What a caller asks of a list: how many rows a page and where the previous page ended. */
export interface PageRequest {
  /** 1 to 200; 0 or absent: 50 */
  pageSize?: number;
  /** the previous page's `nextCursor`; empty or absent: the first page */
  cursor?: string;
}

/** Where a page starts: after the row with this sort key (as the database compares it) and id. */
export interface PagePosition {
  pageSize: number;
  after?: { key: string; id: string };
}

/**
 * Refuses a page size outside 1–200 and a cursor this service did not give out, changing nothing; the page
 * size's problem is answered together with what `violations` holds already (a list's other fields).
 */
export function pagePosition(request: PageRequest, violations = new Violations()): PagePosition {
  const pageSize = request.pageSize || DEFAULT_PAGE_SIZE;
  violations
    .check(pageSize >= 1 && pageSize <= MAX_PAGE_SIZE, 'pageSize', `must be between 1 and ${MAX_PAGE_SIZE}`)
    .throwIfAny();
  return { pageSize, after: request.cursor ? decodeCursor(request.cursor) : undefined };
}

/**
 * One page of rows read with `pageSize + 1` as the limit. The cursor keeps the last row's `sort_key` as the
 * database computed it (not lowered again in JavaScript, whose case rules differ), so the next page continues
 * exactly there.
 */
export const onePage = <Row extends { id: string; sort_key: string }>(rows: Row[], pageSize: number) =>
  pageOfRows(rows, pageSize, (row) => [row.sort_key, row.id]);

/** The cursor of the page that starts right after `row`: the `nextCursor` a page ending on it would have. */
export const cursorAfter = (row: { id: string; sort_key: string }): string => encodeCursor(row.sort_key, row.id);

/**
 * One page of a list sorted by `sort_key`, then id: checks the request (see pagePosition), reads `pageSize + 1`
 * rows after the cursor's position with `read`, and answers the page with its `nextCursor`.
 */
export async function readPage<Row extends { id: string; sort_key: string }>(
  request: PageRequest,
  read: (at: { after?: { key: string; id: string }; limit: number }) => Promise<Row[]>,
): Promise<{ rows: Row[]; nextCursor: string }> {
  const { pageSize, after } = pagePosition(request);
  return onePage(await read({ after, limit: pageSize + 1 }), pageSize);
}
