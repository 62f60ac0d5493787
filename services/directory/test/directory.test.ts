import type { Caller } from '@kantoor/grpc';
import { normaliseEnterpriseNumber } from '../src';
import { as, belgianNumber, directoryForTests, PASSWORD, TERMS } from './directory-fixture';

const fx = directoryForTests();
let seed = 1000;
const newDossier = (admin: Caller, overrides: Record<string, unknown> = {}) =>
  fx.directory.createDossier(
    { name: `Bakkerij ${seed}`, country: 'BE', enterpriseNumber: belgianNumber(seed++), language: 'nl', ...overrides },
    as(admin),
  );

describe('enterprise numbers', () => {
  test('Belgian numbers need 10 digits whose last two are 97 minus the first eight modulo 97', () => {
    expect(normaliseEnterpriseNumber('BE', 'BE 0403.170.701')).toEqual({ value: '0403170701' });
    expect(normaliseEnterpriseNumber('BE', '0403170702')).toMatchObject({ problem: expect.stringContaining('mod 97') });
    expect(normaliseEnterpriseNumber('BE', '403170701')).toEqual({ value: '0403170701' });
    expect(normaliseEnterpriseNumber('BE', '12345')).toMatchObject({ problem: expect.stringContaining('10 digits') });
    expect(normaliseEnterpriseNumber('NL', '12345678')).toEqual({ value: '12345678' });
    expect(normaliseEnterpriseNumber('NL', '1234567')).toMatchObject({ problem: expect.stringContaining('8 digits') });
  });
});

