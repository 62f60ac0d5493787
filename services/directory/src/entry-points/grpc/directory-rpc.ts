import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { Database } from '@kantoor/database';
import { notFound, permissionDenied } from '@kantoor/errors';
import { implement } from '@kantoor/grpc';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import { findFirm, type FirmRow, type StaffRow } from '../../data-access/firm-repository';
import { inviteStaff } from '../../domain/invite-staff';
import { registerFirm } from '../../domain/register-firm';
import { verifyLogin } from '../../domain/verify-login';

const firmMessage = (firm: FirmRow) => ({
  id: firm.id,
  name: firm.name,
  functionalEmail: firm.functional_email,
  language: firm.language,
  onlyAdminsAddClients: firm.only_admins_add_clients,
  createdAt: timestampFromDate(firm.created_at),
});

const staffMessage = (staff: StaffRow) => ({
  id: staff.id,
  firmId: staff.firm_id,
  name: staff.name,
  email: staff.email,
  role: staff.role,
  status: staff.status,
  createdAt: timestampFromDate(staff.created_at),
});

export function directoryRpc(db: Database, onEventsWritten: () => void) {
  return implement(DirectoryService, {
    async registerFirm(request, { caller }) {
      // registering a firm is an operator's act (the platform's own setup or seeding), not a tenant's
      if (caller.kind !== 'system')
        throw permissionDenied('Only the platform operator registers firms', { reason: 'operator_required' });
      const { firm, admin } = await registerFirm(db, request, caller.subjectId);
      onEventsWritten();
      return { firm: firmMessage(firm), adminStaffId: admin.id };
    },
    async getFirm(request, { caller }) {
      // nothing of one firm is ever visible to another: a foreign firm id is answered as not found
      const firm =
        caller.firmId === request.firmId || caller.kind === 'system' ? await findFirm(db, request.firmId) : undefined;
      if (!firm) throw notFound('Firm not found', { reason: 'firm_not_found' });
      return { firm: firmMessage(firm) };
    },
    async inviteStaff(request, { caller }) {
      const staff = await inviteStaff(db, caller, request);
      onEventsWritten();
      return { staff: staffMessage(staff) };
    },
    async verifyPassword(request) {
      const staff = await verifyLogin(db, request.email, request.password);
      return { kind: 'staff', subjectId: staff.id, firmId: staff.firm_id, role: staff.role, email: staff.email };
    },
  });
}
