import type { Queryable } from '@kantoor/database';
import type { AccessFacts, AccessFactsQuery, Role } from '@kantoor/access-policy';
import { isUuid } from './ids';

interface AccessRow {
  only_admins_add_clients: boolean;
  subject_status: string | null;
  subject_role: Role | null;
  must_change_password: boolean | null;
  terms_version: string | null;
  dossier_id?: string | null;
  dossier_firm_id?: string | null;
  status?: 'new' | 'active' | 'deactivated' | null;
  file_manager_id?: string | null;
  client_group_id?: string | null;
  assigned?: string[] | null;
  portal_users?: string[] | null;
}

// $1 firm, $2 subject kind ('' for callers that are not people), $3 subject id
const SUBJECT_COLUMNS = `f.only_admins_add_clients,
       coalesce(subject_staff.status, subject_user.status) AS subject_status, subject_staff.role AS subject_role,
       subject_user.must_change_password, subject_user.terms_version`;
const SUBJECT_JOINS = `LEFT JOIN staff subject_staff
       ON $2 = 'staff' AND subject_staff.id = $3::uuid AND subject_staff.firm_id = f.id
     LEFT JOIN portal_user subject_user
       ON $2 = 'portal_user' AND subject_user.id = $3::uuid AND subject_user.firm_id = f.id`;

const FIRM_ACCESS_SQL = `SELECT ${SUBJECT_COLUMNS}
     FROM firm f ${SUBJECT_JOINS}
     WHERE f.id = $1::uuid`;

// $4 dossier
const DOSSIER_ACCESS_SQL = `SELECT ${SUBJECT_COLUMNS},
       d.id::text AS dossier_id, d.firm_id::text AS dossier_firm_id, d.status, d.file_manager_id::text AS file_manager_id,
       d.client_group_id::text AS client_group_id,
       -- the view dossier_staff_access spelled out per branch, so that each branch uses its index on the dossier
       (SELECT array_agg(DISTINCT a.staff_id::text) FROM (
          SELECT d.file_manager_id AS staff_id
          UNION ALL SELECT c.staff_id FROM dossier_collaborator c WHERE c.dossier_id = d.id
          UNION ALL SELECT m.staff_id FROM dossier_collaborator_group g JOIN staff_group_member m USING (staff_group_id) WHERE g.dossier_id = d.id
          UNION ALL SELECT cs.staff_id FROM client_group_staff cs WHERE cs.client_group_id = d.client_group_id
          UNION ALL SELECT m.staff_id FROM client_group_staff_group cg JOIN staff_group_member m ON m.staff_group_id = cg.staff_group_id
            WHERE cg.client_group_id = d.client_group_id
        ) a JOIN staff s ON s.id = a.staff_id AND s.status = 'active') AS assigned,
       (SELECT array_agg(m.portal_user_id::text) FROM portal_user_dossier m JOIN portal_user u ON u.id = m.portal_user_id
         WHERE m.dossier_id = d.id AND u.status <> 'removed') AS portal_users
     FROM firm f ${SUBJECT_JOINS}
     LEFT JOIN dossier d ON d.id = $4::uuid
     WHERE f.id = $1::uuid`;

/**
 * The facts of the access policy in one round trip: the firm's setting, the subject's standing now and,
 * when asked, the dossier with everyone assigned to it. Undefined when the firm or dossier does not exist.
 */
export async function loadAccessFacts(
  db: Queryable,
  query: AccessFactsQuery,
  termsVersion: string,
): Promise<AccessFacts | undefined> {
  if (!isUuid(query.firmId) || (query.dossierId && !isUuid(query.dossierId))) return undefined;
  // firm-wide permissions (most requests) need no dossier: a small lookup by primary keys
  const { rows } = query.dossierId
    ? await db.query<AccessRow>(DOSSIER_ACCESS_SQL, [...subjectParameters(query), query.dossierId])
    : await db.query<AccessRow>(FIRM_ACCESS_SQL, subjectParameters(query));
  return rows[0] && factsOfRow(rows[0], query, termsVersion);
}

const FIRM_WITH_ACCESS_SQL = `SELECT f.*, ${SUBJECT_COLUMNS}
     FROM firm f ${SUBJECT_JOINS}
     WHERE f.id = $1::uuid`;

/** The firm-wide facts and the firm's own row in the same round trip (reading the firm itself). */
export async function loadFirmWithAccessFacts<Firm>(
  db: Queryable,
  query: AccessFactsQuery,
  termsVersion: string,
): Promise<{ facts: AccessFacts; firm: Firm } | undefined> {
  if (!isUuid(query.firmId) || query.dossierId) return undefined;
  const { rows } = await db.query<AccessRow & Firm>(FIRM_WITH_ACCESS_SQL, subjectParameters(query));
  const row = rows[0];
  if (!row) return undefined;
  const firm = { ...row } as Record<string, unknown>;
  for (const column of SUBJECT_ONLY_COLUMNS) delete firm[column];
  return { facts: factsOfRow(row, query, termsVersion)!, firm: firm as Firm };
}

const SUBJECT_ONLY_COLUMNS = ['subject_status', 'subject_role', 'must_change_password', 'terms_version'];

function isPerson(query: AccessFactsQuery): boolean {
  return (query.subject.kind === 'staff' || query.subject.kind === 'portal_user') && isUuid(query.subject.id);
}

function subjectParameters(query: AccessFactsQuery): unknown[] {
  const person = isPerson(query);
  return [query.firmId, person ? query.subject.kind : '', person ? query.subject.id : null];
}

function factsOfRow(row: AccessRow, query: AccessFactsQuery, termsVersion: string): AccessFacts | undefined {
  const facts: AccessFacts = { firm: { firmId: query.firmId, onlyAdminsAddClients: row.only_admins_add_clients } };
  if (isPerson(query)) {
    facts.subject = { active: row.subject_status === 'active', role: row.subject_role ?? undefined };
    if (query.subject.kind === 'portal_user') {
      facts.subject.mustChangePassword = row.must_change_password === true;
      facts.subject.mustAcceptTerms = row.terms_version !== termsVersion;
    }
  }
  if (query.dossierId) {
    if (!row.dossier_id) return undefined;
    facts.dossier = {
      dossierId: row.dossier_id,
      firmId: row.dossier_firm_id!,
      status: row.status!,
      fileManagerId: row.file_manager_id ?? undefined,
      clientGroupId: row.client_group_id ?? undefined,
      assignedStaffIds: row.assigned ?? [],
      portalUserIds: row.portal_users ?? [],
    };
  }
  return facts;
}
