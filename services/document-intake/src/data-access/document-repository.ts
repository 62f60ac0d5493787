import { decodeCursor, isPostgresTime, pageOfRows, type Queryable } from '@kantoor/database';

export type MailboxName = 'purchase' | 'sales' | 'misc';
export type DocumentStatus = 'draft' | 'sent' | 'processed';

export interface InvoiceFields {
  supplierName: string;
  supplierVatNumber: string;
  invoiceNumber: string;
  issueDate: string;
  total: string;
  currency: string;
  kind: string;
  syntax: string;
}

export interface DocumentRow {
  id: string;
  firm_id: string;
  dossier_id: string;
  mailbox: MailboxName | null;
  name: string;
  created_at: Date;
  type: 'pdf' | 'ubl';
  original_format: 'pdf' | 'jpeg' | 'xml';
  channel: string;
  pages: number;
  paid: boolean;
  remark: string;
  status: DocumentStatus;
  sent_at: Date | null;
  processed_at: Date | null;
  deleted_at: Date | null;
  original_key: string;
  original_size: string | number;
  original_sha256: string;
  pdf_key: string | null;
  pdf_size: string | number | null;
  sender_email: string | null;
  created_by: string;
  invoice: InvoiceFields | null;
}

export type NewDocument = Omit<
  DocumentRow,
  'created_at' | 'paid' | 'remark' | 'sent_at' | 'processed_at' | 'deleted_at'
> & {
  sent_at?: Date | null;
};

export async function insertDocument(tx: Queryable, doc: NewDocument): Promise<DocumentRow> {
  const { rows } = await tx.query<DocumentRow>(
    `INSERT INTO document (id, firm_id, dossier_id, mailbox, name, type, original_format, channel, pages, status, sent_at,
       original_key, original_size, original_sha256, pdf_key, pdf_size, sender_email, created_by, invoice)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19) RETURNING *`,
    [
      doc.id,
      doc.firm_id,
      doc.dossier_id,
      doc.mailbox,
      doc.name,
      doc.type,
      doc.original_format,
      doc.channel,
      doc.pages,
      doc.status,
      doc.sent_at ?? null,
      doc.original_key,
      doc.original_size,
      doc.original_sha256,
      doc.pdf_key,
      doc.pdf_size,
      doc.sender_email,
      doc.created_by,
      doc.invoice ? JSON.stringify(doc.invoice) : null,
    ],
  );
  return rows[0];
}

