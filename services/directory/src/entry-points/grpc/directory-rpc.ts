import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { Database } from '@kantoor/database';
import { permissionDenied } from '@kantoor/errors';
import { implement } from '@kantoor/grpc';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import { loadAccessFacts } from '../../data-access/access-repository';
import type { DossierView } from '../../data-access/dossier-repository';
import type { ContactInfo, FirmRow, StaffView } from '../../data-access/firm-repository';
import type { ClientGroupView, StaffGroupView } from '../../data-access/group-repository';
import type { PortalUserRow } from '../../data-access/portal-user-repository';
import type { DirectoryConfig } from '../../config';
import { termsVersion } from '../../domain/access';
import {
  completeVatDeclaration,
  requestAdditionalUser,
  resolveRecipients,
  sendClientMessage,
} from '../../domain/client-messages';
import {
  activateDossier,
  assignDossier,
  changeDossierStatus,
  createDossier,
  getDossier,
  intakeAddresses,
  listVisibleDossiers,
  updateDossierSettings,
} from '../../domain/dossiers';
import { getFirm, updateFirmSettings } from '../../domain/firm-settings';
import { clientGroups, saveClientGroup, saveStaffGroup, staffGroups } from '../../domain/groups';
import { startImpersonation } from '../../domain/impersonation';
import { listNewsItems, publishNewsItem, withdrawNewsItem, type NewsItemView } from '../../domain/news';
import { acceptTerms, addPortalUser, changePassword, myAccount, portalUsersOfDossier } from '../../domain/portal-users';
import { registerFirm } from '../../domain/register-firm';
import { activateAccount, changeStaffRole, inviteStaff, removeStaff, staffMembers } from '../../domain/staff';
import { resolveIdentity, verifyLogin } from '../../domain/verify-login';

const time = (date: Date | null | undefined) => (date ? timestampFromDate(date) : undefined);

const contactMessage = (contact: ContactInfo) => ({ ...contact });

const firmMessage = (firm: FirmRow) => ({
  id: firm.id,
  name: firm.name,
  functionalEmail: firm.functional_email,
  language: firm.language,
  onlyAdminsAddClients: firm.only_admins_add_clients,
  createdAt: timestampFromDate(firm.created_at),
  contact: contactMessage(firm.contact),
  intakeDomain: firm.intake_domain,
});

const staffMessage = (staff: StaffView) => ({
  id: staff.id,
  firmId: staff.firm_id,
  name: staff.name,
  email: staff.email,
  role: staff.role,
  status: staff.status,
  createdAt: timestampFromDate(staff.created_at),
  staffGroupIds: staff.staff_group_ids,
});

const staffGroupMessage = (group: StaffGroupView) => ({ id: group.id, name: group.name, memberIds: group.member_ids });

const clientGroupMessage = (group: ClientGroupView) => ({
  id: group.id,
  name: group.name,
  email: group.email,
  staffIds: group.staff_ids,
  staffGroupIds: group.staff_group_ids,
  dossierCount: group.dossier_count,
});

const dossierMessage = (dossier: DossierView) => ({
  id: dossier.id,
  firmId: dossier.firm_id,
  code: dossier.code,
  name: dossier.name,
  country: dossier.country,
  enterpriseNumber: dossier.enterprise_number,
  language: dossier.language,
  status: dossier.status,
  fileManagerId: dossier.file_manager_id ?? '',
  clientGroupId: dossier.client_group_id ?? '',
  collaboratorStaffIds: dossier.collaborator_staff_ids,
  collaboratorGroupIds: dossier.collaborator_group_ids,
  contact: contactMessage(dossier.contact),
  contactPersons: dossier.contact_persons,
  intakeAddresses: intakeAddresses(dossier),
  senderWhitelist: dossier.sender_whitelist,
  createdAt: timestampFromDate(dossier.created_at),
  activatedAt: time(dossier.activated_at),
  deactivatedAt: time(dossier.deactivated_at),
});

const portalUserMessage = (user: PortalUserRow & { profile?: string }) => ({
  id: user.id,
  email: user.email,
  name: user.name,
  status: user.status,
  profile: user.profile ?? 'documentProcessing',
  termsVersion: user.terms_version ?? '',
  termsAcceptedAt: time(user.terms_accepted_at),
  mustChangePassword: user.must_change_password,
});

const newsItemMessage = (item: NewsItemView) => ({
  id: item.id,
  title: item.title,
  body: item.body,
  publishedAt: timestampFromDate(item.publishedAt),
  publishedByName: item.publishedByName,
  withdrawnAt: time(item.withdrawnAt),
});

