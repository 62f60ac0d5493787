import { invalidArgument } from '@kantoor/errors';

/**
 * Keyset pagination's cursor: the sort key of a page's last row and its id, opaque to the caller. The next page
 * starts after (key, id); give the key exactly as the database compares it (a timestamp as PostgreSQL writes it,
 * with its microseconds, not a JavaScript Date).
 */
export const encodeCursor = (key: string, id: string): string =>
  Buffer.from(JSON.stringify([key, id])).toString('base64url');

/**
 * One page of rows read with one more than the page holds, and the cursor of the next page (empty on the last):
 * `positionOf` gives a row's sort key (as the database compares it) and id.
 */
export function pageOfRows<T>(
  rows: T[],
  pageSize: number,
  positionOf: (row: T) => [key: string, id: string],
): { rows: T[]; nextCursor: string } {
  const page = rows.slice(0, pageSize);
  const last = page.at(-1);
  return { rows: page, nextCursor: rows.length > pageSize && last ? encodeCursor(...positionOf(last)) : '' };
}

/** A `timestamptz` as PostgreSQL writes it as text (`created_at::text`, ISO style): a time-ordered cursor's key. */
const POSTGRES_TIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d(:\d\d)?$/;
export const isPostgresTime = (key: string): boolean => POSTGRES_TIME.test(key);

const isUuid = (id: string): boolean => /^[0-9a-f-]{36}$/.test(id);
/** A `bigserial` row id written as text, for cursors of tables keyed by one. */
export const isSerialId = (id: string): boolean => /^\d{1,18}$/.test(id);

/**
 * The sort key and id of a cursor this service gave out; `validKey` checks the key, `validId` the id (a UUID
 * unless told otherwise). Anything else is refused as `invalid_cursor`.
 */
export function decodeCursor(
  cursor: string,
  validKey: (key: string) => boolean = () => true,
  validId: (id: string) => boolean = isUuid,
): { key: string; id: string } {
  try {
    const [key, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    if (typeof key === 'string' && validKey(key) && typeof id === 'string' && validId(id)) return { key, id };
  } catch {
    // answered below
  }
  throw invalidArgument('The cursor is not one this service gave out', {
    reason: 'invalid_cursor',
    violations: [{ field: 'cursor', message: 'is not valid' }],
  });
}

/** The largest page a list gives, and the page it gives when the caller names no size. */
export const MAX_PAGE_SIZE = 200;
export const DEFAULT_PAGE_SIZE = 50;

/**
 * The page size a list call asks for, kept within 1–200 (50 when not given). A list that took a `limit` before
 * it had pages takes it, within 1–`maxLimit`, when no page size is given: older callers get the rows they asked
 * for, now with a cursor to the rest.
 */
export function pageSizeOf(request: { pageSize: number; limit?: number }, maxLimit = MAX_PAGE_SIZE): number {
  if (request.pageSize) return Math.min(Math.max(request.pageSize, 1), MAX_PAGE_SIZE);
  if (request.limit) return Math.min(Math.max(request.limit, 1), maxLimit);
  return DEFAULT_PAGE_SIZE;
}
