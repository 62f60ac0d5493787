import { invalidArgument } from '@kantoor/errors';

/**
 * Keyset pagination's cursor: the sort key of a page's last row and its id, opaque to the caller. The next page
 * starts after (key, id); give the key exactly as the database compares it (a timestamp as PostgreSQL writes it,
 * with its microseconds, not a JavaScript Date).
 */
export const encodeCursor = (key: string, id: string): string =>
  Buffer.from(JSON.stringify([key, id])).toString('base64url');

/**
 * The sort key and id of a cursor this service gave out; `validKey` checks the key. Anything else is refused
 * as `invalid_cursor`.
 */
export function decodeCursor(
  cursor: string,
  validKey: (key: string) => boolean = () => true,
): { key: string; id: string } {
  try {
    const [key, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    if (typeof key === 'string' && validKey(key) && typeof id === 'string' && /^[0-9a-f-]{36}$/.test(id))
      return { key, id };
  } catch {
    // answered below
  }
  throw invalidArgument('The cursor is not one this service gave out', {
    reason: 'invalid_cursor',
    violations: [{ field: 'cursor', message: 'is not valid' }],
  });
}
