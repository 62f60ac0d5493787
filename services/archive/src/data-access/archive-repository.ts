/** SQL of the archive's tables; returns plain rows. */
import type { Queryable } from '@kantoor/database';
import type { RetentionPolicy } from '../domain/retention';

export interface DocumentRow {
  firm_id: string;
  dossier_id: string;
  source: string;
  document_id: string;
  mailbox: string;
  name: string;
  channel: string;
  kind: string;
  document_date: string;
  uploaded_at: Date;
  deleted_at: Date | null;
  source_document_ids: string[];
}

export interface ObjectRow {
  id: string;
  source: string;
  document_id: string;
  firm_id: string;
  dossier_id: string;
  role: string;
  key: string;
  sha256: string;
  size: string;
  content_type: string;
  retain_until: Date;
  retention_rule: string;
  legal_hold: boolean;
  purged_at: Date | null;
}

export type NewDocument = Omit<DocumentRow, 'deleted_at'>;
export type NewObject = Omit<ObjectRow, 'id' | 'legal_hold' | 'purged_at'> & { source_key: string };

const DOCUMENT_COLUMNS = `firm_id, dossier_id, source, document_id, mailbox, name, channel, kind,
  to_char(document_date, 'YYYY-MM-DD') AS document_date, uploaded_at, deleted_at, source_document_ids`;
const OBJECT_COLUMNS = `id::text AS id, source, document_id, firm_id, dossier_id, role, key, sha256, size::text AS size,
  content_type, retain_until, retention_rule, legal_hold, purged_at`;

const DOCUMENT_VALUES = (doc: NewDocument) => [
  doc.firm_id,
  doc.dossier_id,
  doc.source,
  doc.document_id,
  doc.mailbox,
  doc.name,
  doc.channel,
  doc.kind,
  doc.document_date,
  doc.uploaded_at,
  doc.source_document_ids,
];
const INSERT_DOCUMENT = `INSERT INTO archive_document (firm_id, dossier_id, source, document_id, mailbox, name, channel, kind,
    document_date, uploaded_at, source_document_ids)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (source, document_id) DO NOTHING`;

/**
 * Records a document (once) and answers, in the same round trip, what ingesting it needs: the firm's retention
 * policy (undefined: the default) and the objects already recorded for it.
 */
export async function saveDocumentForIngest(
  tx: Queryable,
  doc: NewDocument,
): Promise<{ policy: RetentionPolicy | undefined; known: ObjectRow[] }> {
  const { rows } = await tx.query<Partial<ObjectRow> & { policy_years: number | null; policy_counting: string | null }>(
    `WITH saved AS (${INSERT_DOCUMENT})
     SELECT policy.years AS policy_years, policy.counting AS policy_counting, known.*
     FROM (SELECT 1) one
     LEFT JOIN retention_policy policy ON policy.firm_id = $1
     LEFT JOIN LATERAL (SELECT ${OBJECT_COLUMNS} FROM archive_object WHERE source = $3 AND document_id = $4) known ON true`,
    DOCUMENT_VALUES(doc),
  );
  const [first] = rows;
  const policy =
    first.policy_years === null
      ? undefined
      : { years: first.policy_years, counting: first.policy_counting as RetentionPolicy['counting'] };
  const known = rows
    .filter((row) => row.id !== null)
    .map(({ policy_years: _years, policy_counting: _counting, ...object }) => object as ObjectRow);
  return { policy, known };
}

export async function findDocument(
  tx: Queryable,
  source: string,
  documentId: string,
): Promise<DocumentRow | undefined> {
  const { rows } = await tx.query<DocumentRow>(
    `SELECT ${DOCUMENT_COLUMNS} FROM archive_document WHERE source = $1 AND document_id = $2`,
    [source, documentId],
  );
  return rows[0];
}

/** Records an archived object; `dossier_held` tells, as of this statement, whether its dossier is under legal hold. */
export async function saveObject(tx: Queryable, object: NewObject): Promise<ObjectRow & { dossier_held: boolean }> {
  const { rows } = await tx.query<ObjectRow & { dossier_held: boolean }>(
    `INSERT INTO archive_object (source, document_id, firm_id, dossier_id, role, key, source_key, sha256, size, content_type,
       retain_until, retention_rule)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     RETURNING ${OBJECT_COLUMNS}, EXISTS (SELECT 1 FROM dossier_legal_hold WHERE dossier_id = $4) AS dossier_held`,
    [
      object.source,
      object.document_id,
      object.firm_id,
      object.dossier_id,
      object.role,
      object.key,
      object.source_key,
      object.sha256,
      object.size,
      object.content_type,
      object.retain_until,
      object.retention_rule,
    ],
  );
  return rows[0];
}

export async function findObject(tx: Queryable, id: string): Promise<ObjectRow | undefined> {
  if (!/^\d{1,18}$/.test(id)) return undefined;
  const { rows } = await tx.query<ObjectRow>(`SELECT ${OBJECT_COLUMNS} FROM archive_object WHERE id = $1`, [id]);
  return rows[0];
}

export async function objectsOf(tx: Queryable, documents: Array<{ source: string; document_id: string }>) {
  if (documents.length === 0) return [];
  const { rows } = await tx.query<ObjectRow>(
    `SELECT ${OBJECT_COLUMNS} FROM archive_object
     WHERE (source, document_id) IN (SELECT * FROM unnest($1::text[], $2::text[])) ORDER BY id`,
    [documents.map((doc) => doc.source), documents.map((doc) => doc.document_id)],
  );
  return rows;
}

