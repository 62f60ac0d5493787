import { notFound, permissionDenied, type DomainError } from '@kantoor/errors';
import { decide, permissionScope, type AccessFacts, type PolicyCaller } from './policy';

/** The refusal a denied decision answers with: 404 where telling that the thing exists would leak. */
export function accessRefusal(reason: string, message: string, hide: boolean): DomainError {
  return hide ? notFound(message, { reason }) : permissionDenied(message, { reason });
}

/** Throws the refusal when the policy denies; the one way services and the gateway enforce it. */
export function requireAccess(caller: PolicyCaller, permission: string, facts: AccessFacts): void {
  const decision = decide(caller, permission, facts);
  if (!decision.allowed) throw accessRefusal(decision.reason, decision.message, decision.hide);
}

export interface AccessFactsQuery {
  firmId: string;
  /** empty for firm-wide permissions */
  dossierId?: string;
  subject: { kind: PolicyCaller['kind']; id: string };
}

/** How a service or the gateway obtains the facts; undefined when the dossier does not exist. */
export type FetchAccessFacts = (query: AccessFactsQuery) => Promise<AccessFacts | undefined>;

/**
 * Fetches the facts and applies the policy, for services checking each call that names a dossier. No
 * caching on purpose: the directory answers from its tables, so an access change counts from the next call.
 */
export async function checkAccess(
  fetchFacts: FetchAccessFacts,
  caller: PolicyCaller,
  permission: string,
  dossierId?: string,
): Promise<AccessFacts> {
  if (permissionScope(permission) === 'dossier' && !dossierId) {
    throw permissionDenied(`The permission ${permission} needs a dossier.`, { reason: 'dossier_required' });
  }
  const facts = await fetchFacts({
    firmId: caller.firmId,
    dossierId,
    subject: { kind: caller.kind, id: caller.subjectId },
  });
  if (!facts) throw notFound('Dossier not found.', { reason: 'dossier_not_found' });
  requireAccess(caller, permission, facts);
  return facts;
}
