import { checkAccess } from '@kantoor/access-policy';
import type { Database } from '@kantoor/database';
import type { Caller } from '@kantoor/grpc';
import { loadAccessFacts, loadFirmWithAccessFacts } from '../data-access/access-repository';

let currentTermsVersion = '';

/** Set once at start from DIRECTORY_TERMS_VERSION: portal users who accepted an older version accept again. */
export function useTermsVersion(version: string): void {
  currentTermsVersion = version;
}

export const termsVersion = (): string => currentTermsVersion;

/**
 * The policy applied to the directory's own RPCs, with facts read from its own tables at the time of the
 * call. Services acting on their own (system callers) are trusted and name the firm themselves.
 */
export async function authorize(db: Database, caller: Caller, permission: string, dossierId?: string): Promise<void> {
  if (caller.kind === 'system') return;
  await checkAccess((query) => loadAccessFacts(db, query, currentTermsVersion), caller, permission, dossierId);
}

/**
 * `authorize` for reading the caller's own firm, with the firm's row read in the same round trip as the
 * facts; undefined when the firm does not exist (the refusal is the caller's to word).
 */
export async function authorizeAndLoadFirm<Firm>(
  db: Database,
  caller: Caller,
  permission: string,
): Promise<Firm | undefined> {
  let firm: Firm | undefined;
  await checkAccess(
    async (query) => {
      const found = await loadFirmWithAccessFacts<Firm>(db, query, currentTermsVersion);
      firm = found?.firm;
      return found?.facts;
    },
    caller,
    permission,
  );
  return firm;
}
