import type { Database } from '@kantoor/database';
import { failedPrecondition, permissionDenied } from '@kantoor/errors';
import type { Caller } from '@kantoor/grpc';
import { recordChange } from '../data-access/audit';
import { listPortalUsersOfDossier } from '../data-access/portal-user-repository';
import { authorize } from './access';

/**
 * Staff with access to a dossier open the client portal as one of its portal users. The gateway turns the
 * answer into a token carrying both identities; every action with it is recorded with both. Portal users
 * can never impersonate, nor can someone already impersonating.
 */
export async function startImpersonation(db: Database, caller: Caller, dossierId: string, portalUserId?: string) {
  if (caller.kind !== 'staff' || caller.impersonation) {
    throw permissionDenied('Only staff, from the accountant view, can open the client portal as the client', {
      reason: 'impersonation_not_allowed',
    });
  }
  await authorize(db, caller, 'impersonation:start', dossierId);
  const users = (await listPortalUsersOfDossier(db, dossierId)).filter((user) => user.status === 'active');
  const user = portalUserId ? users.find((candidate) => candidate.id === portalUserId) : users[0];
  if (!user) throw failedPrecondition('This dossier has no active portal user to act as', { reason: 'no_portal_user' });
  await db.transaction((tx) =>
    recordChange(tx, caller, {
      firmId: caller.firmId,
      dossierId,
      action: 'impersonation.started',
      subjectId: user.id,
      details: { portalUserId: user.id },
    }),
  );
  return { dossierId, portalUserId: user.id, portalUserEmail: user.email };
}
