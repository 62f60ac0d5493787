import type { Queryable } from '@kantoor/database';

/** A row of a paged list with the key it is sorted on, as the database computed it (for the next page's cursor). */
export type SortedRow<View> = View & { sort_key: string };

/** Where a page of a list starts (after this key and id) and how many rows it reads; no limit: all of them. */
export interface NamePage {
  after?: { key: string; id: string };
  limit?: number;
}

/**
 * `SELECT columns FROM from WHERE where` (its one parameter `$1`: `scope`) by lower(name), then id of the table
 * aliased `alias`: the page after `page.after`, at most `page.limit` rows.
 */
export async function pageByName<View>(
  db: Queryable,
  query: { columns: string; from: string; where: string; alias: string; scope: string },
  page: NamePage,
): Promise<Array<SortedRow<View>>> {
  const { columns, from, where, alias: a, scope } = query;
  const { rows } = await db.query<SortedRow<View>>(
    `SELECT ${columns}, lower(${a}.name) AS sort_key FROM ${from}
      WHERE ${where} AND ($2::text IS NULL OR (lower(${a}.name), ${a}.id) > ($2::text, $3::uuid))
      ORDER BY lower(${a}.name), ${a}.id LIMIT $4`,
    [scope, page.after?.key ?? null, page.after?.id ?? null, page.limit ?? null],
  );
  return rows;
}
