/** The access facts of each call naming a dossier, from the directory (GetDossierAccess), never cached. */
import { checkAccess, type AccessFacts, type FetchAccessFacts } from '@kantoor/access-policy';
import { unavailable } from '@kantoor/errors';
import { createServiceClient, systemCaller, type ServiceClient } from '@kantoor/grpc';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import type { AccessGuard } from '../domain/ports';

export function directoryFacts(
  client: Pick<ServiceClient<typeof DirectoryService>, 'getDossierAccess'>,
): FetchAccessFacts {
  return async (query) => {
    const answer = await client.getDossierAccess(
      {
        firmId: query.firmId,
        dossierId: query.dossierId ?? '',
        subjectKind: query.subject.kind,
        subjectId: query.subject.id,
      },
      { caller: systemCaller('archive', query.firmId), timeoutMs: 3000 },
    );
    if (!answer.found) return undefined;
    const facts: AccessFacts = { firm: { firmId: answer.firmId, onlyAdminsAddClients: answer.onlyAdminsAddClients } };
    if (answer.subjectKnown)
      facts.subject = {
        active: answer.subjectActive,
        role: (answer.subjectRole || undefined) as 'admin' | 'employee' | 'support' | undefined,
        mustChangePassword: answer.subjectMustChangePassword,
        mustAcceptTerms: answer.subjectMustAcceptTerms,
      };
    if (answer.dossier)
      facts.dossier = {
        dossierId: answer.dossier.dossierId,
        firmId: answer.dossier.firmId,
        status: answer.dossier.status as 'new' | 'active' | 'deactivated',
        fileManagerId: answer.dossier.fileManagerId || undefined,
        clientGroupId: answer.dossier.clientGroupId || undefined,
        assignedStaffIds: answer.dossier.assignedStaffIds,
        portalUserIds: answer.dossier.portalUserIds,
      };
    return facts;
  };
}

export const guardWith =
  (fetchFacts: FetchAccessFacts): AccessGuard =>
  (actor, permission, dossierId) =>
    checkAccess(fetchFacts, actor, permission, dossierId);

export function directoryGuard(address: string | undefined): { guard: AccessGuard; close(): void } {
  if (!address)
    return {
      // without a directory no access can be checked: everyone but the platform itself is refused
      guard: async (actor) => {
        if (actor.kind !== 'system')
          throw unavailable('The directory is not configured (DIRECTORY_ADDRESS).', {
            reason: 'directory_unavailable',
          });
        return { firm: { firmId: actor.firmId, onlyAdminsAddClients: false } };
      },
      close: () => undefined,
    };
  const client = createServiceClient(DirectoryService, address);
  return { guard: guardWith(directoryFacts(client)), close: () => client.close() };
}
