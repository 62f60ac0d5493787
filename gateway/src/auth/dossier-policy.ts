/**
 * The directory's access policy (packages/access-policy) as the gateway's Authorize hook: every request to
 * an authenticated route is decided on the facts the directory holds at that moment (GetDossierAccess), for
 * the dossier the path names (`{dossierId}`), before the request reaches a service. `fetchFacts` is the
 * directory itself, or (start-gateway.ts, when the directory's events reach the gateway) the access-facts cache of
 * @kantoor/directory-client, which forgets a firm's facts on every change: either way an access change counts from
 * the next request.
 */
import { checkAccess, permissionScope, type FetchAccessFacts } from '@kantoor/access-policy';
import { directoryAccessFacts as factsFromDirectory } from '@kantoor/directory-client';
import { permissionDenied } from '@kantoor/errors';
import { systemCaller, type ServiceClient } from '@kantoor/grpc';
import type { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import type { Authorize } from './authorize';

export function authorizeWithPolicy(fetchFacts: FetchAccessFacts): Authorize {
  return async (route, caller, { params }) => {
    if (!route.permission || caller.kind === 'system') return;
    const scope = permissionScope(route.permission);
    if (!scope)
      throw permissionDenied(`No one holds the permission ${route.permission}.`, { reason: 'unknown_permission' });
    await checkAccess(fetchFacts, caller, route.permission, scope === 'dossier' ? params.dossierId : undefined);
  };
}

const GATEWAY = systemCaller('gateway');

/** The facts from the directory service over gRPC, asked as the gateway. */
export const directoryAccessFacts = (
  directory: Pick<ServiceClient<typeof DirectoryService>, 'getDossierAccess'>,
): FetchAccessFacts => factsFromDirectory(directory, { asService: 'gateway', timeoutMs: 2000 });

/** Cluster mode's resolveCaller: the person behind an OpenID Connect token, matched on e-mail address. */
export function resolveCallerByEmail(directory: Pick<ServiceClient<typeof DirectoryService>, 'resolveIdentity'>) {
  return async (claims: { email?: unknown; iss?: unknown }) => {
    if (typeof claims.email !== 'string' || !claims.email) return null;
    const identity = await directory.resolveIdentity(
      { email: claims.email, issuer: String(claims.iss ?? '') },
      { caller: GATEWAY },
    );
    if (!identity.found) return null;
    return {
      kind: identity.kind as 'staff' | 'portal_user',
      subjectId: identity.subjectId,
      firmId: identity.firmId,
      ...(identity.role && { role: identity.role as 'admin' | 'employee' | 'support' }),
      email: identity.email,
      scopes: [],
    };
  };
}
