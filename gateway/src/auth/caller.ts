import type { JWTPayload } from 'jose';
import { unauthenticated } from '@kantoor/errors';
import type { Caller } from '@kantoor/grpc';

/** Who is calling, the same shape the services receive in their gRPC metadata. */
export type { Caller } from '@kantoor/grpc';

export type StaffRole = NonNullable<Caller['role']>;
const STAFF_ROLES: readonly string[] = ['admin', 'employee', 'support'] satisfies StaffRole[];
const TOKEN_KINDS: readonly string[] = ['staff', 'portal_user', 'system'] satisfies Caller['kind'][];

/** Turns verified claims into a caller; null when the claims name no one the platform knows. */
export type ResolveCaller = (claims: JWTPayload) => Promise<Caller | null> | Caller | null;

/**
 * The claims of the tokens the gateway issues itself (`sub`, `firm_id`, `kind`, `role`, `email`, and
 * `impersonation` while staff act in the client portal). Also the default for OpenID Connect providers
 * configured to emit them, until the directory matches staff by e-mail address.
 */
export const callerFromClaims: ResolveCaller = (claims) => {
  const kind = claims.kind ?? 'staff';
  const { sub, firm_id: firmId, role, email, impersonation } = claims as Record<string, unknown>;
  if (typeof sub !== 'string' || !sub || typeof firmId !== 'string' || !firmId) return null;
  if (typeof kind !== 'string' || !TOKEN_KINDS.includes(kind)) return null;
  if (kind === 'staff' && !(typeof role === 'string' && STAFF_ROLES.includes(role))) return null;
  const caller: Caller = { kind: kind as Caller['kind'], subjectId: sub, firmId, scopes: [] };
  if (kind === 'staff') caller.role = role as StaffRole;
  if (typeof email === 'string' && email) caller.email = email;
  if (impersonation && typeof impersonation === 'object') {
    const { dossier_id: dossierId, portal_user_id: portalUserId } = impersonation as Record<string, unknown>;
    if (kind !== 'staff' || typeof dossierId !== 'string' || typeof portalUserId !== 'string') return null;
    caller.impersonation = { dossierId, portalUserId };
  }
  return caller;
};

/** The claims the embedded issuer writes for a caller; the inverse of callerFromClaims. */
export function claimsForCaller(caller: Omit<Caller, 'scopes'>): JWTPayload {
  if (caller.kind === 'api_key') throw new Error('API keys are never turned into tokens');
  return {
    sub: caller.subjectId,
    firm_id: caller.firmId,
    kind: caller.kind,
    ...(caller.role && { role: caller.role }),
    ...(caller.email && { email: caller.email }),
    ...(caller.impersonation && {
      impersonation: { dossier_id: caller.impersonation.dossierId, portal_user_id: caller.impersonation.portalUserId },
    }),
  };
}

export const invalidToken = (message = 'The access token is not valid.') =>
  unauthenticated(message, { reason: 'invalid_token' });
