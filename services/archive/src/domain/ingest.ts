import { failedPrecondition, invalidArgument } from '@kantoor/errors';
import type { Queryable } from '@kantoor/database';
import type { ObjectStore } from '@kantoor/object-storage';
import { saveDocumentForIngest, saveObject, type NewDocument, type ObjectRow } from '../data-access/archive-repository';
import { DEFAULT_RETENTION, describeRetention, retainUntilFor } from './retention';
import { copyIntoArchive } from './write-once-copy';

export interface ArchiveStores {
  /** the write-once store (S3 Object Lock on MinIO) */
  archive: ObjectStore;
  /** the store a publishing service wrote the object to (document-intake, invoicing ...) */
  sourceStore(source: string): Promise<ObjectStore>;
}

export interface IncomingObject {
  role: string;
  sourceKey: string;
  sha256: string;
  contentType: string;
}

export type IncomingDocument = NewDocument & { objects: IncomingObject[] };

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * Where an object lives in the archive store: one folder per firm, dossier and source; the object is named
 * after its document and role ("~" appears in neither), so that archiving a document makes no folder of its own
 * (on the folder store every new folder costs an inode and a flush). Objects archived before keep the key their
 * row records (`<document>/<role>`).
 */
export function archiveKey(
  doc: { firm_id: string; dossier_id: string; source: string; document_id: string },
  role: string,
) {
  for (const [field, value] of Object.entries({ source: doc.source, documentId: doc.document_id, role })) {
    if (!SEGMENT.test(value))
      throw invalidArgument(`${field} "${value}" must be letters, digits, dots, dashes or underscores.`, {
        reason: 'invalid_archive_object',
        violations: [{ field, message: 'letters, digits, dots, dashes or underscores, at most 100' }],
      });
  }
  return `${doc.firm_id}/${doc.dossier_id}/${doc.source}/${doc.document_id}~${role}`;
}

/** A repeated ingest is the same object only with the same bytes: another checksum is a conflict, not a no-op. */
function refuseOtherChecksum(doc: IncomingDocument, known: ObjectRow, announced: string) {
  if (!announced || announced.toLowerCase() === known.sha256) return;
  throw failedPrecondition(
    `Object "${known.role}" of ${doc.source} document ${doc.document_id} is archived with SHA-256 ${known.sha256}, ` +
      `not the announced ${announced}; archived objects never change, so nothing was changed.`,
    { reason: 'archived_object_differs' },
  );
}

/**
 * Records a document and copies each of its objects into the write-once store, locked until the date its
 * firm's retention policy gives. Repeating it (a redelivered event) adds nothing: objects already recorded
 * are skipped, a copy whose record was lost is checked and recorded.
 */
export async function ingestDocument(
  tx: Queryable,
  stores: ArchiveStores,
  doc: IncomingDocument,
): Promise<{ objects: ObjectRow[]; created: number }> {
  // one round trip for the document, its firm's policy and what is already recorded (a redelivery)
  const recorded = await saveDocumentForIngest(tx, doc);
  const policy = recorded.policy ?? DEFAULT_RETENTION;
  const retainUntil = retainUntilFor(doc.document_date, policy);
  const objects: ObjectRow[] = [];
  let created = 0;
  for (const object of doc.objects) {
    const known = recorded.known.find((row) => row.role === object.role);
    if (known) {
      refuseOtherChecksum(doc, known, object.sha256);
      objects.push(known);
      continue;
    }
    const key = archiveKey(doc, object.role);
    const copied = await copyIntoArchive({
      from: await stores.sourceStore(doc.source),
      fromKey: object.sourceKey,
      to: stores.archive,
      toKey: key,
      sha256: object.sha256,
      contentType: object.contentType,
      retainUntil,
    });
    const { dossier_held: dossierHeld, ...row } = await saveObject(tx, {
      source: doc.source,
      document_id: doc.document_id,
      firm_id: doc.firm_id,
      dossier_id: doc.dossier_id,
      role: object.role,
      key,
      source_key: object.sourceKey,
      sha256: copied.sha256,
      size: String(copied.size),
      content_type: object.contentType || 'application/octet-stream',
      retain_until: retainUntil,
      retention_rule: describeRetention(policy, doc.document_date),
    });
    // the dossier is under legal hold: the store holds the new object too
    if (dossierHeld) await stores.archive.setLegalHold(key, true);
    objects.push(row);
    created++;
  }
  return { objects, created };
}
