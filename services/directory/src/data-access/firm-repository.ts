import type { Queryable } from '@kantoor/database';
import type { Language, Role } from '../domain/validation';

export interface FirmRow {
  id: string;
  name: string;
  functional_email: string;
  language: Language;
  only_admins_add_clients: boolean;
  created_at: Date;
}

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

export async function insertFirm(tx: Queryable, firm: Omit<FirmRow, 'created_at'>): Promise<FirmRow> {
  const { rows } = await tx.query<FirmRow>(
    `INSERT INTO firm (id, name, functional_email, language, only_admins_add_clients) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
    [firm.id, firm.name, firm.functional_email, firm.language, firm.only_admins_add_clients],
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
