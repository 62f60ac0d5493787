/**
 * The access rules of spec 01, as pure functions. The gateway asks them before routing a request and every
 * service asks them again for each call that names a dossier (defence in depth). The facts come from the
 * directory (`GetDossierAccess`) at the time of the request, so a staff member taken off a dossier, demoted
 * or removed loses the access on the next request, whatever their token still says.
 */
export type Role = 'admin' | 'employee' | 'support';
export const ROLES: readonly Role[] = ['admin', 'employee', 'support'];

/** The caller as services see it (the gRPC `Caller`), reduced to what the policy reads. */
export interface PolicyCaller {
  kind: 'staff' | 'portal_user' | 'api_key' | 'system';
  subjectId: string;
  firmId: string;
  role?: Role;
  scopes: readonly string[];
  impersonation?: { dossierId: string; portalUserId: string };
}

export interface FirmFacts {
  firmId: string;
  onlyAdminsAddClients: boolean;
}

/** The caller's standing in the directory now; it overrides the role in a token issued earlier. */
export interface SubjectFacts {
  active: boolean;
  role?: Role;
  /** portal users after their first login: until the terms are accepted and the generated password is
   *  changed, only their own account is open to them */
  mustAcceptTerms?: boolean;
  mustChangePassword?: boolean;
}

export type DossierStatus = 'new' | 'active' | 'deactivated';

export interface DossierFacts {
  dossierId: string;
  firmId: string;
  status: DossierStatus;
  fileManagerId?: string;
  clientGroupId?: string;
  /** every active staff member with an assignment: file manager, collaborator (directly or through a staff
   *  group), or member of the dossier's client group (directly or through a staff group) */
  assignedStaffIds: readonly string[];
  /** portal users of the dossier */
  portalUserIds: readonly string[];
}

export interface AccessFacts {
  firm: FirmFacts;
  subject?: SubjectFacts;
  dossier?: DossierFacts;
}

interface PermissionRule {
  /** `dossier` permissions need the dossier's facts; without them they are refused */
  scope: 'firm' | 'dossier';
  /** staff roles that may; for dossier permissions everyone but an admin needs an assignment */
  staff: readonly Role[];
  /** portal users (of the dossier, for dossier permissions); staff impersonating a client count as one */
  portal: boolean;
  /** API keys holding the scope */
  apiKey: boolean;
  description: string;
}

const ALL_STAFF: readonly Role[] = ROLES;
const MANAGING: readonly Role[] = ['admin', 'employee'];
const ADMIN: readonly Role[] = ['admin'];

