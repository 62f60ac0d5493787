import { isDomainError } from '@kantoor/errors';
import { can, checkAccess, decide, requireAccess, type AccessFacts, type PolicyCaller } from '../src';

const firm = { firmId: 'firm-a', onlyAdminsAddClients: false };
const dossier = {
  dossierId: 'dossier-1',
  firmId: 'firm-a',
  status: 'active' as const,
  fileManagerId: 'emp-assigned',
  assignedStaffIds: ['emp-assigned', 'sup-assigned'],
  portalUserIds: ['client-1'],
};
const onDossier: AccessFacts = { firm, dossier };
const onFirm: AccessFacts = { firm };

const staff = (subjectId: string, role: PolicyCaller['role']): PolicyCaller => ({
  kind: 'staff',
  subjectId,
  firmId: 'firm-a',
  role,
  scopes: [],
});
const admin = staff('admin-1', 'admin');
const employee = staff('emp-assigned', 'employee');
const otherEmployee = staff('emp-other', 'employee');
const support = staff('sup-assigned', 'support');
const client: PolicyCaller = { kind: 'portal_user', subjectId: 'client-1', firmId: 'firm-a', scopes: [] };
const otherClient: PolicyCaller = { kind: 'portal_user', subjectId: 'client-2', firmId: 'firm-a', scopes: [] };
const foreignAdmin: PolicyCaller = { ...admin, subjectId: 'admin-b', firmId: 'firm-b' };
const apiKey = (...scopes: string[]): PolicyCaller => ({
  kind: 'api_key',
  subjectId: 'key-1',
  firmId: 'firm-a',
  scopes,
});