export async function findDocument(db: Queryable, id: string, forUpdate = false): Promise<DocumentRow | undefined> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
  const { rows } = await db.query<DocumentRow>(
    `SELECT * FROM document WHERE id = $1 AND deleted_at IS NULL${forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0];
}

export async function updateDocument(
  tx: Queryable,
  id: string,
  change: Partial<
    Pick<DocumentRow, 'name' | 'mailbox' | 'paid' | 'remark' | 'status' | 'sent_at' | 'processed_at' | 'deleted_at'>
  >,
): Promise<DocumentRow> {
  const entries = Object.entries(change);
  const sets = entries.map(([column], index) => `${column} = $${index + 2}`).join(', ');
  const { rows } = await tx.query<DocumentRow>(`UPDATE document SET ${sets} WHERE id = $1 RETURNING *`, [
    id,
    ...entries.map(([, value]) => value),
  ]);
  return rows[0];
}

export interface DocumentFilter {
  dossierId: string;
  /** undefined: every mailbox; null: unsorted */
  mailbox?: MailboxName | null;
  statuses?: DocumentStatus[];
  search?: string;
  channel?: string;
  type?: string;
  createdFrom?: Date;
  createdTo?: Date;
  pageSize: number;
  cursor?: string;
}

/** The position a page starts after, from the cursor the previous page ended with. */
const positionOf = (cursor: string) => decodeCursor(cursor, isPostgresTime);

/** A page of rows read with one more than it holds; the cursor keeps the row's `position` (its time as text). */
const pageOf = <T extends { id: string; position: string }>(rows: T[], pageSize: number) =>
  pageOfRows(rows, pageSize, (row) => [row.position, row.id]);

/** One page of a mailbox, newest first; `nextCursor` empty on the last page. */
export async function listDocuments(db: Queryable, filter: DocumentFilter) {
  const where = ['dossier_id = $1', 'deleted_at IS NULL'];
  const params: unknown[] = [filter.dossierId];
  const add = (clause: (p: string) => string, value: unknown) => {
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  if (filter.mailbox === null) where.push('mailbox IS NULL');
  else if (filter.mailbox) add((p) => `mailbox = ${p}`, filter.mailbox);
  if (filter.statuses?.length) add((p) => `status = ANY(${p}::text[])`, filter.statuses);
  if (filter.search)
    add(
      (p) => `lower(name) LIKE ${p} ESCAPE '\\'`,
      `%${filter.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`,
    );
  if (filter.channel) add((p) => `channel = ${p}`, filter.channel);
  if (filter.type) add((p) => `type = ${p}`, filter.type);
  if (filter.createdFrom) add((p) => `created_at >= ${p}`, filter.createdFrom);
  if (filter.createdTo) add((p) => `created_at < ${p}`, filter.createdTo);
  if (filter.cursor) {
    const after = positionOf(filter.cursor);
    params.push(after.key, after.id);
    where.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  params.push(filter.pageSize + 1);
  const { rows } = await db.query<DocumentRow & { position: string }>(
    `SELECT *, created_at::text AS position FROM document WHERE ${where.join(' AND ')}
     ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  const page = pageOf(rows, filter.pageSize);
  return { documents: page.rows, nextCursor: page.nextCursor };
}

/** Everything sent and still to process, in a stable order (mailbox, type, creation). */
export async function documentsToProcess(db: Queryable, dossierId: string): Promise<DocumentRow[]> {
  const { rows } = await db.query<DocumentRow>(
    `SELECT * FROM document WHERE dossier_id = $1 AND deleted_at IS NULL AND status = 'sent' AND mailbox IS NOT NULL
     ORDER BY mailbox, type, created_at, id`,
    [dossierId],
  );
  return rows;
}

export async function countsPerMailbox(db: Queryable, dossierIds: string[]) {
  const { rows } = await db.query<{
    dossier_id: string;
    mailbox: MailboxName | null;
    status: DocumentStatus;
    count: string;
  }>(
    `SELECT dossier_id, mailbox, status, count(*) AS count FROM document
     WHERE deleted_at IS NULL AND status IN ('draft', 'sent') ${dossierIds.length ? 'AND dossier_id = ANY($1::uuid[])' : ''}
     GROUP BY dossier_id, mailbox, status ORDER BY dossier_id`,
    dossierIds.length ? [dossierIds] : [],
  );
  return rows.map((row) => ({ ...row, count: Number(row.count) }));
}

export async function insertRefusedFile(
  tx: Queryable,
  refused: {
    id: string;
    firmId: string;
    dossierId: string;
    fileName: string;
    channel: string;
    reason: string;
    message: string;
    senderEmail?: string;
  },
) {
  await tx.query(
    `INSERT INTO refused_file (id, firm_id, dossier_id, file_name, channel, reason, message, sender_email) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
    [
      refused.id,
      refused.firmId,
      refused.dossierId,
      refused.fileName,
      refused.channel,
      refused.reason,
      refused.message,
      refused.senderEmail ?? null,
    ],
  );
}

export interface RefusedFileRow {
  id: string;
  file_name: string;
  channel: string;
  reason: string;
  message: string;
  sender_email: string | null;
  received_at: Date;
}

/** One page of a dossier's refused files, newest first; `nextCursor` empty on the last page. */
export async function refusedFiles(db: Queryable, dossierId: string, page: { pageSize: number; cursor?: string }) {
  const after = page.cursor ? positionOf(page.cursor) : undefined;
  const { rows } = await db.query<RefusedFileRow & { position: string }>(
    `SELECT *, received_at::text AS position FROM refused_file
     WHERE dossier_id = $1 AND ($2::timestamptz IS NULL OR (received_at, id) < ($2::timestamptz, $3::uuid))
     ORDER BY received_at DESC, id DESC LIMIT $4`,
    [dossierId, after?.key ?? null, after?.id ?? null, page.pageSize + 1],
  );
  const result = pageOf(rows, page.pageSize);
  return { refused: result.rows, nextCursor: result.nextCursor };
}

export async function recordAudit(
  tx: Queryable,
  entry: {
    firmId: string;
    dossierId: string;
    actorKind: string;
    actorId: string;
    onBehalfOf?: string;
    action: string;
    subjectId: string;
    details?: object;
  },
) {
  await tx.query(
    `INSERT INTO audit_log (firm_id, dossier_id, actor_kind, actor_id, on_behalf_of, action, subject_id, details) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
    [
      entry.firmId,
      entry.dossierId,
      entry.actorKind,
      entry.actorId,
      entry.onBehalfOf ?? null,
      entry.action,
      entry.subjectId,
      JSON.stringify(entry.details ?? {}),
    ],
  );
}