/** Every permission a route or RPC may name. A permission missing here is refused to everyone. */
export const PERMISSIONS = {
  'firm:read': {
    scope: 'firm',
    staff: ALL_STAFF,
    portal: false,
    apiKey: true,
    description: 'read firm details and settings',
  },
  'firm:write': { scope: 'firm', staff: ADMIN, portal: false, apiKey: false, description: 'change firm settings' },
  'staff:read': { scope: 'firm', staff: ALL_STAFF, portal: false, apiKey: true, description: 'list staff members' },
  'staff:write': {
    scope: 'firm',
    staff: ADMIN,
    portal: false,
    apiKey: false,
    description: 'add, change and remove staff',
  },
  'group:read': {
    scope: 'firm',
    staff: ALL_STAFF,
    portal: false,
    apiKey: true,
    description: 'list staff and client groups',
  },
  'group:write': {
    scope: 'firm',
    staff: ADMIN,
    portal: false,
    apiKey: false,
    description: 'manage staff and client groups',
  },
  'api_key:read': { scope: 'firm', staff: ADMIN, portal: false, apiKey: false, description: 'list API keys' },
  'api_key:write': {
    scope: 'firm',
    staff: ADMIN,
    portal: false,
    apiKey: false,
    description: 'create and revoke API keys',
  },
  'notification:read': {
    scope: 'firm',
    staff: ADMIN,
    portal: false,
    apiKey: false,
    description: "read the firm's mail delivery log and mail settings",
  },
  'notification:write': {
    scope: 'firm',
    staff: ADMIN,
    portal: false,
    apiKey: false,
    description: "change the firm's mail settings",
  },
  'webhook:read': {
    scope: 'firm',
    staff: ADMIN,
    portal: false,
    apiKey: true,
    description: "list the firm's webhooks to partner applications and read their delivery logs",
  },
  'webhook:write': {
    scope: 'firm',
    staff: ADMIN,
    portal: false,
    apiKey: true,
    description: "create, change and delete the firm's webhooks, rotate their secrets, ping and retry deliveries",
  },
  'dossier:list': {
    scope: 'firm',
    staff: ALL_STAFF,
    portal: true,
    apiKey: true,
    description: 'list the dossiers one may see',
  },
  'dossier:create': { scope: 'firm', staff: MANAGING, portal: false, apiKey: true, description: 'create a dossier' },
  'account:read': {
    scope: 'firm',
    staff: ALL_STAFF,
    portal: true,
    apiKey: false,
    description: "read one's own account",
  },
  'account:write': {
    scope: 'firm',
    staff: ALL_STAFF,
    portal: true,
    apiKey: false,
    description: "one's own account: password, terms of use",
  },
  'dossier:read': { scope: 'dossier', staff: ALL_STAFF, portal: true, apiKey: true, description: 'read a dossier' },
  'dossier:write': {
    scope: 'dossier',
    staff: MANAGING,
    portal: false,
    apiKey: true,
    description: "change a dossier's settings, assignments and status",
  },
  'dossier:activate': {
    scope: 'dossier',
    staff: MANAGING,
    portal: false,
    apiKey: true,
    description: 'activate a dossier (admins only when the firm sets onlyAdminsAddClients)',
  },
  'portal_user:read': {
    scope: 'dossier',
    staff: MANAGING,
    portal: false,
    apiKey: true,
    description: "list a dossier's portal users",
  },
  'portal_user:write': {
    scope: 'dossier',
    staff: MANAGING,
    portal: false,
    apiKey: false,
    description: 'add portal users to a dossier',
  },
  'document:read': {
    scope: 'dossier',
    staff: ALL_STAFF,
    portal: true,
    apiKey: true,
    description: "see a dossier's documents and work lists",
  },
  'document:write': {
    scope: 'dossier',
    staff: ALL_STAFF,
    portal: true,
    apiKey: true,
    description: "add and process a dossier's documents",
  },
  'document:process': {
    scope: 'dossier',
    staff: ALL_STAFF,
    portal: false,
    apiKey: true,
    description: "hand over a dossier's sent documents: download them and mark them processed",
  },
  'document:monitor': {
    scope: 'firm',
    staff: ALL_STAFF,
    portal: false,
    apiKey: false,
    description: 'see the active clients monitor (documents waiting per dossier the caller sees)',
  },
  'archive:read': {
    scope: 'dossier',
    staff: MANAGING,
    portal: false,
    apiKey: true,
    description: "search and download a dossier's archive",
  },
  'archive:manage': {
    // firm scope: retention and the jobs concern the whole firm; a dossier's holds are checked with its facts too
    scope: 'firm',
    staff: ADMIN,
    portal: false,
    apiKey: false,
    description: 'manage the archive: legal holds, retention, early deletion, verification and purge runs',
  },
  'news:read': {
    scope: 'firm',
    staff: ALL_STAFF,
    portal: true,
    apiKey: false,
    description: "read the firm's news in the client portal",
  },
  'news:write': {
    scope: 'firm',
    staff: MANAGING,
    portal: false,
    apiKey: false,
    description: 'publish and withdraw news items in the client portal',
  },
  'portal:use': {
    scope: 'dossier',
    staff: [],
    portal: true,
    apiKey: false,
    description: 'act in the client portal: messages, VAT declaration complete, user requests',
  },
  'impersonation:start': {
    scope: 'dossier',
    staff: MANAGING,
    portal: false,
    apiKey: false,
    description: 'open the client portal as the client sees it',
  },
} as const satisfies Record<string, PermissionRule>;

export type KnownPermission = keyof typeof PERMISSIONS;

export const isKnownPermission = (permission: string): permission is KnownPermission =>
  Object.prototype.hasOwnProperty.call(PERMISSIONS, permission);

export const permissionScope = (permission: string): 'firm' | 'dossier' | undefined =>
  isKnownPermission(permission) ? PERMISSIONS[permission].scope : undefined;

/** While staff act as a client, they get exactly what the client gets, and only on that dossier. */
const IMPERSONATION_PERMISSIONS: ReadonlySet<string> = new Set([
  'account:read',
  'dossier:list',
  'dossier:read',
  'document:read',
  'document:write',
  'news:read',
  'portal:use',
]);

/** `dossier:read` is granted by the scope `dossier:read` or `dossier:*`. */
export const scopeGrants = (scopes: readonly string[], permission: string): boolean =>
  scopes.includes(permission) || scopes.includes(`${permission.split(':')[0]}:*`);

export type Decision =
  | { allowed: true }
  | {
      allowed: false;
      reason: string;
      message: string;
      /** answer as if the thing did not exist: telling it exists would leak another tenant's data */
      hide: boolean;
    };

const ALLOW: Decision = { allowed: true };
const deny = (reason: string, message: string, hide = false): Decision => ({ allowed: false, reason, message, hide });