export async function markDeleted(tx: Queryable, documentId: string, at: Date, by: string): Promise<boolean> {
  const { rowCount } = await tx.query(
    `UPDATE archive_document SET deleted_at = COALESCE(deleted_at, $2), deleted_by = COALESCE(deleted_by, $3)
     WHERE source = 'document-intake' AND document_id = $1`,
    [documentId, at, by],
  );
  return (rowCount ?? 0) > 0;
}

export async function updateDocument(tx: Queryable, documentId: string, change: { name?: string; mailbox?: string }) {
  const { rowCount } = await tx.query(
    `UPDATE archive_document SET name = COALESCE($2, name), mailbox = COALESCE($3, mailbox)
     WHERE source = 'document-intake' AND document_id = $1`,
    [documentId, change.name ?? null, change.mailbox ?? null],
  );
  return (rowCount ?? 0) > 0;
}

/** Records which documents replaced the sources (split, merge); answers the sources that are archived. */
export async function recordReplacement(tx: Queryable, sourceIds: string[], resultIds: string[]): Promise<string[]> {
  const { rows } = await tx.query<{ document_id: string }>(
    `UPDATE archive_document SET replaced_by = ARRAY(SELECT DISTINCT unnest(replaced_by || $2::text[]))
     WHERE source = 'document-intake' AND document_id = ANY($1::text[]) RETURNING document_id`,
    [sourceIds, resultIds],
  );
  return rows.map((row) => row.document_id);
}

export interface SearchFilter {
  dossierId: string;
  mailbox?: string;
  documentDateFrom?: string;
  documentDateTo?: string;
  uploadedFrom?: Date;
  uploadedTo?: Date;
  name?: string;
  channel?: string;
  deleted: 'live' | 'deleted' | 'all';
}

export interface SearchCursor {
  /** the upload time as PostgreSQL writes it (`uploaded_at::text`): a Date would drop its microseconds */
  uploadedAt: string;
  source: string;
  documentId: string;
}

/** A document of a search page, with where the next page starts after it. */
export type FoundDocument = DocumentRow & { position: string };

export const cursorAfter = (document: FoundDocument): SearchCursor => ({
  uploadedAt: document.position,
  source: document.source,
  documentId: document.document_id,
});

/** One page, newest upload first; keyset pagination so page 1,000 costs what page 1 costs. */
export async function searchDocuments(
  db: Queryable,
  filter: SearchFilter,
  limit: number,
  after?: SearchCursor,
): Promise<FoundDocument[]> {
  const conditions = ['dossier_id = $1'];
  const params: unknown[] = [filter.dossierId];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    conditions.push(sql.replace('?', `$${params.length}`));
  };
  if (filter.mailbox) add('mailbox = ?', filter.mailbox);
  if (filter.documentDateFrom) add('document_date >= ?::date', filter.documentDateFrom);
  if (filter.documentDateTo) add('document_date <= ?::date', filter.documentDateTo);
  if (filter.uploadedFrom) add('uploaded_at >= ?', filter.uploadedFrom);
  if (filter.uploadedTo) add('uploaded_at <= ?', filter.uploadedTo);
  if (filter.name) add(`lower(name) LIKE ? ESCAPE '\\'`, `%${filter.name.toLowerCase().replace(/[\\%_]/g, '\\$&')}%`);
  if (filter.channel) add('channel = ?', filter.channel);
  if (filter.deleted === 'live') conditions.push('deleted_at IS NULL');
  if (filter.deleted === 'deleted') conditions.push('deleted_at IS NOT NULL');
  if (after) {
    params.push(after.uploadedAt, after.source, after.documentId);
    const n = params.length;
    conditions.push(`(uploaded_at, source, document_id) < ($${n - 2}::timestamptz, $${n - 1}, $${n})`);
  }
  params.push(limit);
  const { rows } = await db.query<FoundDocument>(
    `SELECT ${DOCUMENT_COLUMNS}, uploaded_at::text AS position FROM archive_document WHERE ${conditions.join(' AND ')}
     ORDER BY uploaded_at DESC, source DESC, document_id DESC LIMIT $${params.length}`,
    params,
  );
  return rows;
}

export async function retentionPolicyOf(db: Queryable, firmId: string): Promise<RetentionPolicy | undefined> {
  const { rows } = await db.query<RetentionPolicy>('SELECT years, counting FROM retention_policy WHERE firm_id = $1', [
    firmId,
  ]);
  return rows[0];
}

export async function saveRetentionPolicy(db: Queryable, firmId: string, policy: RetentionPolicy, by: string) {
  await db.query(
    `INSERT INTO retention_policy (firm_id, years, counting, updated_by) VALUES ($1, $2, $3, $4)
     ON CONFLICT (firm_id) DO UPDATE SET years = $2, counting = $3, updated_by = $4, updated_at = now()`,
    [firmId, policy.years, policy.counting, by],
  );
}

export async function audit(
  tx: Queryable,
  entry: {
    firmId: string;
    dossierId?: string;
    actorKind: string;
    actorId: string;
    onBehalfOf?: string;
    action: string;
    subjectId?: string;
    details?: object;
  },
): Promise<void> {
  await tx.query(
    `INSERT INTO audit_log (firm_id, dossier_id, actor_kind, actor_id, on_behalf_of, action, subject_id, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      entry.firmId || null,
      entry.dossierId ?? null,
      entry.actorKind,
      entry.actorId,
      entry.onBehalfOf ?? null,
      entry.action,
      entry.subjectId ?? null,
      JSON.stringify(entry.details ?? {}),
    ],
  );
}
