import type { Queryable } from '@kantoor/database';
import { pageByName, type NamePage } from './sorted-row';

export interface PortalUserRow {
  id: string;
  firm_id: string;
  email: string;
  name: string;
  status: 'invited' | 'active' | 'removed';
  password_hash: string | null;
  must_change_password: boolean;
  terms_version: string | null;
  terms_accepted_at: Date | null;
  created_at: Date;
}

export type PortalUserView = PortalUserRow & { profile: string };

export async function findPortalUserByEmail(
  tx: Queryable,
  firmId: string,
  email: string,
): Promise<PortalUserRow | undefined> {
  const { rows } = await tx.query<PortalUserRow>(
    'SELECT * FROM portal_user WHERE firm_id = $1 AND lower(email) = lower($2)',
    [firmId, email],
  );
  return rows[0];
}

export async function findPortalUser(db: Queryable, portalUserId: string): Promise<PortalUserRow | undefined> {
  return (await db.query<PortalUserRow>('SELECT * FROM portal_user WHERE id = $1', [portalUserId])).rows[0];
}

export async function findPortalUsersByEmail(db: Queryable, email: string): Promise<PortalUserRow[]> {
  return (
    await db.query<PortalUserRow>(`SELECT * FROM portal_user WHERE lower(email) = lower($1) AND status <> 'removed'`, [
      email,
    ])
  ).rows;
}

export async function insertPortalUser(
  tx: Queryable,
  user: Pick<PortalUserRow, 'id' | 'firm_id' | 'email' | 'name'>,
): Promise<PortalUserRow> {
  const { rows } = await tx.query<PortalUserRow>(
    'INSERT INTO portal_user (id, firm_id, email, name) VALUES ($1, $2, $3, $4) RETURNING *',
    [user.id, user.firm_id, user.email, user.name],
  );
  return rows[0];
}

/** true when the user was not yet a member of the dossier */
export async function addPortalUserToDossier(tx: Queryable, portalUserId: string, dossierId: string): Promise<boolean> {
  const { rowCount } = await tx.query(
    'INSERT INTO portal_user_dossier (portal_user_id, dossier_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
    [portalUserId, dossierId],
  );
  return rowCount > 0;
}

/**
 * A dossier's portal users (not removed) by lower(name), then id; at most `limit` after the given key and id
 * (no limit: all of them).
 */
export const listPortalUsersOfDossier = (db: Queryable, dossierId: string, page: NamePage = {}) =>
  pageByName<PortalUserView>(
    db,
    {
      columns: 'u.*, m.profile',
      from: 'portal_user u JOIN portal_user_dossier m ON m.portal_user_id = u.id',
      where: "m.dossier_id = $1 AND u.status <> 'removed'",
      alias: 'u',
      scope: dossierId,
    },
    page,
  );

export async function dossierIdsOfPortalUser(db: Queryable, portalUserId: string): Promise<string[]> {
  const { rows } = await db.query<{ dossier_id: string }>(
    'SELECT dossier_id::text AS dossier_id FROM portal_user_dossier WHERE portal_user_id = $1 ORDER BY added_at, dossier_id',
    [portalUserId],
  );
  return rows.map((row) => row.dossier_id);
}

export async function updatePortalUser(
  tx: Queryable,
  id: string,
  changes: Partial<
    Pick<PortalUserRow, 'status' | 'password_hash' | 'must_change_password' | 'terms_version' | 'terms_accepted_at'>
  >,
): Promise<PortalUserRow> {
  const columns = Object.keys(changes) as Array<keyof typeof changes>;
  const { rows } = await tx.query<PortalUserRow>(
    `UPDATE portal_user SET ${columns.map((column, index) => `${column} = $${index + 2}`).join(', ')} WHERE id = $1 RETURNING *`,
    [id, ...columns.map((column) => changes[column])],
  );
  return rows[0];
}
