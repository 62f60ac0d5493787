import type { Queryable } from '@kantoor/database';
import { pageByName, type NamePage } from './sorted-row';
import { isUuid } from './ids';

export interface StaffGroupView {
  id: string;
  firm_id: string;
  name: string;
  member_ids: string[];
}

export interface ClientGroupView {
  id: string;
  firm_id: string;
  name: string;
  email: string;
  staff_ids: string[];
  staff_group_ids: string[];
  dossier_count: number;
}

const STAFF_GROUP_COLUMNS = `g.id, g.firm_id, g.name,
  COALESCE((SELECT array_agg(m.staff_id::text ORDER BY m.staff_id) FROM staff_group_member m WHERE m.staff_group_id = g.id), '{}') AS member_ids`;
const STAFF_GROUP = `SELECT ${STAFF_GROUP_COLUMNS} FROM staff_group g`;

const CLIENT_GROUP_COLUMNS = `g.id, g.firm_id, g.name, g.email,
  COALESCE((SELECT array_agg(s.staff_id::text ORDER BY s.staff_id) FROM client_group_staff s WHERE s.client_group_id = g.id), '{}') AS staff_ids,
  COALESCE((SELECT array_agg(s.staff_group_id::text ORDER BY s.staff_group_id) FROM client_group_staff_group s WHERE s.client_group_id = g.id), '{}') AS staff_group_ids,
  (SELECT count(*)::int FROM dossier d WHERE d.client_group_id = g.id) AS dossier_count`;
const CLIENT_GROUP = `SELECT ${CLIENT_GROUP_COLUMNS} FROM client_group g`;

/** The firm's staff groups by lower(name), then id: at most `limit` after the given key and id. */
export const listStaffGroups = (db: Queryable, firmId: string, page: NamePage) =>
  pageByName<StaffGroupView>(
    db,
    { columns: STAFF_GROUP_COLUMNS, from: 'staff_group g', where: 'g.firm_id = $1', alias: 'g', scope: firmId },
    page,
  );

export async function findStaffGroup(db: Queryable, firmId: string, id: string): Promise<StaffGroupView | undefined> {
  return (await db.query<StaffGroupView>(`${STAFF_GROUP} WHERE g.firm_id = $1 AND g.id = $2`, [firmId, id])).rows[0];
}

export async function insertStaffGroup(
  tx: Queryable,
  group: { id: string; firmId: string; name: string },
): Promise<void> {
  await tx.query('INSERT INTO staff_group (id, firm_id, name) VALUES ($1, $2, $3)', [
    group.id,
    group.firmId,
    group.name,
  ]);
}

export async function renameStaffGroup(tx: Queryable, id: string, name: string): Promise<void> {
  await tx.query('UPDATE staff_group SET name = $2 WHERE id = $1', [id, name]);
}

export async function replaceStaffGroupMembers(tx: Queryable, id: string, staffIds: readonly string[]): Promise<void> {
  await tx.query('DELETE FROM staff_group_member WHERE staff_group_id = $1', [id]);
  for (const staffId of new Set(staffIds)) {
    await tx.query('INSERT INTO staff_group_member (staff_group_id, staff_id) VALUES ($1, $2)', [id, staffId]);
  }
}

/** The firm's client groups by lower(name), then id: at most `limit` after the given key and id. */
export const listClientGroups = (db: Queryable, firmId: string, page: NamePage) =>
  pageByName<ClientGroupView>(
    db,
    { columns: CLIENT_GROUP_COLUMNS, from: 'client_group g', where: 'g.firm_id = $1', alias: 'g', scope: firmId },
    page,
  );

export async function findClientGroup(db: Queryable, firmId: string, id: string): Promise<ClientGroupView | undefined> {
  return (await db.query<ClientGroupView>(`${CLIENT_GROUP} WHERE g.firm_id = $1 AND g.id = $2`, [firmId, id])).rows[0];
}

export async function insertClientGroup(
  tx: Queryable,
  group: { id: string; firmId: string; name: string; email: string },
): Promise<void> {
  await tx.query('INSERT INTO client_group (id, firm_id, name, email) VALUES ($1, $2, $3, $4)', [
    group.id,
    group.firmId,
    group.name,
    group.email,
  ]);
}

export async function updateClientGroupDetails(
  tx: Queryable,
  id: string,
  changes: { name?: string; email?: string },
): Promise<void> {
  if (changes.name !== undefined) await tx.query('UPDATE client_group SET name = $2 WHERE id = $1', [id, changes.name]);
  if (changes.email !== undefined)
    await tx.query('UPDATE client_group SET email = $2 WHERE id = $1', [id, changes.email]);
}

export async function replaceClientGroupStaff(
  tx: Queryable,
  id: string,
  staffIds: readonly string[],
  staffGroupIds: readonly string[],
): Promise<void> {
  await tx.query('DELETE FROM client_group_staff WHERE client_group_id = $1', [id]);
  await tx.query('DELETE FROM client_group_staff_group WHERE client_group_id = $1', [id]);
  for (const staffId of new Set(staffIds)) {
    await tx.query('INSERT INTO client_group_staff (client_group_id, staff_id) VALUES ($1, $2)', [id, staffId]);
  }
  for (const groupId of new Set(staffGroupIds)) {
    await tx.query('INSERT INTO client_group_staff_group (client_group_id, staff_group_id) VALUES ($1, $2)', [
      id,
      groupId,
    ]);
  }
}

/** The ids among `ids` that are not live members of the firm's table; used to refuse foreign or unknown references. */
export async function unknownIds(
  db: Queryable,
  table: 'staff' | 'staff_group' | 'client_group' | 'dossier',
  firmId: string,
  ids: readonly string[],
): Promise<string[]> {
  if (ids.length === 0) return [];
  const wellFormed = ids.filter(isUuid);
  const live = table === 'staff' ? " AND status <> 'removed'" : '';
  const { rows } = await db.query<{ id: string }>(
    `SELECT id::text AS id FROM ${table} WHERE firm_id = $1 AND id = ANY($2::uuid[])${live}`,
    [firmId, wellFormed],
  );
  const found = new Set(rows.map((row) => row.id));
  return ids.filter((id) => !found.has(id));
}
