import type { Queryable } from '@kantoor/database';
import type { SortedRow } from './sorted-row';
import type { DossierStatus } from '@kantoor/access-policy';
import type { ContactInfo } from './firm-repository';

export interface ContactPerson {
  name: string;
  email?: string;
  phone?: string;
  function?: string;
}

export interface WhitelistedSender {
  email: string;
  autoSend: boolean;
}

export interface DossierRow {
  id: string;
  firm_id: string;
  code: string;
  name: string;
  country: 'BE' | 'NL';
  enterprise_number: string;
  language: 'nl' | 'fr' | 'en';
  status: DossierStatus;
  file_manager_id: string | null;
  client_group_id: string | null;
  contact: ContactInfo;
  contact_persons: ContactPerson[];
  sender_whitelist: WhitelistedSender[];
  created_at: Date;
  activated_at: Date | null;
  deactivated_at: Date | null;
}

export type DossierView = DossierRow & {
  collaborator_staff_ids: string[];
  collaborator_group_ids: string[];
  intake_domain: string;
};

const DOSSIER_COLUMNS = `SELECT d.*, f.intake_domain,
  COALESCE((SELECT array_agg(c.staff_id::text ORDER BY c.staff_id) FROM dossier_collaborator c WHERE c.dossier_id = d.id), '{}') AS collaborator_staff_ids,
  COALESCE((SELECT array_agg(c.staff_group_id::text ORDER BY c.staff_group_id) FROM dossier_collaborator_group c WHERE c.dossier_id = d.id), '{}') AS collaborator_group_ids`;
const DOSSIER_FROM = 'FROM dossier d JOIN firm f ON f.id = d.firm_id';
const DOSSIER_VIEW = `${DOSSIER_COLUMNS} ${DOSSIER_FROM}`;

