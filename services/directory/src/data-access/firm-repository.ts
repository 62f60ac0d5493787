import type { Queryable } from '@kantoor/database';
import type { Language, Role } from '../domain/validation';
import { pageByName, type NamePage } from './sorted-row';

export interface FirmRow {
  id: string;
  name: string;
  functional_email: string;
  language: Language;
  only_admins_add_clients: boolean;
  contact: ContactInfo;
  intake_domain: string;
  created_at: Date;
}

export type ContactInfo = Partial<
  Record<'address' | 'postalCode' | 'city' | 'country' | 'phone' | 'email' | 'website', string>
>;

export interface StaffRow {
  id: string;
  firm_id: string;
  name: string;
  email: string;
  role: Role;
  status: 'invited' | 'active' | 'removed';
  password_hash: string | null;
  created_at: Date;
}

export async function insertFirm(tx: Queryable, firm: Omit<FirmRow, 'created_at' | 'contact'>): Promise<FirmRow> {
  const { rows } = await tx.query<FirmRow>(
    `INSERT INTO firm (id, name, functional_email, language, only_admins_add_clients, intake_domain) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [firm.id, firm.name, firm.functional_email, firm.language, firm.only_admins_add_clients, firm.intake_domain],
  );
  return rows[0];
}

export async function findFirm(db: Queryable, firmId: string): Promise<FirmRow | undefined> {
  const { rows } = await db.query<FirmRow>('SELECT * FROM firm WHERE id = $1', [firmId]);
  return rows[0];
}

export async function insertStaff(tx: Queryable, staff: Omit<StaffRow, 'created_at'>): Promise<StaffRow> {
  const { rows } = await tx.query<StaffRow>(
    `INSERT INTO staff (id, firm_id, name, email, role, status, password_hash) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
    [staff.id, staff.firm_id, staff.name, staff.email, staff.role, staff.status, staff.password_hash],
  );
  return rows[0];
}

export async function findStaffByEmail(db: Queryable, email: string): Promise<StaffRow[]> {
  const { rows } = await db.query<StaffRow>(
    `SELECT * FROM staff WHERE lower(email) = lower($1) AND status <> 'removed'`,
    [email],
  );
  return rows;
}

export async function recordAudit(
  tx: Queryable,
  entry: {
    firmId: string;
    actorKind: string;
    actorId: string;
    onBehalfOf?: string;
    action: string;
    subjectId?: string;
    details?: object;
  },
): Promise<void> {
  await tx.query(
    `INSERT INTO audit_log (firm_id, actor_kind, actor_id, on_behalf_of, action, subject_id, details) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      entry.firmId,
      entry.actorKind,
      entry.actorId,
      entry.onBehalfOf ?? null,
      entry.action,
      entry.subjectId ?? null,
      JSON.stringify(entry.details ?? {}),
    ],
  );
}

/** Locks the firm row: changes to the set of admins queue behind each other, so two cannot both pass the last-admin check. */
export async function lockFirm(tx: Queryable, firmId: string): Promise<FirmRow | undefined> {
  const { rows } = await tx.query<FirmRow>('SELECT * FROM firm WHERE id = $1 FOR UPDATE', [firmId]);
  return rows[0];
}

export async function updateFirm(
  tx: Queryable,
  firmId: string,
  changes: Partial<
    Pick<FirmRow, 'name' | 'functional_email' | 'language' | 'only_admins_add_clients' | 'contact' | 'intake_domain'>
  >,
): Promise<FirmRow> {
  const columns = Object.keys(changes) as Array<keyof typeof changes>;
  const values = columns.map((column) => (column === 'contact' ? JSON.stringify(changes[column]) : changes[column]));
  const assignments = columns.map((column, index) => `${column} = $${index + 2}`);
  const { rows } = await tx.query<FirmRow>(
    assignments.length > 0
      ? `UPDATE firm SET ${assignments.join(', ')} WHERE id = $1 RETURNING *`
      : 'SELECT * FROM firm WHERE id = $1',
    [firmId, ...values],
  );
  return rows[0];
}

const STAFF_COLUMNS = `s.*, COALESCE((SELECT array_agg(m.staff_group_id::text ORDER BY m.staff_group_id) FROM staff_group_member m WHERE m.staff_id = s.id), '{}') AS staff_group_ids`;

export type StaffView = StaffRow & { staff_group_ids: string[] };

/** The firm's staff (not removed) by lower(name), then id: at most `limit` after the given key and id. */
export const listStaff = (db: Queryable, firmId: string, page: NamePage) =>
  pageByName<StaffView>(
    db,
    {
      columns: STAFF_COLUMNS,
      from: 'staff s',
      where: "s.firm_id = $1 AND s.status <> 'removed'",
      alias: 's',
      scope: firmId,
    },
    page,
  );

export async function findStaff(db: Queryable, firmId: string, staffId: string): Promise<StaffView | undefined> {
  const { rows } = await db.query<StaffView>(
    `SELECT ${STAFF_COLUMNS} FROM staff s WHERE s.firm_id = $1 AND s.id = $2 AND s.status <> 'removed'`,
    [firmId, staffId],
  );
  return rows[0];
}

export async function countOtherActiveAdmins(tx: Queryable, firmId: string, staffId: string): Promise<number> {
  const { rows } = await tx.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM staff WHERE firm_id = $1 AND role = 'admin' AND status = 'active' AND id <> $2`,
    [firmId, staffId],
  );
  return rows[0].count;
}

export async function updateStaff(
  tx: Queryable,
  staffId: string,
  changes: Partial<Pick<StaffRow, 'role' | 'status' | 'password_hash'>>,
): Promise<void> {
  const columns = Object.keys(changes) as Array<keyof typeof changes>;
  await tx.query(
    `UPDATE staff SET ${columns.map((column, index) => `${column} = $${index + 2}`).join(', ')} WHERE id = $1`,
    [staffId, ...columns.map((column) => changes[column])],
  );
}

/** Removing someone takes them off every dossier and group at once, so no access lingers. */
export async function detachStaff(tx: Queryable, staffId: string): Promise<void> {
  await tx.query('UPDATE dossier SET file_manager_id = NULL WHERE file_manager_id = $1', [staffId]);
  for (const table of ['dossier_collaborator', 'staff_group_member', 'client_group_staff']) {
    await tx.query(`DELETE FROM ${table} WHERE staff_id = $1`, [staffId]);
  }
}
