/**
 * The communication cascade (01): a message from a client goes to the dossier's file manager, else its client
 * group's address, else the firm's functional address. The directory knows who that is; this is the port the
 * worker asks, with the directory's gRPC implementation behind it.
 */
import { createServiceClient, systemCaller, type ServiceClient } from '@kantoor/grpc';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';

export type CascadeSource = 'file_manager' | 'client_group' | 'firm_address';

export interface DossierRecipient {
  email: string;
  name: string;
  source: CascadeSource;
}

export interface DossierRecipients {
  resolve(firmId: string, dossierId: string): Promise<DossierRecipient>;
  close(): void;
}

/** The directory names the last step `firm`; the delivery log says `firm_address`. */
export const cascadeSource = (source: string): CascadeSource =>
  source === 'file_manager' || source === 'client_group' ? source : 'firm_address';

export function directoryDossierRecipients(address: string): DossierRecipients {
  const directory: ServiceClient<typeof DirectoryService> = createServiceClient(DirectoryService, address);
  return {
    async resolve(firmId, dossierId) {
      const { recipient } = await directory.resolveDossierRecipients(
        { dossierId },
        { caller: systemCaller('notification', firmId) },
      );
      return {
        email: recipient?.email ?? '',
        name: recipient?.name ?? '',
        source: cascadeSource(recipient?.source ?? ''),
      };
    },
    close: () => directory.close(),
  };
}
