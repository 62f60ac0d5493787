import type { Queryable } from '@kantoor/database';
import type { Caller } from '@kantoor/grpc';

/**
 * Who did it and, while staff act as a client, on whose behalf: both identities on every change (spec 01,
 * impersonation; spec 10, "every change records who did it").
 */
export async function recordChange(
  tx: Queryable,
  caller: Caller,
  entry: { firmId: string; dossierId?: string; action: string; subjectId?: string; details?: object },
): Promise<void> {
  await tx.query(
    `INSERT INTO audit_log (firm_id, dossier_id, actor_kind, actor_id, on_behalf_of, action, subject_id, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      entry.firmId,
      entry.dossierId ?? null,
      caller.kind,
      caller.subjectId,
      caller.impersonation ? `portal_user:${caller.impersonation.portalUserId}` : null,
      entry.action,
      entry.subjectId ?? null,
      JSON.stringify(entry.details ?? {}),
    ],
  );
}
