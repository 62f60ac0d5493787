/**
 * News in the client portal (spec 02: "The client portal also has News (items published by the firm)"): staff
 * who manage dossiers publish an item for all the firm's clients; portal users read the published ones, newest
 * first. Withdrawing takes an item out of the portal; staff keep seeing it, marked withdrawn. Nothing is deleted.
 */
import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '@kantoor/database';
import { notFound } from '@kantoor/errors';
import type { Caller } from '@kantoor/grpc';
import { recordChange } from '../data-access/audit';
import { authorize } from './access';
import { decodeCursor, pageOfRows } from '@kantoor/database';
import { Violations } from './validation';

export interface NewsItemView {
  id: string;
  title: string;
  body: string;
  publishedAt: Date;
  publishedByName: string;
  withdrawnAt: Date | null;
}

const TITLE_MAX = 200;
const BODY_MAX = 20_000;
/** control characters other than tab and line breaks have no place in a text meant for reading */
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

const COLUMNS = 'n.id, n.title, n.body, n.published_at, s.name AS published_by_name, n.withdrawn_at';
const FROM = 'FROM news_item n JOIN staff s ON s.id = n.published_by';

interface NewsRow {
  id: string;
  title: string;
  body: string;
  published_at: Date;
  published_by_name: string;
  withdrawn_at: Date | null;
}

const toView = (row: NewsRow): NewsItemView => ({
  id: row.id,
  title: row.title,
  body: row.body,
  publishedAt: row.published_at,
  publishedByName: row.published_by_name,
  withdrawnAt: row.withdrawn_at,
});

async function findNewsItem(db: Queryable, firmId: string, id: string): Promise<NewsItemView | undefined> {
  const { rows } = await db.query<NewsRow>(`SELECT ${COLUMNS} ${FROM} WHERE n.firm_id = $1 AND n.id = $2`, [
    firmId,
    id,
  ]);
  return rows[0] && toView(rows[0]);
}

export async function publishNewsItem(
  db: Database,
  caller: Caller,
  input: { title: string; body: string },
): Promise<NewsItemView> {
  await authorize(db, caller, 'news:write');
  const title = input.title.trim();
  const body = input.body.trim();
  new Violations()
    .check(title.length > 0 && title.length <= TITLE_MAX, 'title', `must be between 1 and ${TITLE_MAX} characters`)
    .check(!/[\r\n]/.test(title) && !CONTROL.test(title), 'title', 'must be one line of text')
    .check(body.length > 0 && body.length <= BODY_MAX, 'body', `must be between 1 and ${BODY_MAX} characters`)
    .check(!CONTROL.test(body), 'body', 'may not hold control characters')
    .throwIfAny();
  const id = randomUUID();
  return db.transaction(async (tx) => {
    await tx.query('INSERT INTO news_item (id, firm_id, title, body, published_by) VALUES ($1, $2, $3, $4, $5)', [
      id,
      caller.firmId,
      title,
      body,
      caller.subjectId,
    ]);
    await recordChange(tx, caller, {
      firmId: caller.firmId,
      action: 'news.published',
      subjectId: id,
      details: { title },
    });
    return (await findNewsItem(tx, caller.firmId, id))!;
  });
}

/** Takes an item out of the portal; withdrawing it again changes nothing. */
export async function withdrawNewsItem(db: Database, caller: Caller, id: string): Promise<NewsItemView> {
  await authorize(db, caller, 'news:write');
  new Violations().check(/^[0-9a-f-]{36}$/i.test(id), 'id', 'must be the id of a news item').throwIfAny();
  return db.transaction(async (tx) => {
    const { rowCount } = await tx.query(
      'UPDATE news_item SET withdrawn_at = now() WHERE firm_id = $1 AND id = $2 AND withdrawn_at IS NULL',
      [caller.firmId, id],
    );
    const item = await findNewsItem(tx, caller.firmId, id);
    if (!item) throw notFound('News item not found', { reason: 'news_item_not_found' });
    if (rowCount) await recordChange(tx, caller, { firmId: caller.firmId, action: 'news.withdrawn', subjectId: id });
    return item;
  });
}

/**
 * The firm's news, newest first, a page at a time. Clients (and staff acting as one) see the published items;
 * staff also see withdrawn ones.
 */
export async function listNewsItems(
  db: Database,
  caller: Caller,
  filter: { pageSize?: number; cursor?: string },
): Promise<{ items: NewsItemView[]; nextCursor: string }> {
  await authorize(db, caller, 'news:read');
  const pageSize = filter.pageSize || 20;
  new Violations().check(pageSize >= 1 && pageSize <= 100, 'pageSize', 'must be between 1 and 100').throwIfAny();
  const after = filter.cursor ? decodeCursor(filter.cursor, (key) => !Number.isNaN(Date.parse(key))) : undefined;
  const asClient = caller.kind === 'portal_user' || caller.impersonation !== undefined;
  const { rows } = await db.query<NewsRow & { published_at_text: string }>(
    `SELECT ${COLUMNS}, to_char(n.published_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS published_at_text
     ${FROM}
     WHERE n.firm_id = $1 AND ($2::boolean = false OR n.withdrawn_at IS NULL)
       AND ($3::timestamptz IS NULL OR (n.published_at, n.id) < ($3::timestamptz, $4::uuid))
     ORDER BY n.published_at DESC, n.id DESC
     LIMIT $5`,
    [caller.firmId, asClient, after?.key ?? null, after?.id ?? null, pageSize + 1],
  );
  // the cursor keeps the database's microseconds: a Date would round them to milliseconds and repeat items
  const page = pageOfRows(rows, pageSize, (row) => [row.published_at_text, row.id]);
  return { items: page.rows.map(toView), nextCursor: page.nextCursor };
}
