/**
 * The directory's access facts (GetDossierAccess) in the shape the access policy decides on. One mapping for
 * every caller of the policy: the gateway before routing, and each service on every call naming a dossier.
 */
import type { AccessFacts, FetchAccessFacts } from '@kantoor/access-policy';
import { systemCaller, type ServiceClient } from '@kantoor/grpc';
import type { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';

export function directoryAccessFacts(
  directory: Pick<ServiceClient<typeof DirectoryService>, 'getDossierAccess'>,
  options: { asService: string; timeoutMs?: number },
): FetchAccessFacts {
  return async (query) => {
    const answer = await directory.getDossierAccess(
      {
        firmId: query.firmId,
        dossierId: query.dossierId ?? '',
        subjectKind: query.subject.kind,
        subjectId: query.subject.id,
      },
      { caller: systemCaller(options.asService, query.firmId), timeoutMs: options.timeoutMs ?? 3000 },
    );
    if (!answer.found) return undefined;
    const facts: AccessFacts = { firm: { firmId: answer.firmId, onlyAdminsAddClients: answer.onlyAdminsAddClients } };
    if (answer.subjectKnown) {
      facts.subject = {
        active: answer.subjectActive,
        role: (answer.subjectRole || undefined) as 'admin' | 'employee' | 'support' | undefined,
        mustChangePassword: answer.subjectMustChangePassword,
        mustAcceptTerms: answer.subjectMustAcceptTerms,
      };
    }
    const dossier = answer.dossier;
    if (dossier) {
      facts.dossier = {
        dossierId: dossier.dossierId,
        firmId: dossier.firmId,
        status: dossier.status as 'new' | 'active' | 'deactivated',
        fileManagerId: dossier.fileManagerId || undefined,
        clientGroupId: dossier.clientGroupId || undefined,
        assignedStaffIds: dossier.assignedStaffIds,
        portalUserIds: dossier.portalUserIds,
      };
    }
    return facts;
  };
}
export * from './access-facts-cache';
