/**
 * What document-intake asks the directory: the access facts of each call naming a dossier, a dossier's name and
 * code (for the download-link mail), and, for the SMTP endpoint, which dossier an intake address belongs to
 * (firm intake domain + enterprise number) and its sender whitelist.
 */
import { checkAccess } from '@kantoor/access-policy';
import { cacheAccessFacts, directoryAccessFacts, type AccessFactsCache } from '@kantoor/directory-client';
import { unavailable } from '@kantoor/errors';
import { createServiceClient, systemCaller, type ServiceClient } from '@kantoor/grpc';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import type { MailboxName } from '../data-access/document-repository';
import type { AccessGuard, DossierLabels } from '../domain/ports';

const SELF = 'document-intake';

export interface IntakeAddress {
  firmId: string;
  dossierId: string;
  /** null: the general address (unsorted) */
  mailbox: MailboxName | null;
  whitelist: Array<{ email: string; autoSend: boolean }>;
}

export interface Directory {
  guard: AccessGuard;
  /** the access facts kept between calls, when they are: forget them on the directory's events */
  accessFacts?: AccessFactsCache;
  dossierLabel: DossierLabels;
  /** undefined when no active dossier has this address */
  resolveIntakeAddress(address: string, firmIds: string[]): Promise<IntakeAddress | undefined>;
  close(): void;
}

/**
 * The directory behind `client`. With `keepAccessFacts`, the access facts of each dossier and caller are kept
 * (see @kantoor/directory-client's cacheAccessFacts), so that a call costs no directory round trip; whoever
 * starts the service must then forget them on the directory's events (`accessFacts`).
 */
export function directoryOver(
  client: ServiceClient<typeof DirectoryService>,
  options: { keepAccessFacts?: boolean } = {},
): Directory {
  const asked = directoryAccessFacts(client, { asService: SELF });
  const accessFacts = options.keepAccessFacts ? cacheAccessFacts(asked) : undefined;
  const fetchFacts = accessFacts?.fetch ?? asked;
  const domains = new Map<string, { domain: string; until: number }>();
  const domainOf = async (firmId: string) => {
    const cached = domains.get(firmId);
    if (cached && cached.until > Date.now()) return cached.domain;
    const { firm } = await client.getFirm({ firmId }, { caller: systemCaller(SELF, firmId) });
    const domain = (firm?.intakeDomain ?? '').toLowerCase();
    domains.set(firmId, { domain, until: Date.now() + 30_000 });
    return domain;
  };
  return {
    accessFacts,
    guard: async (actor, permission, dossierId) => {
      await checkAccess(fetchFacts, actor, permission, dossierId);
    },
    async dossierLabel(firmId, dossierId) {
      const { dossier } = await client.getDossier({ dossierId }, { caller: systemCaller(SELF, firmId) });
      return { name: dossier?.name ?? '', code: dossier?.code ?? '' };
    },
    async resolveIntakeAddress(address, firmIds) {
      const match = /^([^@.]+)(?:\.(purchase|sales|misc))?@(.+)$/i.exec(address.trim().toLowerCase());
      if (!match) return undefined;
      const [, local, mailbox, domain] = match;
      for (const firmId of firmIds) {
        if ((await domainOf(firmId)) !== domain) continue;
        const { dossiers } = await client.listDossiers(
          { search: local, status: 'active', pageSize: 20 },
          { caller: systemCaller(SELF, firmId) },
        );
        const dossier = dossiers.find((candidate) => candidate.enterpriseNumber.toLowerCase() === local);
        if (!dossier) return undefined;
        return {
          firmId,
          dossierId: dossier.id,
          mailbox: (mailbox as MailboxName | undefined) ?? null,
          whitelist: dossier.senderWhitelist.map((sender) => ({
            email: sender.email.toLowerCase(),
            autoSend: sender.autoSend,
          })),
        };
      }
      return undefined;
    },
    close: () => client.close(),
  };
}

export const directoryAt = (address: string, options: { keepAccessFacts?: boolean } = {}) =>
  directoryOver(createServiceClient(DirectoryService, address), options);

/** Without a directory no access can be checked: everyone but the platform itself is refused. */
export const withoutDirectory: Directory = {
  guard: async (actor) => {
    if (actor.kind !== 'system')
      throw unavailable('The directory is not configured (DIRECTORY_GRPC_ADDRESS).', {
        reason: 'directory_unavailable',
      });
  },
  dossierLabel: async () => {
    throw unavailable('The directory is not configured (DIRECTORY_GRPC_ADDRESS).', { reason: 'directory_unavailable' });
  },
  resolveIntakeAddress: async () => undefined,
  close: () => undefined,
};
