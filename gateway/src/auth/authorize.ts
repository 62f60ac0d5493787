import { permissionDenied } from '@kantoor/errors';
import type { Route } from '../openapi/route';
import type { Caller } from './caller';

/**
 * Decides whether a caller may use a route, before the request reaches a service; throws a
 * `permission_denied` DomainError to refuse. `authorizeWithDirectory` (auth/dossier-policy.ts) plugs in the
 * directory's access policy (01); the path parameters name the dossier, if any.
 */
export type Authorize = (
  route: Route,
  caller: Caller,
  request: { params: Record<string, string> },
) => void | Promise<void>;

/** `dossier:read` is granted by the scope `dossier:read` or `dossier:*`. */
export const scopeGrants = (scopes: readonly string[], permission: string): boolean =>
  scopes.includes(permission) || scopes.includes(`${permission.split(':')[0]}:*`);

/**
 * Until the directory's policy arrives: API keys are held to their scopes; people (staff, portal users) and
 * system callers pass here, and the services check the dossier scope themselves (defence in depth).
 */
export const authorizeByScopes: Authorize = (route, caller) => {
  if (caller.kind === 'api_key' && route.permission && !scopeGrants(caller.scopes, route.permission)) {
    throw permissionDenied(`This API key does not have the permission ${route.permission}.`, {
      reason: 'missing_scope',
    });
  }
};