export async function insertDossier(
  tx: Queryable,
  dossier: Pick<
    DossierRow,
    'id' | 'firm_id' | 'code' | 'name' | 'country' | 'enterprise_number' | 'language' | 'contact' | 'contact_persons'
  >,
): Promise<void> {
  await tx.query(
    `INSERT INTO dossier (id, firm_id, code, name, country, enterprise_number, language, contact, contact_persons)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      dossier.id,
      dossier.firm_id,
      dossier.code,
      dossier.name,
      dossier.country,
      dossier.enterprise_number,
      dossier.language,
      JSON.stringify(dossier.contact),
      JSON.stringify(dossier.contact_persons),
    ],
  );
}

export async function findDossier(
  db: Queryable,
  firmId: string,
  dossierId: string,
  options: { lock?: boolean } = {},
): Promise<DossierView | undefined> {
  if (options.lock)
    await db.query('SELECT id FROM dossier WHERE firm_id = $1 AND id = $2 FOR UPDATE', [firmId, dossierId]);
  return (await db.query<DossierView>(`${DOSSIER_VIEW} WHERE d.firm_id = $1 AND d.id = $2`, [firmId, dossierId]))
    .rows[0];
}

type DossierChanges = Partial<
  Pick<
    DossierRow,
    | 'name'
    | 'language'
    | 'status'
    | 'file_manager_id'
    | 'client_group_id'
    | 'contact'
    | 'contact_persons'
    | 'sender_whitelist'
    | 'activated_at'
    | 'deactivated_at'
  >
>;
const JSON_COLUMNS = new Set(['contact', 'contact_persons', 'sender_whitelist']);

/** Every column but the code: the dossier code never changes after creation. */
export async function updateDossier(tx: Queryable, dossierId: string, changes: DossierChanges): Promise<void> {
  const columns = Object.keys(changes) as Array<keyof DossierChanges>;
  if (columns.length === 0) return;
  await tx.query(
    `UPDATE dossier SET ${columns.map((column, index) => `${column} = $${index + 2}`).join(', ')} WHERE id = $1`,
    [
      dossierId,
      ...columns.map((column) => (JSON_COLUMNS.has(column) ? JSON.stringify(changes[column]) : changes[column])),
    ],
  );
}

export async function replaceCollaborators(
  tx: Queryable,
  dossierId: string,
  staffIds?: readonly string[],
  groupIds?: readonly string[],
): Promise<void> {
  if (staffIds) {
    await tx.query('DELETE FROM dossier_collaborator WHERE dossier_id = $1', [dossierId]);
    for (const staffId of new Set(staffIds))
      await tx.query('INSERT INTO dossier_collaborator (dossier_id, staff_id) VALUES ($1, $2)', [dossierId, staffId]);
  }
  if (groupIds) {
    await tx.query('DELETE FROM dossier_collaborator_group WHERE dossier_id = $1', [dossierId]);
    for (const groupId of new Set(groupIds)) {
      await tx.query('INSERT INTO dossier_collaborator_group (dossier_id, staff_group_id) VALUES ($1, $2)', [
        dossierId,
        groupId,
      ]);
    }
  }
}

export async function addCollaborator(tx: Queryable, dossierId: string, staffId: string): Promise<void> {
  await tx.query('INSERT INTO dossier_collaborator (dossier_id, staff_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
    dossierId,
    staffId,
  ]);
}

export interface DossierListing {
  firmId: string;
  /** who looks: admins and API keys see all, other staff their assignments, portal users their dossiers */
  visibility:
    | { kind: 'all' }
    | { kind: 'staff'; staffId: string }
    | { kind: 'portal_user'; portalUserId: string; dossierId?: string };
  status?: string;
  search?: string;
  fileManagerId?: string;
  clientGroupId?: string;
  /**
   * Only the dossiers this staff member is assigned to, by the access policy's rule (DOSSIER_ACCESS_SQL): file
   * manager, collaborator, in a collaborating staff group, staff of the client group or in one of its staff
   * groups; and only while the staff member is active.
   */
  assignedStaffId?: string;
  /** the previous page's last row: its lower(name) as the database computed it, and its id */
  after?: { key: string; id: string };
  limit: number;
}

/**
 * One page in the order (lower(name), id), which is unique and therefore stable: the cursor is the last
 * row's sort key, so rows inserted or removed meanwhile never shift a page.
 */
export async function listDossiers(db: Queryable, listing: DossierListing): Promise<Array<SortedRow<DossierView>>> {
  const params: unknown[] = [listing.firmId];
  const where = ['d.firm_id = $1'];
  const add = (sql: (placeholder: string) => string, value: unknown) => {
    params.push(value);
    where.push(sql(`$${params.length}`));
  };
  const visibility = listing.visibility;
  if (visibility.kind === 'staff') {
    add((p) => `d.id IN (SELECT a.dossier_id FROM dossier_staff_access a WHERE a.staff_id = ${p})`, visibility.staffId);
  } else if (visibility.kind === 'portal_user') {
    add(
      (p) => `d.id IN (SELECT m.dossier_id FROM portal_user_dossier m WHERE m.portal_user_id = ${p})`,
      visibility.portalUserId,
    );
    where.push(`d.status = 'active'`);
    if (visibility.dossierId) add((p) => `d.id = ${p}`, visibility.dossierId);
  }
  if (listing.status) add((p) => `d.status = ${p}`, listing.status);
  if (listing.fileManagerId) add((p) => `d.file_manager_id = ${p}`, listing.fileManagerId);
  if (listing.clientGroupId) add((p) => `d.client_group_id = ${p}`, listing.clientGroupId);
  if (listing.assignedStaffId)
    add(
      (p) => `d.id IN (SELECT a.dossier_id FROM dossier_staff_access a
        JOIN staff s ON s.id = a.staff_id AND s.status = 'active' WHERE a.staff_id = ${p})`,
      listing.assignedStaffId,
    );
  if (listing.search) {
    const pattern = `%${listing.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    add((p) => `(lower(d.name) LIKE ${p} OR lower(d.code) LIKE ${p} OR d.enterprise_number LIKE ${p})`, pattern);
  }
  if (listing.after) {
    params.push(listing.after.key, listing.after.id);
    where.push(`(lower(d.name), d.id) > ($${params.length - 1}, $${params.length}::uuid)`);
  }
  params.push(listing.limit);
  const { rows } = await db.query<SortedRow<DossierView>>(
    `${DOSSIER_COLUMNS}, lower(d.name) AS sort_key ${DOSSIER_FROM}
      WHERE ${where.join(' AND ')} ORDER BY lower(d.name), d.id LIMIT $${params.length}`,
    params,
  );
  return rows;
}