describe('the access policy', () => {
  test('admins see every dossier of their firm and change firm settings; employees do neither', () => {
    expect(can(admin, 'dossier:write', onDossier)).toBe(true);
    expect(can(admin, 'firm:write', onFirm)).toBe(true);
    expect(decide(employee, 'firm:write', onFirm)).toMatchObject({ allowed: false, reason: 'admin_required' });
    expect(decide(staff('s', 'support'), 'staff:write', onFirm)).toMatchObject({
      allowed: false,
      reason: 'admin_required',
    });
  });

  test('employees and support work only on dossiers they are assigned to, support only in the work lists', () => {
    expect(can(employee, 'dossier:write', onDossier)).toBe(true);
    expect(decide(otherEmployee, 'dossier:read', onDossier)).toMatchObject({
      allowed: false,
      reason: 'not_assigned',
      hide: false,
    });
    expect(can(support, 'document:write', onDossier)).toBe(true);
    expect(decide(support, 'dossier:write', onDossier)).toMatchObject({ allowed: false, reason: 'role_not_allowed' });
    expect(can(staff('sup-other', 'support'), 'document:read', onDossier)).toBe(false);
  });

  test('the role the directory holds now wins over the role in an older token', () => {
    expect(decide(admin, 'firm:write', { firm, subject: { active: true, role: 'employee' } })).toMatchObject({
      allowed: false,
    });
    expect(
      decide(employee, 'dossier:read', { ...onDossier, subject: { active: false, role: 'employee' } }),
    ).toMatchObject({
      allowed: false,
      reason: 'account_inactive',
    });
  });

  test('with onlyAdminsAddClients only admins activate dossiers', () => {
    const strict: AccessFacts = {
      firm: { ...firm, onlyAdminsAddClients: true },
      dossier: { ...dossier, status: 'new', assignedStaffIds: [] },
    };
    expect(decide(otherEmployee, 'dossier:activate', strict)).toMatchObject({
      allowed: false,
      reason: 'only_admins_add_clients',
    });
    expect(can(admin, 'dossier:activate', strict)).toBe(true);
    expect(can(otherEmployee, 'dossier:activate', { ...strict, firm })).toBe(true);
  });

  test('a portal user sees only their own active dossiers, and another dossier is answered as not found', () => {
    expect(can(client, 'document:write', onDossier)).toBe(true);
    // the hand-over to the accountant is theirs alone: a client never marks documents processed
    expect(decide(client, 'document:process', onDossier)).toMatchObject({
      allowed: false,
      reason: 'not_for_portal_users',
    });
    expect(decide(otherClient, 'dossier:read', onDossier)).toMatchObject({ allowed: false, hide: true });
    expect(decide(client, 'dossier:read', { firm, dossier: { ...dossier, status: 'deactivated' } })).toMatchObject({
      allowed: false,
    });
    expect(decide(client, 'staff:read', onFirm)).toMatchObject({ allowed: false, reason: 'not_for_portal_users' });
    expect(decide(client, 'impersonation:start', onDossier)).toMatchObject({ allowed: false });
  });

  test('nothing of one firm is visible to another firm', () => {
    expect(decide(foreignAdmin, 'dossier:read', onDossier)).toMatchObject({ allowed: false, hide: true });
    expect(decide(foreignAdmin, 'firm:read', onFirm)).toMatchObject({ allowed: false, reason: 'other_firm' });
    expect(can({ ...apiKey('dossier:*'), firmId: 'firm-b' }, 'dossier:read', onDossier)).toBe(false);
  });

  test('API keys hold exactly their scopes, and never the ones reserved for people', () => {
    expect(can(apiKey('dossier:read'), 'dossier:read', onDossier)).toBe(true);
    expect(can(apiKey('dossier:*'), 'dossier:write', onDossier)).toBe(true);
    expect(decide(apiKey('document:read'), 'dossier:read', onDossier)).toMatchObject({
      allowed: false,
      reason: 'missing_scope',
    });
    expect(decide(apiKey('staff:*'), 'staff:write', onFirm)).toMatchObject({
      allowed: false,
      reason: 'not_for_api_keys',
    });
  });

  test("a firm's webhooks are for its admins and for API keys holding the webhook scope, never for clients", () => {
    for (const permission of ['webhook:read', 'webhook:write']) {
      expect(can(admin, permission, onFirm)).toBe(true);
      expect(can(apiKey(permission), permission, onFirm)).toBe(true);
      expect(can(apiKey('webhook:*'), permission, onFirm)).toBe(true);
      expect(decide(employee, permission, onFirm)).toMatchObject({ allowed: false, reason: 'admin_required' });
      expect(decide(client, permission, onFirm)).toMatchObject({ allowed: false, reason: 'not_for_portal_users' });
      expect(decide(foreignAdmin, permission, onFirm)).toMatchObject({ allowed: false, reason: 'other_firm' });
    }
    expect(decide(apiKey('webhook:read'), 'webhook:write', onFirm)).toMatchObject({
      allowed: false,
      reason: 'missing_scope',
    });
  });

  test('staff impersonating a client get the client portal of that dossier only, while they keep their own access', () => {
    const acting: PolicyCaller = { ...employee, impersonation: { dossierId: 'dossier-1', portalUserId: 'client-1' } };
    expect(can(acting, 'portal:use', onDossier)).toBe(true);
    expect(decide(acting, 'dossier:write', onDossier)).toMatchObject({ allowed: false, reason: 'impersonating' });
    expect(can(acting, 'portal:use', { firm, dossier: { ...dossier, dossierId: 'dossier-2' } })).toBe(false);
    expect(decide(acting, 'portal:use', { firm, dossier: { ...dossier, assignedStaffIds: [] } })).toMatchObject({
      reason: 'not_assigned',
    });
    expect(decide(employee, 'portal:use', onDossier)).toMatchObject({ allowed: false, reason: 'portal_only' });
  });

  test('an unknown permission is refused to everyone, admins included', () => {
    expect(decide(admin, 'firm:delete', onFirm)).toMatchObject({ allowed: false, reason: 'unknown_permission' });
  });

  test('refusals become 403, or 404 where existence must not leak', () => {
    const refusal = (fn: () => void) => {
      try {
        fn();
      } catch (error) {
        return isDomainError(error) ? error.kind : 'other';
      }
      return 'allowed';
    };
    expect(refusal(() => requireAccess(otherEmployee, 'dossier:read', onDossier))).toBe('permission_denied');
    expect(refusal(() => requireAccess(otherClient, 'dossier:read', onDossier))).toBe('not_found');
    expect(refusal(() => requireAccess(admin, 'dossier:read', onDossier))).toBe('allowed');
  });

  test('checkAccess asks the directory every time, so an access change counts from the next call', async () => {
    let assigned = ['emp-assigned'];
    const fetchFacts = async () => ({ firm, dossier: { ...dossier, assignedStaffIds: assigned } });
    await expect(checkAccess(fetchFacts, employee, 'dossier:read', 'dossier-1')).resolves.toBeDefined();
    assigned = [];
    await expect(checkAccess(fetchFacts, employee, 'dossier:read', 'dossier-1')).rejects.toMatchObject({
      reason: 'not_assigned',
    });
    await expect(checkAccess(async () => undefined, admin, 'dossier:read', 'gone')).rejects.toMatchObject({
      kind: 'not_found',
    });
  });
});

describe('the first login of a portal user', () => {
  test('until the terms are accepted and the generated password changed, only the own account is open', () => {
    const pending = (subject: object): AccessFacts => ({ ...onDossier, subject: { active: true, ...subject } });
    expect(decide(client, 'document:read', pending({ mustAcceptTerms: true }))).toMatchObject({
      reason: 'terms_not_accepted',
    });
    expect(decide(client, 'document:read', pending({ mustChangePassword: true }))).toMatchObject({
      reason: 'password_change_required',
    });
    expect(can(client, 'account:write', { firm, subject: { active: true, mustAcceptTerms: true } })).toBe(true);
    expect(can(client, 'document:read', pending({}))).toBe(true);
  });
});