/** proto3 sends absent contact as undefined and absent strings as ''; both mean "no contact given". */
const contactInput = (contact: ContactInfo | undefined) =>
  contact && Object.values(contact).some((value) => typeof value === 'string' && value !== '')
    ? contact
    : contact
      ? {}
      : undefined;

export function directoryRpc(db: Database, onEventsWritten: () => void, config: DirectoryConfig) {
  const hours = config.DIRECTORY_ACTIVATION_HOURS;
  /** every change appends events; the relay is woken after the commit */
  const changed = <T>(result: T): T => {
    onEventsWritten();
    return result;
  };
  return implement(DirectoryService, {
    async registerFirm(request, { caller }) {
      // registering a firm is an operator's act (the platform's own setup or seeding), not a tenant's
      if (caller.kind !== 'system')
        throw permissionDenied('Only the platform operator registers firms', { reason: 'operator_required' });
      const { firm, admin } = changed(await registerFirm(db, request, caller.subjectId, hours));
      return { firm: firmMessage(firm), adminStaffId: admin.id };
    },
    async getFirm(request, { caller }) {
      return { firm: firmMessage(await getFirm(db, caller, request.firmId)) };
    },
    async updateFirmSettings(request, { caller }) {
      const firm = changed(
        await updateFirmSettings(db, caller, { ...request, contact: contactInput(request.contact) }),
      );
      return { firm: firmMessage(firm) };
    },

    async inviteStaff(request, { caller }) {
      return { staff: staffMessage(changed(await inviteStaff(db, caller, request, hours))) };
    },
    async listStaff(request, { caller }) {
      const page = await staffMembers(db, caller, request);
      return { staff: page.staff.map(staffMessage), nextCursor: page.nextCursor };
    },
    async changeStaffRole(request, { caller }) {
      return { staff: staffMessage(changed(await changeStaffRole(db, caller, request.staffId, request.role))) };
    },
    async removeStaff(request, { caller }) {
      changed(await removeStaff(db, caller, request.staffId));
      return {};
    },
    async activateStaff(request) {
      return changed(await activateAccount(db, 'staff', request.token, request.password));
    },
    async verifyPassword(request) {
      return verifyLogin(db, request.email, request.password);
    },
    async resolveIdentity(request, { caller }) {
      if (caller.kind !== 'system')
        throw permissionDenied('Only the gateway resolves identities', { reason: 'system_only' });
      const identity = await resolveIdentity(db, request.email);
      return identity ? { found: true, ...identity } : { found: false };
    },

    async createStaffGroup(request, { caller }) {
      return { staffGroup: staffGroupMessage(changed(await saveStaffGroup(db, caller, request))) };
    },
    async updateStaffGroup(request, { caller }) {
      const group = await saveStaffGroup(db, caller, {
        id: request.staffGroupId,
        name: request.name,
        memberIds: request.memberIds?.ids,
      });
      return { staffGroup: staffGroupMessage(changed(group)) };
    },
    async listStaffGroups(request, { caller }) {
      const page = await staffGroups(db, caller, request);
      return { staffGroups: page.staffGroups.map(staffGroupMessage), nextCursor: page.nextCursor };
    },
    async createClientGroup(request, { caller }) {
      return { clientGroup: clientGroupMessage(changed(await saveClientGroup(db, caller, request))) };
    },
    async updateClientGroup(request, { caller }) {
      const group = await saveClientGroup(db, caller, {
        id: request.clientGroupId,
        name: request.name,
        email: request.email,
        staffIds: request.staffIds?.ids,
        staffGroupIds: request.staffGroupIds?.ids,
      });
      return { clientGroup: clientGroupMessage(changed(group)) };
    },
    async listClientGroups(request, { caller }) {
      const page = await clientGroups(db, caller, request);
      return { clientGroups: page.clientGroups.map(clientGroupMessage), nextCursor: page.nextCursor };
    },

    async createDossier(request, { caller }) {
      const dossier = await createDossier(db, caller, { ...request, contact: contactInput(request.contact) });
      return { dossier: dossierMessage(changed(dossier)) };
    },
    async getDossier(request, { caller }) {
      return { dossier: dossierMessage(await getDossier(db, caller, request.dossierId)) };
    },
    async listDossiers(request, { caller }) {
      const page = await listVisibleDossiers(db, caller, request);
      return {
        dossiers: page.dossiers.map(dossierMessage),
        nextCursor: page.nextCursor,
        cursorsAfter: page.cursorsAfter,
      };
    },
    async activateDossier(request, { caller }) {
      return { dossier: dossierMessage(changed(await activateDossier(db, caller, request.dossierId, request))) };
    },
    async assignDossier(request, { caller }) {
      const dossier = await assignDossier(db, caller, request.dossierId, {
        fileManagerId: request.fileManagerId,
        clientGroupId: request.clientGroupId,
        collaboratorStaffIds: request.collaboratorStaffIds?.ids,
        collaboratorGroupIds: request.collaboratorGroupIds?.ids,
      });
      return { dossier: dossierMessage(changed(dossier)) };
    },
    async deactivateDossier(request, { caller }) {
      return {
        dossier: dossierMessage(changed(await changeDossierStatus(db, caller, request.dossierId, 'deactivated'))),
      };
    },
    async reactivateDossier(request, { caller }) {
      return { dossier: dossierMessage(changed(await changeDossierStatus(db, caller, request.dossierId, 'active'))) };
    },
    async updateDossierSettings(request, { caller }) {
      const dossier = await updateDossierSettings(db, caller, request.dossierId, {
        name: request.name,
        language: request.language,
        contact: contactInput(request.contact),
        contactPersons: request.contactPersons?.items,
        senderWhitelist: request.senderWhitelist?.items,
      });
      return { dossier: dossierMessage(dossier) };
    },

    async addPortalUser(request, { caller }) {
      const { user, existingUser } = changed(await addPortalUser(db, caller, request, hours));
      return { portalUser: portalUserMessage(user), existingUser };
    },
    async listPortalUsers(request, { caller }) {
      const page = await portalUsersOfDossier(db, caller, request.dossierId, request);
      return { portalUsers: page.portalUsers.map(portalUserMessage), nextCursor: page.nextCursor };
    },
    async activatePortalUser(request) {
      return changed(await activateAccount(db, 'portal_user', request.token, request.password));
    },
    async getMyAccount(_request, { caller }) {
      const account = await myAccount(db, caller);
      return { ...account, termsAcceptedAt: time(account.termsAcceptedAt) };
    },
    async acceptTerms(request, { caller }) {
      return { acceptedAt: timestampFromDate(await acceptTerms(db, caller, request.version)) };
    },
    async changePassword(request, { caller }) {
      await changePassword(db, caller, request.currentPassword, request.newPassword);
      return {};
    },

    async resolveDossierRecipients(request, { caller }) {
      return { recipient: await resolveRecipients(db, caller, request.dossierId) };
    },
    async sendClientMessage(request, { caller }) {
      return { recipient: changed(await sendClientMessage(db, caller, request)) };
    },
    async completeVatDeclaration(request, { caller }) {
      return { recipient: changed(await completeVatDeclaration(db, caller, request.dossierId)) };
    },
    async requestAdditionalUser(request, { caller }) {
      return { recipient: changed(await requestAdditionalUser(db, caller, request)) };
    },

    async publishNewsItem(request, { caller }) {
      return { item: newsItemMessage(await publishNewsItem(db, caller, request)) };
    },
    async withdrawNewsItem(request, { caller }) {
      return { item: newsItemMessage(await withdrawNewsItem(db, caller, request.id)) };
    },
    async listNewsItems(request, { caller }) {
      const page = await listNewsItems(db, caller, request);
      return { items: page.items.map(newsItemMessage), nextCursor: page.nextCursor };
    },

    async getDossierAccess(request, { caller }) {
      // the facts name staff and clients: only the platform's services and the firm itself may read them
      if (caller.kind !== 'system' && caller.firmId !== request.firmId) return { found: false };
      const facts = await loadAccessFacts(
        db,
        {
          firmId: request.firmId,
          dossierId: request.dossierId || undefined,
          subject: { kind: (request.subjectKind || 'system') as 'system', id: request.subjectId },
        },
        termsVersion(),
      );
      if (!facts) return { found: false };
      return {
        found: true,
        firmId: facts.firm.firmId,
        onlyAdminsAddClients: facts.firm.onlyAdminsAddClients,
        subjectKnown: facts.subject !== undefined,
        subjectActive: facts.subject?.active ?? false,
        subjectRole: facts.subject?.role ?? '',
        subjectMustChangePassword: facts.subject?.mustChangePassword ?? false,
        subjectMustAcceptTerms: facts.subject?.mustAcceptTerms ?? false,
        dossier: facts.dossier && {
          ...facts.dossier,
          fileManagerId: facts.dossier.fileManagerId ?? '',
          clientGroupId: facts.dossier.clientGroupId ?? '',
          assignedStaffIds: [...facts.dossier.assignedStaffIds],
          portalUserIds: [...facts.dossier.portalUserIds],
        },
      };
    },
    async startImpersonation(request, { caller }) {
      return startImpersonation(db, caller, request.dossierId, request.portalUserId || undefined);
    },
  });
}
