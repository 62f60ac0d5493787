/** Starts the real directory service on PGlite (or a given platform) and gives tests a client and callers. */
import { createServiceClient, systemCaller, type Caller, type ServiceClient } from '@kantoor/grpc';
import { decodeEnvelope, unpackPayload } from '@kantoor/events';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import { embeddedPlatform, startService, type Platform, type RunningService } from '@kantoor/service-runtime';
import { temporaryFolder } from '@kantoor/testing';
import { createDirectoryService } from '../src';

export const TERMS = '2025-01';
export const PASSWORD = 'correct horse battery staple';

export interface DirectoryFixture {
  service: RunningService;
  directory: ServiceClient<typeof DirectoryService>;
  operator: Caller;
  /** payloads of the events of one type, oldest first, as the outbox holds them */
  events<T = Record<string, unknown>>(type: string): Promise<T[]>;
  /** a firm with an active admin; returns the admin's caller */
  registerFirm(name?: string): Promise<Caller>;
  /** invites and activates a staff member, as the activation link would */
  activeStaff(admin: Caller, role: 'admin' | 'employee' | 'support', name?: string): Promise<Caller>;
  stop(): Promise<void>;
}

let counter = 0;
const unique = () => `${Date.now().toString(36)}${(counter++).toString(36)}`;

export async function startDirectory(platform?: Platform): Promise<DirectoryFixture> {
  const folder = await temporaryFolder();
  const definition = createDirectoryService({ DIRECTORY_ACTIVATION_HOURS: 72, DIRECTORY_TERMS_VERSION: TERMS });
  const service = await startService(
    definition,
    platform ?? embeddedPlatform({ dataDir: folder.path, inMemory: true, logLevel: 'silent' }),
    { host: '127.0.0.1', port: 0 },
  );
  const directory = createServiceClient(DirectoryService, `127.0.0.1:${service.port}`);
  const operator = systemCaller('test');
  const fixture: DirectoryFixture = {
    service,
    directory,
    operator,
    async events<T>(type: string) {
      const { rows } = await service.db.query<{ payload: Uint8Array }>(
        'SELECT payload FROM outbox WHERE type = $1 ORDER BY position',
        [`kantoor.directory.v1.${type}`],
      );
      return rows.map((row) => unpackPayload(decodeEnvelope(new Uint8Array(row.payload))) as T);
    },
    async registerFirm(name = `Firm ${unique()}`) {
      const email = `admin-${unique()}@firm.example`;
      const { firm, adminStaffId } = await directory.registerFirm(
        {
          name,
          functionalEmail: `office-${unique()}@firm.example`,
          language: 'nl',
          adminName: 'An Admin',
          adminEmail: email,
          adminPassword: PASSWORD,
        },
        { caller: operator },
      );
      return { kind: 'staff', subjectId: adminStaffId, firmId: firm!.id, role: 'admin', email, scopes: [] };
    },
    async activeStaff(admin, role, name = `Staff ${unique()}`) {
      const email = `${role}-${unique()}@firm.example`;
      const { staff } = await directory.inviteStaff({ name, email, role }, { caller: admin });
      const invited = await fixture.events<{ staffId: string; activationToken: string }>('StaffInvited');
      const token = invited.find((event) => event.staffId === staff!.id)!.activationToken;
      await directory.activateStaff({ token, password: PASSWORD }, { caller: operator });
      return { kind: 'staff', subjectId: staff!.id, firmId: admin.firmId, role, email, scopes: [] };
    },
    async stop() {
      directory.close();
      await service.stop();
      await folder.remove();
    },
  };
  return fixture;
}

/** Valid Belgian enterprise numbers: 8 digits, then 97 minus their remainder modulo 97. */
export function belgianNumber(seed: number): string {
  const base = String(10_000_000 + (seed % 89_999_999))
    .padStart(8, '0')
    .replace(/^./, '0');
  const check = 97 - (Number(base) % 97);
  return base + String(check).padStart(2, '0');
}

/** The directory for the tests of one file: started before them, stopped after them. */
export function directoryForTests(): DirectoryFixture {
  const fx = {} as DirectoryFixture;
  beforeAll(async () => {
    Object.assign(fx, await startDirectory());
  }, 30_000);
  afterAll(() => fx.stop?.());
  return fx;
}

/** The call options of a request by `caller`. */
export const as = (caller: Caller) => ({ caller });