/** Decides whether `caller` may exercise `permission` on the firm (and dossier) the facts describe. */
export function decide(caller: PolicyCaller, permission: string, facts: AccessFacts): Decision {
  if (!isKnownPermission(permission)) return deny('unknown_permission', `No one holds the permission ${permission}.`);
  // services acting on their own (event consumers, scheduled jobs) are trusted with their own data
  if (caller.kind === 'system') return ALLOW;
  const rule: PermissionRule = PERMISSIONS[permission];
  const dossier = facts.dossier;
  if (rule.scope === 'dossier' && !dossier)
    return deny('dossier_required', `The permission ${permission} needs a dossier.`);
  if (caller.firmId !== facts.firm.firmId || (dossier && dossier.firmId !== caller.firmId)) {
    return dossier
      ? deny('dossier_not_found', 'Dossier not found.', true)
      : deny('other_firm', 'This belongs to another firm.');
  }
  if (facts.subject && !facts.subject.active) return deny('account_inactive', 'This account is no longer active.');

  switch (caller.kind) {
    case 'api_key':
      if (!rule.apiKey) return deny('not_for_api_keys', `API keys never hold the permission ${permission}.`);
      if (!scopeGrants(caller.scopes, permission))
        return deny('missing_scope', `This API key does not have the permission ${permission}.`);
      return ALLOW;
    case 'portal_user':
      if (!permission.startsWith('account:') && (facts.subject?.mustAcceptTerms || facts.subject?.mustChangePassword)) {
        return facts.subject.mustAcceptTerms
          ? deny('terms_not_accepted', 'Accept the terms of use first.')
          : deny('password_change_required', 'Change the generated password first.');
      }
      return portalDecision(caller.subjectId, permission, rule, dossier);
    case 'staff':
      return caller.impersonation
        ? impersonationDecision(caller, facts.subject?.role ?? caller.role, permission, rule, dossier)
        : staffDecision(caller.subjectId, facts.subject?.role ?? caller.role, permission, rule, facts);
  }
}

function portalDecision(
  portalUserId: string,
  permission: string,
  rule: PermissionRule,
  dossier?: DossierFacts,
): Decision {
  if (!rule.portal) return deny('not_for_portal_users', 'The client portal does not offer this.');
  if (!dossier) return ALLOW;
  // a client never learns whether someone else's dossier exists
  if (!dossier.portalUserIds.includes(portalUserId)) return deny('dossier_not_found', 'Dossier not found.', true);
  if (dossier.status !== 'active') return deny('dossier_not_active', 'This dossier is not active.');
  return ALLOW;
}

function staffDecision(
  staffId: string,
  role: Role | undefined,
  permission: string,
  rule: PermissionRule,
  facts: AccessFacts,
): Decision {
  if (rule.staff.length === 0)
    return deny('portal_only', 'Only clients do this; staff open the client portal as the client first.');
  if (!role || !rule.staff.includes(role)) {
    return deny(
      rule.staff.length === 1 && rule.staff[0] === 'admin' ? 'admin_required' : 'role_not_allowed',
      notAllowedMessage(permission, role),
    );
  }
  const dossier = facts.dossier;
  if (!dossier || role === 'admin') return ALLOW;
  if (permission === 'dossier:activate') {
    // adding a client: the firm decides whether employees may; a new dossier has no assignments yet
    return facts.firm.onlyAdminsAddClients
      ? deny(
          'only_admins_add_clients',
          'In this firm only admins may activate dossiers (setting onlyAdminsAddClients).',
        )
      : ALLOW;
  }
  if (!dossier.assignedStaffIds.includes(staffId)) {
    return deny(
      'not_assigned',
      'You are not assigned to this dossier (as file manager, collaborator or through a client group).',
    );
  }
  return ALLOW;
}

function impersonationDecision(
  caller: PolicyCaller,
  role: Role | undefined,
  permission: string,
  rule: PermissionRule,
  dossier?: DossierFacts,
): Decision {
  const { dossierId, portalUserId } = caller.impersonation!;
  if (!IMPERSONATION_PERMISSIONS.has(permission)) {
    return deny(
      'impersonating',
      'While acting as a client only the client portal is available; return to the accountant view first.',
    );
  }
  if (!dossier) return ALLOW;
  if (dossier.dossierId !== dossierId) return deny('dossier_not_found', 'Dossier not found.', true);
  // the staff member's own access is checked again on every request: taken off the dossier, the session ends
  const ownAccess =
    role === 'admin' ||
    (role !== undefined && MANAGING.includes(role) && dossier.assignedStaffIds.includes(caller.subjectId));
  if (!ownAccess) return deny('not_assigned', 'You no longer have access to this dossier.');
  return portalDecision(portalUserId, permission, rule, dossier);
}

function notAllowedMessage(permission: string, role: Role | undefined): string {
  const what = isKnownPermission(permission) ? PERMISSIONS[permission].description : permission;
  return role === undefined ? `Not allowed to ${what}.` : `A staff member with role ${role} may not ${what}.`;
}

export const can = (caller: PolicyCaller, permission: string, facts: AccessFacts): boolean =>
  decide(caller, permission, facts).allowed;
