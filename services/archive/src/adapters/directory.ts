/** The access facts of each call naming a dossier, from the directory (GetDossierAccess), never cached. */
import { checkAccess, type FetchAccessFacts } from '@kantoor/access-policy';
import { directoryAccessFacts } from '@kantoor/directory-client';
import { unavailable } from '@kantoor/errors';
import { createServiceClient, type ServiceClient } from '@kantoor/grpc';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import type { AccessGuard } from '../domain/ports';

export const directoryFacts = (
  client: Pick<ServiceClient<typeof DirectoryService>, 'getDossierAccess'>,
): FetchAccessFacts => directoryAccessFacts(client, { asService: 'archive' });

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
          throw unavailable('The directory is not configured (DIRECTORY_GRPC_ADDRESS).', {
            reason: 'directory_unavailable',
          });
        return { firm: { firmId: actor.firmId, onlyAdminsAddClients: false } };
      },
      close: () => undefined,
    };
  const client = createServiceClient(DirectoryService, address);
  return { guard: guardWith(directoryFacts(client)), close: () => client.close() };
}