describe('firms and staff', () => {
  test("the registering person is the first admin, and firm settings are the admins'", async () => {
    const admin = await fx.registerFirm();
    const employee = await fx.activeStaff(admin, 'employee');
    const { firm } = await fx.directory.updateFirmSettings(
      { onlyAdminsAddClients: true, language: 'fr', contact: { city: 'Gent' } },
      as(admin),
    );
    expect(firm).toMatchObject({ onlyAdminsAddClients: true, language: 'fr', contact: { city: 'Gent' } });
    await expect(fx.directory.updateFirmSettings({ onlyAdminsAddClients: false }, as(employee))).rejects.toMatchObject({
      kind: 'permission_denied',
      reason: 'admin_required',
    });
    expect((await fx.directory.getFirm({ firmId: admin.firmId }, as(admin))).firm?.onlyAdminsAddClients).toBe(true);
  });

  test('a staff e-mail address is used once per firm, but may appear in another firm', async () => {
    const admin = await fx.registerFirm();
    await fx.directory.inviteStaff({ name: 'Els', email: 'els@same.example', role: 'employee' }, as(admin));
    await expect(
      fx.directory.inviteStaff({ name: 'Els 2', email: 'ELS@same.example', role: 'support' }, as(admin)),
    ).rejects.toMatchObject({
      kind: 'already_exists',
      reason: 'duplicate_email',
    });
    const other = await fx.registerFirm();
    await expect(
      fx.directory.inviteStaff({ name: 'Els', email: 'els@same.example', role: 'employee' }, as(other)),
    ).resolves.toBeDefined();
  });

  test('an e-mail address of 200,000 dots is refused in moments, naming the field', async () => {
    const admin = await fx.registerFirm();
    // a long run of dots made the address pattern try every split of it (quadratic)
    const email = `els@${'.'.repeat(200_000)}x y`;
    const started = Date.now();
    await expect(fx.directory.inviteStaff({ name: 'Els', email, role: 'employee' }, as(admin))).rejects.toMatchObject({
      kind: 'invalid_argument',
      violations: [{ field: 'email', message: 'must be an e-mail address' }],
    });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('only admins manage staff', async () => {
    const admin = await fx.registerFirm();
    const employee = await fx.activeStaff(admin, 'employee');
    await expect(
      fx.directory.inviteStaff({ name: 'X', email: 'x@firm.example', role: 'employee' }, as(employee)),
    ).rejects.toMatchObject({ reason: 'admin_required' });
    await expect(
      fx.directory.changeStaffRole({ staffId: employee.subjectId, role: 'admin' }, as(employee)),
    ).rejects.toMatchObject({ reason: 'admin_required' });
  });

  test('an invitation carries a single-use activation link; the password it sets logs in', async () => {
    const admin = await fx.registerFirm();
    const { staff } = await fx.directory.inviteStaff(
      { name: 'Jan', email: 'jan@firm.example', role: 'support' },
      as(admin),
    );
    const [event] = (
      await fx.events<{ staffId: string; activationToken: string; language: string }>('StaffInvited')
    ).filter((e) => e.staffId === staff!.id);
    expect(event.activationToken).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const stored = await fx.service.db.query<{ token_hash: string }>(
      'SELECT token_hash FROM activation_token WHERE account_id = $1',
      [staff!.id],
    );
    expect(stored.rows[0].token_hash).not.toContain(event.activationToken);
    await fx.directory.activateStaff({ token: event.activationToken, password: PASSWORD }, as(fx.operator));
    await expect(
      fx.directory.activateStaff({ token: event.activationToken, password: PASSWORD }, as(fx.operator)),
    ).rejects.toMatchObject({
      reason: 'activation_link_invalid',
    });
    const login = await fx.directory.verifyPassword({ email: 'jan@firm.example', password: PASSWORD }, as(fx.operator));
    expect(login).toMatchObject({ kind: 'staff', subjectId: staff!.id, role: 'support' });
    await expect(
      fx.directory.verifyPassword({ email: 'jan@firm.example', password: 'wrong password!!' }, as(fx.operator)),
    ).rejects.toMatchObject({
      kind: 'unauthenticated',
    });
  });

  test('the last admin can never be demoted or removed; with two admins one may go', async () => {
    const admin = await fx.registerFirm();
    await expect(
      fx.directory.changeStaffRole({ staffId: admin.subjectId, role: 'employee' }, as(admin)),
    ).rejects.toMatchObject({
      kind: 'failed_precondition',
      reason: 'last_admin',
    });
    await expect(fx.directory.removeStaff({ staffId: admin.subjectId }, as(admin))).rejects.toMatchObject({
      reason: 'last_admin',
    });
    const second = await fx.activeStaff(admin, 'admin');
    await fx.directory.changeStaffRole({ staffId: admin.subjectId, role: 'employee' }, as(second));
    await expect(fx.directory.removeStaff({ staffId: second.subjectId }, as(second))).rejects.toMatchObject({
      reason: 'last_admin',
    });
    const { staff } = await fx.directory.listStaff({}, as(second));
    expect(staff.filter((member) => member.role === 'admin').map((member) => member.id)).toEqual([second.subjectId]);
  });

  test('a demoted admin loses firm settings on the next call, whatever their token says', async () => {
    const admin = await fx.registerFirm();
    const second = await fx.activeStaff(admin, 'admin');
    await fx.directory.changeStaffRole({ staffId: second.subjectId, role: 'employee' }, as(admin));
    await expect(fx.directory.updateFirmSettings({ language: 'en' }, as(second))).rejects.toMatchObject({
      kind: 'permission_denied',
    });
  });

  test('OpenID Connect staff are matched on e-mail address', async () => {
    const admin = await fx.registerFirm();
    await fx.directory.inviteStaff({ name: 'Oidc', email: 'oidc@sso.example', role: 'employee' }, as(admin));
    const found = await fx.directory.resolveIdentity(
      { email: 'OIDC@sso.example', issuer: 'https://idp.example' },
      as(fx.operator),
    );
    expect(found).toMatchObject({ found: true, kind: 'staff', firmId: admin.firmId, role: 'employee' });
    expect(
      (await fx.directory.resolveIdentity({ email: 'nobody@sso.example', issuer: 'x' }, as(fx.operator))).found,
    ).toBe(false);
    await expect(
      fx.directory.resolveIdentity({ email: 'oidc@sso.example', issuer: 'x' }, as(admin)),
    ).rejects.toMatchObject({ kind: 'permission_denied' });
  });
});

describe('dossiers', () => {
  test('a dossier needs a valid enterprise number, and its code never changes', async () => {
    const admin = await fx.registerFirm();
    await expect(newDossier(admin, { enterpriseNumber: '0403170702' })).rejects.toMatchObject({
      kind: 'invalid_argument',
      reason: 'invalid_enterprise_number',
      violations: [{ field: 'enterpriseNumber', message: expect.stringContaining('mod 97') }],
    });
    const { dossier } = await newDossier(admin, { code: 'KL-001' });
    expect(dossier).toMatchObject({
      status: 'new',
      code: 'KL-001',
      intakeAddresses: { purchase: `${dossier!.enterpriseNumber}.purchase@in.kantoor.localhost` },
    });
    await expect(newDossier(admin, { enterpriseNumber: dossier!.enterpriseNumber })).rejects.toMatchObject({
      reason: 'duplicate_dossier',
    });
    const { dossier: renamed } = await fx.directory.updateDossierSettings(
      {
        dossierId: dossier!.id,
        name: 'Nieuwe naam',
        contactPersons: { items: [{ name: 'Piet', email: 'piet@client.example' }] },
        senderWhitelist: { items: [{ email: 'Leverancier@x.example', autoSend: true }] },
      },
      as(admin),
    );
    expect(renamed).toMatchObject({
      code: 'KL-001',
      name: 'Nieuwe naam',
      contactPersons: [{ name: 'Piet' }],
      senderWhitelist: [{ email: 'leverancier@x.example', autoSend: true }],
    });
  });

  test('activation gives a file manager and/or client group; with onlyAdminsAddClients employees may not activate', async () => {
    const admin = await fx.registerFirm();
    const employee = await fx.activeStaff(admin, 'employee');
    const { dossier } = await newDossier(admin);
    await expect(fx.directory.activateDossier({ dossierId: dossier!.id }, as(admin))).rejects.toMatchObject({
      reason: 'assignment_required',
    });
    await fx.directory.updateFirmSettings({ onlyAdminsAddClients: true }, as(admin));
    await expect(
      fx.directory.activateDossier({ dossierId: dossier!.id, fileManagerId: employee.subjectId }, as(employee)),
    ).rejects.toMatchObject({
      kind: 'permission_denied',
      reason: 'only_admins_add_clients',
    });
    expect((await fx.directory.getDossier({ dossierId: dossier!.id }, as(admin))).dossier?.status).toBe('new');
    await fx.directory.updateFirmSettings({ onlyAdminsAddClients: false }, as(admin));
    const { dossier: active } = await fx.directory.activateDossier(
      { dossierId: dossier!.id, fileManagerId: employee.subjectId },
      as(employee),
    );
    expect(active).toMatchObject({ status: 'active', fileManagerId: employee.subjectId });
  });

  test('employees see the dossiers they manage, collaborate on or reach through a client group or staff group', async () => {
    const admin = await fx.registerFirm();
    const [manager, collaborator, teamMember, groupMember, outsider] = await Promise.all(
      ['employee', 'employee', 'employee', 'support', 'employee'].map((role) =>
        fx.activeStaff(admin, role as 'employee'),
      ),
    );
    const { staffGroup } = await fx.directory.createStaffGroup(
      { name: 'Team Gent', memberIds: [teamMember.subjectId] },
      as(admin),
    );
    const { clientGroup } = await fx.directory.createClientGroup(
      { name: 'Horeca', email: 'horeca@firm.example', staffIds: [groupMember.subjectId] },
      as(admin),
    );
    const { dossier } = await newDossier(admin);
    await fx.directory.activateDossier(
      { dossierId: dossier!.id, fileManagerId: manager.subjectId, clientGroupId: clientGroup!.id },
      as(admin),
    );
    await fx.directory.assignDossier(
      {
        dossierId: dossier!.id,
        collaboratorStaffIds: { ids: [collaborator.subjectId] },
        collaboratorGroupIds: { ids: [staffGroup!.id] },
      },
      as(admin),
    );
    for (const member of [manager, collaborator, teamMember, groupMember]) {
      expect((await fx.directory.listDossiers({}, as(member))).dossiers.map((d) => d.id)).toEqual([dossier!.id]);
    }
    expect((await fx.directory.listDossiers({}, as(outsider))).dossiers).toEqual([]);
    await expect(fx.directory.getDossier({ dossierId: dossier!.id }, as(outsider))).rejects.toMatchObject({
      reason: 'not_assigned',
    });
    await expect(
      fx.directory.assignDossier({ dossierId: dossier!.id, fileManagerId: outsider.subjectId }, as(groupMember)),
    ).rejects.toMatchObject({ reason: 'role_not_allowed' });
    // taken off the dossier: the next call is refused
    await fx.directory.assignDossier({ dossierId: dossier!.id, collaboratorStaffIds: { ids: [] } }, as(admin));
    await expect(fx.directory.getDossier({ dossierId: dossier!.id }, as(collaborator))).rejects.toMatchObject({
      reason: 'not_assigned',
    });
  });

  test('the listing by assigned staff member follows the access rule, groups included, active staff only', async () => {
    const admin = await fx.registerFirm();
    const [manager, collaborator, teamMember, groupStaff, groupTeamMember, outsider] = await Promise.all(
      ['employee', 'employee', 'employee', 'support', 'employee', 'employee'].map((role) =>
        fx.activeStaff(admin, role as 'employee'),
      ),
    );
    const { staffGroup: team } = await fx.directory.createStaffGroup(
      { name: 'Team Gent', memberIds: [teamMember.subjectId] },
      as(admin),
    );
    const { staffGroup: horecaTeam } = await fx.directory.createStaffGroup(
      { name: 'Team Horeca', memberIds: [groupTeamMember.subjectId] },
      as(admin),
    );
    const { clientGroup } = await fx.directory.createClientGroup(
      {
        name: 'Horeca',
        email: 'horeca@firm.example',
        staffIds: [groupStaff.subjectId],
        staffGroupIds: [horecaTeam!.id],
      },
      as(admin),
    );
    const [{ dossier: managed }, { dossier: grouped }, { dossier: other }] = await Promise.all([
      newDossier(admin, { name: 'Bakkerij' }),
      newDossier(admin, { name: 'Café' }),
      newDossier(admin, { name: 'Garage' }),
    ]);
    await fx.directory.activateDossier({ dossierId: managed!.id, fileManagerId: manager.subjectId }, as(admin));
    await fx.directory.assignDossier(
      {
        dossierId: managed!.id,
        collaboratorStaffIds: { ids: [collaborator.subjectId] },
        collaboratorGroupIds: { ids: [team!.id] },
      },
      as(admin),
    );
    await fx.directory.activateDossier({ dossierId: grouped!.id, clientGroupId: clientGroup!.id }, as(admin));
    await fx.directory.activateDossier({ dossierId: other!.id, fileManagerId: admin.subjectId }, as(admin));
    const assignedTo = async (staff: Caller) =>
      (await fx.directory.listDossiers({ assignedStaffId: staff.subjectId }, as(admin))).dossiers.map((d) => d.name);
    expect(await assignedTo(manager)).toEqual(['Bakkerij']);
    expect(await assignedTo(collaborator)).toEqual(['Bakkerij']);
    // reached only through a group: a collaborating staff group, the client group's staff and its staff group
    expect(await assignedTo(teamMember)).toEqual(['Bakkerij']);
    expect(await assignedTo(groupStaff)).toEqual(['Café']);
    expect(await assignedTo(groupTeamMember)).toEqual(['Café']);
    expect(await assignedTo(outsider)).toEqual([]);
    // the filter narrows what the caller sees: the team member asking about the client group's staff sees none
    expect(
      (await fx.directory.listDossiers({ assignedStaffId: groupStaff.subjectId }, as(teamMember))).dossiers,
    ).toEqual([]);
    // a removed staff member is assigned to nothing any more, as the access policy has it
    await fx.directory.removeStaff({ staffId: groupTeamMember.subjectId }, as(admin));
    expect(await assignedTo(groupTeamMember)).toEqual([]);
    await expect(fx.directory.listDossiers({ assignedStaffId: 'someone' }, as(admin))).rejects.toMatchObject({
      reason: 'validation_failed',
    });
  });

  test('deactivation and reactivation follow each other; a deactivated dossier is closed to its clients', async () => {
    const admin = await fx.registerFirm();
    const { dossier } = await newDossier(admin);
    await expect(fx.directory.deactivateDossier({ dossierId: dossier!.id }, as(admin))).rejects.toMatchObject({
      reason: 'dossier_not_active',
    });
    await fx.directory.activateDossier({ dossierId: dossier!.id, fileManagerId: admin.subjectId }, as(admin));
    expect((await fx.directory.deactivateDossier({ dossierId: dossier!.id }, as(admin))).dossier?.status).toBe(
      'deactivated',
    );
    expect((await fx.directory.reactivateDossier({ dossierId: dossier!.id }, as(admin))).dossier?.status).toBe(
      'active',
    );
    expect(
      (await fx.events<{ dossierId: string; status: string }>('DossierStatusChanged'))
        .filter((e) => e.dossierId === dossier!.id)
        .map((e) => e.status),
    ).toEqual(['active', 'deactivated', 'active']);
  });

  test('listing filters and pages in a stable order, without gaps or repeats', async () => {
    const admin = await fx.registerFirm();
    const names = ['Delta', 'alpha', 'Charlie', 'bravo', 'Echo', 'alpha'];
    for (const name of names) await newDossier(admin, { name });
    const seen: string[] = [];
    let cursor = '';
    do {
      const page = await fx.directory.listDossiers({ pageSize: 4, cursor }, as(admin));
      seen.push(...page.dossiers.map((d) => d.name));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['alpha', 'alpha', 'bravo', 'Charlie', 'Delta', 'Echo']);
    expect((await fx.directory.listDossiers({ search: 'ALP' }, as(admin))).dossiers).toHaveLength(2);
    expect((await fx.directory.listDossiers({ status: 'active' }, as(admin))).dossiers).toHaveLength(0);
    await expect(fx.directory.listDossiers({ cursor: 'garbage' }, as(admin))).rejects.toMatchObject({
      reason: 'invalid_cursor',
    });
  });

  test('nothing of one firm is visible to another', async () => {
    const admin = await fx.registerFirm();
    const foreign = await fx.registerFirm();
    const { dossier } = await newDossier(admin);
    await expect(fx.directory.getDossier({ dossierId: dossier!.id }, as(foreign))).rejects.toMatchObject({
      kind: 'not_found',
    });
    await expect(fx.directory.getFirm({ firmId: admin.firmId }, as(foreign))).rejects.toMatchObject({
      kind: 'not_found',
    });
    await expect(
      fx.directory.assignDossier({ dossierId: dossier!.id, fileManagerId: foreign.subjectId }, as(foreign)),
    ).rejects.toMatchObject({ kind: 'not_found' });
    await expect(
      fx.directory.assignDossier({ dossierId: dossier!.id, fileManagerId: foreign.subjectId }, as(admin)),
    ).rejects.toMatchObject({
      kind: 'invalid_argument',
      violations: [{ field: 'staff' }],
    });
    expect((await fx.directory.listDossiers({}, as(foreign))).dossiers).toEqual([]);
  });
});

describe('portal users, the cascade and impersonation', () => {
  async function activeDossierWithClient(admin: Caller, email = `client-${seed}@client.example`) {
    const { dossier } = await newDossier(admin);
    await fx.directory.activateDossier({ dossierId: dossier!.id, fileManagerId: admin.subjectId }, as(admin));
    const added = await fx.directory.addPortalUser({ dossierId: dossier!.id, email, name: 'Klant' }, as(admin));
    return { dossier: dossier!, user: added.portalUser!, existingUser: added.existingUser };
  }

  test('a new portal user activates, accepts the terms and must change the generated password before using the portal', async () => {
    const admin = await fx.registerFirm();
    const { dossier, user } = await activeDossierWithClient(admin, 'klant@client.example');
    const [added] = (
      await fx.events<{ portalUserId: string; activationToken: string; intakeAddresses: string[] }>('PortalUserAdded')
    ).filter((e) => e.portalUserId === user.id);
    expect(added.intakeAddresses).toContain(`${dossier.enterpriseNumber}.sales@in.kantoor.localhost`);
    const activated = await fx.directory.activatePortalUser(
      { token: added.activationToken, password: '' },
      as(fx.operator),
    );
    expect(activated.generatedPassword.length).toBeGreaterThanOrEqual(12);
    const login = await fx.directory.verifyPassword(
      { email: 'klant@client.example', password: activated.generatedPassword },
      as(fx.operator),
    );
    expect(login).toMatchObject({ kind: 'portal_user', mustAcceptTerms: true, mustChangePassword: true });
    const client: Caller = { kind: 'portal_user', subjectId: user.id, firmId: admin.firmId, scopes: [] };
    await expect(fx.directory.completeVatDeclaration({ dossierId: dossier.id }, as(client))).rejects.toMatchObject({
      reason: 'terms_not_accepted',
    });
    const { acceptedAt } = await fx.directory.acceptTerms({ version: TERMS }, as(client));
    expect(acceptedAt).toBeDefined();
    await expect(fx.directory.completeVatDeclaration({ dossierId: dossier.id }, as(client))).rejects.toMatchObject({
      reason: 'password_change_required',
    });
    await fx.directory.changePassword(
      { currentPassword: activated.generatedPassword, newPassword: PASSWORD },
      as(client),
    );
    const account = await fx.directory.getMyAccount({}, as(client));
    expect(account).toMatchObject({
      mustAcceptTerms: false,
      mustChangePassword: false,
      termsVersion: TERMS,
      dossierIds: [dossier.id],
    });
    const { recipient } = await fx.directory.completeVatDeclaration({ dossierId: dossier.id }, as(client));
    expect(recipient).toMatchObject({ email: admin.email, source: 'file_manager' });
  });

  test('adding a known e-mail address extends that user to the new dossier', async () => {
    const admin = await fx.registerFirm();
    const first = await activeDossierWithClient(admin, 'shared@client.example');
    const second = await activeDossierWithClient(admin, 'SHARED@client.example');
    expect(second.user.id).toBe(first.user.id);
    expect(
      (await fx.directory.listPortalUsers({ dossierId: second.dossier.id }, as(admin))).portalUsers.map((u) => u.id),
    ).toEqual([first.user.id]);
  });

  test('the cascade: file manager, else client group, else the firm address', async () => {
    const admin = await fx.registerFirm();
    const { clientGroup } = await fx.directory.createClientGroup(
      { name: 'Bouw', email: 'bouw@firm.example' },
      as(admin),
    );
    const { dossier } = await newDossier(admin);
    await fx.directory.activateDossier(
      { dossierId: dossier!.id, fileManagerId: admin.subjectId, clientGroupId: clientGroup!.id },
      as(admin),
    );
    const recipient = () =>
      fx.directory.resolveDossierRecipients({ dossierId: dossier!.id }, as(admin)).then((r) => r.recipient);
    expect(await recipient()).toMatchObject({ source: 'file_manager', email: admin.email });
    await fx.directory.assignDossier({ dossierId: dossier!.id, fileManagerId: '' }, as(admin));
    expect(await recipient()).toMatchObject({ source: 'client_group', email: 'bouw@firm.example' });
    await fx.directory.assignDossier({ dossierId: dossier!.id, clientGroupId: '' }, as(admin));
    const firm = (await fx.directory.getFirm({ firmId: admin.firmId }, as(admin))).firm!;
    expect(await recipient()).toMatchObject({ source: 'firm', email: firm.functionalEmail });
  });

  test('staff with access act as the client; both identities are recorded; clients never impersonate', async () => {
    const admin = await fx.registerFirm();
    const employee = await fx.activeStaff(admin, 'employee');
    const { dossier, user } = await activeDossierWithClient(admin);
    const [added] = (await fx.events<{ portalUserId: string; activationToken: string }>('PortalUserAdded')).filter(
      (e) => e.portalUserId === user.id,
    );
    await fx.directory.activatePortalUser({ token: added.activationToken, password: PASSWORD }, as(fx.operator));
    await expect(fx.directory.startImpersonation({ dossierId: dossier.id }, as(employee))).rejects.toMatchObject({
      reason: 'not_assigned',
    });
    const started = await fx.directory.startImpersonation({ dossierId: dossier.id }, as(admin));
    expect(started).toMatchObject({ portalUserId: user.id });
    const acting: Caller = { ...admin, impersonation: { dossierId: dossier.id, portalUserId: user.id } };
    await fx.directory.requestAdditionalUser(
      { dossierId: dossier.id, name: 'Boekhouder', email: 'new@client.example', note: '' },
      as(acting),
    );
    const [request] = (
      await fx.events<{
        dossierId: string;
        requestedBy: { id: string; onBehalfOf: string };
        recipient: { source: string };
      }>('AdditionalUserRequested')
    ).filter((e) => e.dossierId === dossier.id);
    expect(request).toMatchObject({
      requestedBy: { id: user.id, onBehalfOf: `staff:${admin.subjectId}` },
      recipient: { source: 'file_manager' },
    });
    const audit = await fx.service.db.query(
      `SELECT actor_id, on_behalf_of FROM audit_log WHERE action = 'client.additional_user_requested' AND dossier_id = $1`,
      [dossier.id],
    );
    expect(audit.rows).toEqual([{ actor_id: admin.subjectId, on_behalf_of: `portal_user:${user.id}` }]);
    const client: Caller = { kind: 'portal_user', subjectId: user.id, firmId: admin.firmId, scopes: [] };
    await expect(fx.directory.startImpersonation({ dossierId: dossier.id }, as(client))).rejects.toMatchObject({
      kind: 'permission_denied',
    });
    await expect(
      fx.directory.updateDossierSettings({ dossierId: dossier.id, name: 'x' }, as(acting)),
    ).rejects.toMatchObject({ reason: 'impersonating' });
  });

  test('GetDossierAccess tells the facts the policy decides on, to the firm and the platform only', async () => {
    const admin = await fx.registerFirm();
    const { dossier, user } = await activeDossierWithClient(admin);
    const facts = await fx.directory.getDossierAccess(
      { firmId: admin.firmId, dossierId: dossier.id, subjectKind: 'staff', subjectId: admin.subjectId },
      as(fx.operator),
    );
    expect(facts).toMatchObject({
      found: true,
      subjectActive: true,
      subjectRole: 'admin',
      dossier: {
        status: 'active',
        fileManagerId: admin.subjectId,
        assignedStaffIds: [admin.subjectId],
        portalUserIds: [user.id],
      },
    });
    const foreign = await fx.registerFirm();
    expect(
      (await fx.directory.getDossierAccess({ firmId: admin.firmId, dossierId: dossier.id }, as(foreign))).found,
    ).toBe(false);
  });
});
