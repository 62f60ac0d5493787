import { randomUUID } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { Database } from '@kantoor/database';
import { invalidArgument } from '@kantoor/errors';
import { appendEvent } from '@kantoor/events';
import { FirmRegisteredSchema } from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { insertFirm, insertStaff, recordAudit, type FirmRow, type StaffRow } from '../data-access/firm-repository';
import { hashPassword, passwordProblem } from './passwords';
import { issueActivationToken } from './activation';
import { DOMAIN, LANGUAGES, Violations, type Language } from './validation';

export interface RegisterFirmInput {
  name: string;
  functionalEmail: string;
  language: string;
  adminName: string;
  adminEmail: string;
  adminPassword?: string;
  intakeDomain?: string;
}

/** A new firm with the registering person as its first admin (spec 01: "the person who registers ... admin"). */
export async function registerFirm(
  db: Database,
  input: RegisterFirmInput,
  actorId: string,
  activationHours = 72,
): Promise<{ firm: FirmRow; admin: StaffRow }> {
  new Violations()
    .name(input.name, 'name')
    .email(input.functionalEmail, 'functionalEmail')
    .oneOf(input.language, LANGUAGES, 'language')
    .name(input.adminName, 'adminName')
    .email(input.adminEmail, 'adminEmail')
    .check(!input.intakeDomain || DOMAIN.test(input.intakeDomain), 'intakeDomain', 'must be a domain name')
    .throwIfAny();
  if (input.adminPassword) {
    const problem = passwordProblem(input.adminPassword);
    if (problem)
      throw invalidArgument(problem, {
        reason: 'weak_password',
        violations: [{ field: 'adminPassword', message: problem }],
      });
  }
  const passwordHash = input.adminPassword ? await hashPassword(input.adminPassword) : null;
  return db.transaction(async (tx) => {
    const firm = await insertFirm(tx, {
      id: randomUUID(),
      name: input.name.trim(),
      functional_email: input.functionalEmail,
      language: input.language as Language,
      only_admins_add_clients: false,
      intake_domain: input.intakeDomain || 'in.kantoor.localhost',
    });
    const admin = await insertStaff(tx, {
      id: randomUUID(),
      firm_id: firm.id,
      name: input.adminName.trim(),
      email: input.adminEmail,
      role: 'admin',
      status: passwordHash ? 'active' : 'invited',
      password_hash: passwordHash,
    });
    await recordAudit(tx, {
      firmId: firm.id,
      actorKind: 'system',
      actorId,
      action: 'firm.registered',
      subjectId: firm.id,
    });
    const activation = passwordHash
      ? undefined
      : await issueActivationToken(tx, { kind: 'staff', id: admin.id, firmId: firm.id }, activationHours);
    await appendEvent(tx, {
      source: 'directory',
      firmId: firm.id,
      payload: {
        schema: FirmRegisteredSchema,
        value: create(FirmRegisteredSchema, {
          firmId: firm.id,
          name: firm.name,
          functionalEmail: firm.functional_email,
          language: firm.language,
          adminStaffId: admin.id,
          adminEmail: admin.email,
          adminName: admin.name,
          activationToken: activation?.token ?? '',
          activationExpiresAt: activation && timestampFromDate(activation.expiresAt),
        }),
      },
    });
    return { firm, admin };
  });
}
