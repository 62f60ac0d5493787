/**
 * The access matrix: every authenticated route of the gateway's route table, for every kind of caller,
 * against the real directory service and the real access policy. The expected answers are written out
 * below per permission, by hand; a route whose permission or sample request is missing here fails the
 * suite, so no new route escapes the matrix. A refusal must come from the policy (403, or 404 where the
 * dossier belongs to someone else) and must leave every table as it was.
 */
import request from 'supertest';
import { createDirectoryService } from '@kantoor/directory';
import { createServiceClient, systemCaller, type Caller, type ServiceClient } from '@kantoor/grpc';
import { decodeEnvelope, unpackPayload } from '@kantoor/events';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import { embeddedPlatform, startService, type RunningService } from '@kantoor/service-runtime';
import { temporaryFolder, type TestDatabase } from '@kantoor/testing';
import { authorizeWithPolicy, directoryAccessFacts, routeTable, type Route } from '../src';
import { bearer, openMigratedDatabase, testApp } from './helpers';

const PERSONAS = [
  'admin',
  'employee assigned',
  'employee not assigned',
  'support assigned',
  'support not assigned',
  'portal user of the dossier',
  'portal user of another dossier',
  'admin of another firm',
  'API key with the scope',
  'API key without the scope',
] as const;
type Persona = (typeof PERSONAS)[number];

/** Allowed personas per permission, in PERSONAS order: A EA EU SA SU P PO F K+ K- */
const MATRIX: Record<string, string> = {
  'firm:read': '11111 00 1 1 0',
  'firm:write': '10000 00 1 0 0',
  'staff:read': '11111 00 1 1 0',
  'staff:write': '10000 00 1 0 0',
  'group:read': '11111 00 1 1 0',
  'group:write': '10000 00 1 0 0',
  'api_key:read': '10000 00 1 0 0',
  'api_key:write': '10000 00 1 0 0',
  'notification:read': '10000 00 1 0 0',
  'notification:write': '10000 00 1 0 0',
  'webhook:read': '10000 00 1 1 0',
  'webhook:write': '10000 00 1 1 0',
  'dossier:list': '11111 11 1 1 0',
  'dossier:create': '11100 00 1 1 0',
  'account:read': '11111 11 1 0 0',
  'account:write': '11111 11 1 0 0',
  'dossier:read': '11010 10 0 1 0',
  'dossier:write': '11000 00 0 1 0',
  'dossier:activate': '11100 00 0 1 0',
  'portal_user:read': '11000 00 0 1 0',
  'portal_user:write': '11000 00 0 0 0',
  'document:read': '11010 10 0 1 0',
  'document:write': '11010 10 0 1 0',
  'document:process': '11010 00 0 1 0',
  'document:monitor': '11111 00 1 0 0',
  'archive:read': '11000 00 0 1 0',
  'archive:manage': '10000 00 1 0 0',
  'news:read': '11111 11 1 0 0',
  'news:write': '11100 00 1 0 0',
  'portal:use': '00000 10 0 0 0',
  'impersonation:start': '11000 00 0 0 0',
};
const expected = (permission: string, persona: Persona) =>
  (MATRIX[permission] ?? '').replace(/ /g, '')[PERSONAS.indexOf(persona)] === '1';

/** the reasons the access policy refuses with; any other answer means the request got past it */
const POLICY_REASONS = new Set(
  [
    'not-assigned',
    'dossier-not-found',
    'admin-required',
    'role-not-allowed',
    'missing-scope',
    'not-for-api-keys',
    'not-for-portal-users',
    'other-firm',
    'portal-only',
    'only-admins-add-clients',
    'impersonating',
    'account-inactive',
    'dossier-required',
    'dossier-not-active',
    'unknown-permission',
  ].map((reason) => `https://kantoor.dev/problems/${reason}`),
);

const PASSWORD = 'correct horse battery staple';
let unique = 0;
const next = () => `${Date.now().toString(36)}${(unique++).toString(36)}`;
function belgianNumber(): string {
  const base = `0${String(1_000_000 + ((Date.now() + unique++) % 8_999_999)).slice(-7)}`;
  return base + String(97 - (Number(base) % 97)).padStart(2, '0');
}

interface World {
  directory: ServiceClient<typeof DirectoryService>;
  firmId: string;
  dossierId: string;
  otherDossierId: string;
  staffGroupId: string;
  clientGroupId: string;
  callers: Record<Persona, Caller>;
  admin: Caller;
}

/** A sample request per operation; fresh targets where the allowed request would use one up. */
const SAMPLES: Record<
  string,
  (world: World) => Promise<{
    params?: Record<string, string>;
    body?: object;
    query?: Record<string, string>;
    after?: () => Promise<unknown>;
  }>
> = {
  getFirm: async () => ({}),
  updateFirmSettings: async () => ({ body: { contact: { city: 'Gent' } } }),
  listStaff: async () => ({}),
  inviteStaff: async () => ({ body: { name: 'New', email: `new-${next()}@firm.example`, role: 'support' } }),
  changeStaffRole: async (w) => ({ params: { staffId: await throwawayStaff(w) }, body: { role: 'employee' } }),
  removeStaff: async (w) => ({ params: { staffId: await throwawayStaff(w) } }),
  listStaffGroups: async () => ({}),
  createStaffGroup: async () => ({ body: { name: `Team ${next()}` } }),
  updateStaffGroup: async (w) => ({ params: { staffGroupId: w.staffGroupId }, body: { name: `Team ${next()}` } }),
  listClientGroups: async () => ({}),
  createClientGroup: async () => ({ body: { name: `Group ${next()}`, email: 'group@firm.example' } }),
  updateClientGroup: async (w) => ({ params: { clientGroupId: w.clientGroupId }, body: { name: `Group ${next()}` } }),
  listDossiers: async () => ({ query: { pageSize: '5' } }),
  createDossier: async () => ({
    body: { name: `Client ${next()}`, country: 'BE', enterpriseNumber: belgianNumber(), language: 'nl' },
  }),
  getDossier: async (w) => ({ params: { dossierId: w.dossierId } }),
  updateDossierSettings: async (w) => ({ params: { dossierId: w.dossierId }, body: { contact: { city: 'Brugge' } } }),
  activateDossier: async (w) => ({ params: { dossierId: w.dossierId }, body: { fileManagerId: w.admin.subjectId } }),
  assignDossier: async (w) => ({ params: { dossierId: w.dossierId }, body: {} }),
  deactivateDossier: async (w) => ({
    params: { dossierId: w.dossierId },
    after: () => w.directory.reactivateDossier({ dossierId: w.dossierId }, { caller: w.admin }).catch(() => undefined),
  }),
  reactivateDossier: async (w) => ({ params: { dossierId: w.dossierId } }),
  getDossierRecipient: async (w) => ({ params: { dossierId: w.dossierId } }),
  listPortalUsers: async (w) => ({ params: { dossierId: w.dossierId } }),
  addPortalUser: async (w) => ({
    params: { dossierId: w.dossierId },
    body: { email: `extra-${next()}@client.example`, name: 'Extra' },
  }),
  sendClientMessage: async (w) => ({
    params: { dossierId: w.dossierId },
    body: { subject: 'Vraag', body: 'Hoe zit het met...' },
  }),
  completeVatDeclaration: async (w) => ({ params: { dossierId: w.dossierId } }),
  requestAdditionalUser: async (w) => ({
    params: { dossierId: w.dossierId },
    body: { name: 'Boekhouder', email: 'b@client.example' },
  }),
  startImpersonation: async (w) => ({ params: { dossierId: w.dossierId }, body: {} }),
  getMyAccount: async () => ({}),
  acceptTerms: async () => ({ body: { version: '2025-01' } }),
  listNewsItems: async () => ({ query: { pageSize: '5' } }),
  publishNewsItem: async () => ({ body: { title: `Nieuws ${next()}`, body: 'Tekst' } }),
  withdrawNewsItem: async (w) => ({
    params: {
      newsItemId: (await w.directory.publishNewsItem({ title: `Weg ${next()}`, body: 'Tekst' }, { caller: w.admin }))
        .item!.id,
    },
  }),
  changePassword: async () => ({ body: { currentPassword: 'not the password', newPassword: 'another long password' } }),
  createApiKey: async () => ({ body: { name: 'Partner', scopes: ['dossier:read'] } }),
  listApiKeys: async () => ({}),
  revokeApiKey: async () => ({ params: { apiKeyId: '00000000-0000-4000-8000-000000000000' } }),
  listDeliveries: async () => ({}),
  getDelivery: async () => ({ params: { deliveryId: '00000000-0000-4000-8000-000000000000' } }),
  getSmtpSettings: async () => ({}),
  putSmtpSettings: async () => ({ body: {} }),
  deleteSmtpSettings: async () => ({}),
  putFirmLogo: async () => ({ body: {} }),
  listMailboxMessages: async () => ({}),
  // nor is the notification service: webhooks allowed past the policy meet 503
  createWebhook: async () => ({ body: { url: 'https://partner.example/hooks', eventTypes: ['documents.sent'] } }),
  listWebhooks: async () => ({}),
  getWebhook: async () => ({ params: { webhookId: NO_WEBHOOK } }),
  updateWebhook: async () => ({ params: { webhookId: NO_WEBHOOK }, body: { enabled: false } }),
  deleteWebhook: async () => ({ params: { webhookId: NO_WEBHOOK } }),
  rotateWebhookSecret: async () => ({ params: { webhookId: NO_WEBHOOK } }),
  pingWebhook: async () => ({ params: { webhookId: NO_WEBHOOK } }),
  listWebhookDeliveries: async () => ({ params: { webhookId: NO_WEBHOOK } }),
  getWebhookDelivery: async () => ({ params: { webhookId: NO_WEBHOOK, deliveryId: NO_DOCUMENT } }),
  retryWebhookDelivery: async () => ({ params: { webhookId: NO_WEBHOOK, deliveryId: NO_DOCUMENT } }),
  getMailboxMessage: async () => ({ params: { mailId: 'none' } }),
  // the document intake is not started here: what passes the policy meets 503 or a refused body, never 401/403
  uploadDocument: async (w) => ({ params: { dossierId: w.dossierId }, query: { mailbox: 'purchase' } }),
  scanDocument: async (w) => ({ params: { dossierId: w.dossierId }, query: { mailbox: 'purchase' } }),
  uploadDocuments: async (w) => ({ params: { dossierId: w.dossierId }, query: { mailbox: 'purchase' } }),
  listDocuments: async (w) => ({ params: { dossierId: w.dossierId } }),
  getDocument: async (w) => ({ params: { dossierId: w.dossierId, documentId: NO_DOCUMENT } }),
  updateDocument: async (w) => ({ params: { dossierId: w.dossierId, documentId: NO_DOCUMENT }, body: { remark: 'x' } }),
  deleteDocument: async (w) => ({ params: { dossierId: w.dossierId, documentId: NO_DOCUMENT } }),
  splitDocument: async (w) => ({
    params: { dossierId: w.dossierId, documentId: NO_DOCUMENT },
    body: { groups: [{ name: 'a', pages: [1] }] },
  }),
  mergeDocuments: async (w) => ({
    params: { dossierId: w.dossierId },
    body: { documentIds: [NO_DOCUMENT, '00000000-0000-4000-8000-000000000002'], name: 'm' },
  }),
  sendDocuments: async (w) => ({ params: { dossierId: w.dossierId }, body: { documentIds: [NO_DOCUMENT] } }),
  downloadDocument: async (w) => ({ params: { dossierId: w.dossierId, documentId: NO_DOCUMENT } }),
  getIntakeLog: async (w) => ({ params: { dossierId: w.dossierId } }),
  listActiveClients: async () => ({}),
  markDocumentsProcessed: async (w) => ({ params: { dossierId: w.dossierId }, body: { documentIds: [NO_DOCUMENT] } }),
  downloadDossierZip: async (w) => ({ params: { dossierId: w.dossierId } }),
  requestDownloadLink: async (w) => ({ params: { dossierId: w.dossierId }, body: {} }),
  // nor is the archive: the same holds
  searchArchive: async (w) => ({ params: { dossierId: w.dossierId } }),
  downloadArchivedObject: async (w) => ({ params: { dossierId: w.dossierId, objectId: '1' } }),
  downloadArchiveSelection: async (w) => ({ params: { dossierId: w.dossierId }, query: { mailbox: 'sales' } }),
  downloadDossierArchive: async (w) => ({ params: { dossierId: w.dossierId } }),
  listPurgeRecords: async (w) => ({ params: { dossierId: w.dossierId } }),
  setObjectLegalHold: async (w) => ({
    params: { dossierId: w.dossierId, objectId: '1' },
    body: { hold: true, reason: 'dispute' },
  }),
  setDossierLegalHold: async (w) => ({ params: { dossierId: w.dossierId }, body: { hold: true, reason: 'dispute' } }),
  deleteArchivedObject: async (w) => ({ params: { dossierId: w.dossierId, objectId: '1' } }),
  getArchiveRetention: async () => ({}),
  setArchiveRetention: async () => ({ body: { years: 10, counting: 'end_of_year' } }),
  listVerificationRuns: async () => ({}),
  runArchiveVerification: async () => ({ body: { sample: 1 } }),
  runArchivePurge: async () => ({}),
};

const NO_DOCUMENT = '00000000-0000-4000-8000-000000000001';
const NO_WEBHOOK = '00000000-0000-4000-8000-000000000003';
let world: World;
async function throwawayStaff(w: World): Promise<string> {
  return (
    await w.directory.inviteStaff(
      { name: 'Temp', email: `temp-${next()}@firm.example`, role: 'support' },
      { caller: w.admin },
    )
  ).staff!.id;
}

let service: RunningService;
let gatewayDb: TestDatabase;
let folder: { path: string; remove(): Promise<void> };
let app: ReturnType<typeof testApp>['app'];

async function tokenFor(type: string, id: string, key: 'staffId' | 'portalUserId'): Promise<string> {
  const { rows } = await service.db.query<{ payload: Uint8Array }>(
    'SELECT payload FROM outbox WHERE type = $1 ORDER BY position',
    [`kantoor.directory.v1.${type}`],
  );
  const events = rows.map(
    (row) => unpackPayload(decodeEnvelope(new Uint8Array(row.payload))) as unknown as Record<string, string>,
  );
  return events.find((event) => event[key] === id)!.activationToken;
}

beforeAll(async () => {
  folder = await temporaryFolder();
  service = await startService(
    createDirectoryService({ DIRECTORY_ACTIVATION_HOURS: 72, DIRECTORY_TERMS_VERSION: '2025-01' }),
    embeddedPlatform({ dataDir: folder.path, inMemory: true, logLevel: 'silent' }),
    { host: '127.0.0.1', port: 0 },
  );
  const directory = createServiceClient(DirectoryService, `127.0.0.1:${service.port}`);
  const operator = systemCaller('test');
  const register = async () => {
    const email = `admin-${next()}@firm.example`;
    const { firm, adminStaffId } = await directory.registerFirm(
      {
        name: 'Kantoor',
        functionalEmail: 'office@firm.example',
        language: 'nl',
        adminName: 'Admin',
        adminEmail: email,
        adminPassword: PASSWORD,
      },
      { caller: operator },
    );
    return { kind: 'staff', subjectId: adminStaffId, firmId: firm!.id, role: 'admin', email, scopes: [] } as Caller;
  };
  const admin = await register();
  const foreignAdmin = await register();
  const staff = async (role: 'employee' | 'support') => {
    const { staff: member } = await directory.inviteStaff(
      { name: role, email: `${role}-${next()}@firm.example`, role },
      { caller: admin },
    );
    await directory.activateStaff(
      { token: await tokenFor('StaffInvited', member!.id, 'staffId'), password: PASSWORD },
      { caller: operator },
    );
    return { ...admin, subjectId: member!.id, role, email: member!.email } as Caller;
  };
  const [employeeAssigned, employeeOther, supportAssigned, supportOther] = [
    await staff('employee'),
    await staff('employee'),
    await staff('support'),
    await staff('support'),
  ];
  const { clientGroup } = await directory.createClientGroup(
    { name: 'Horeca', email: 'horeca@firm.example', staffIds: [supportAssigned.subjectId] },
    { caller: admin },
  );
  const { staffGroup } = await directory.createStaffGroup({ name: 'Team', memberIds: [] }, { caller: admin });
  const dossier = async () => {
    const { dossier: created } = await directory.createDossier(
      { name: `Client ${next()}`, country: 'BE', enterpriseNumber: belgianNumber(), language: 'nl' },
      { caller: admin },
    );
    await directory.activateDossier(
      { dossierId: created!.id, fileManagerId: employeeAssigned.subjectId, clientGroupId: clientGroup!.id },
      { caller: admin },
    );
    return created!.id;
  };
  const [dossierId, otherDossierId] = [await dossier(), await dossier()];
  const client = async (onDossier: string) => {
    const { portalUser } = await directory.addPortalUser(
      { dossierId: onDossier, email: `client-${next()}@client.example`, name: 'Klant' },
      { caller: admin },
    );
    await directory.activatePortalUser(
      { token: await tokenFor('PortalUserAdded', portalUser!.id, 'portalUserId'), password: PASSWORD },
      { caller: operator },
    );
    const caller: Caller = { kind: 'portal_user', subjectId: portalUser!.id, firmId: admin.firmId, scopes: [] };
    await directory.acceptTerms({ version: '2025-01' }, { caller });
    return caller;
  };
  const apiKey = (scopes: string[]): Caller => ({ kind: 'api_key', subjectId: 'key-1', firmId: admin.firmId, scopes });
  world = {
    directory,
    firmId: admin.firmId,
    dossierId,
    otherDossierId,
    staffGroupId: staffGroup!.id,
    clientGroupId: clientGroup!.id,
    admin,
    callers: {
      admin,
      'employee assigned': employeeAssigned,
      'employee not assigned': employeeOther,
      'support assigned': supportAssigned,
      'support not assigned': supportOther,
      'portal user of the dossier': await client(dossierId),
      'portal user of another dossier': await client(otherDossierId),
      'admin of another firm': foreignAdmin,
      'API key with the scope': apiKey([]),
      'API key without the scope': apiKey([]),
    },
  };
  gatewayDb = await openMigratedDatabase();
  ({ app } = testApp(
    {
      db: gatewayDb.db,
      services: { directory },
      authorize: authorizeWithPolicy(directoryAccessFacts(directory)),
      // the key's scopes are written in the key itself here: `scope:<permission>`
      apiKeys: { verify: async (key) => ({ ...apiKey(key.startsWith('scope:') ? [key.slice(6)] : ['nothing:read']) }) },
    },
    routeTable,
    {
      VALIDATE_RESPONSES: 'false',
      RATE_LIMIT_PER_USER: '100000',
      RATE_LIMIT_PER_API_KEY: '100000',
      RATE_LIMIT_PER_IP: '100000',
    },
  ));
}, 60_000);

afterAll(async () => {
  world?.directory.close();
  await service?.stop();
  await gatewayDb?.dispose();
  await folder?.remove();
});

/** Everything the directory and the gateway hold, in a form that changes whenever any row changes. */
async function snapshot(): Promise<string> {
  const tables = [
    'firm',
    'staff',
    'staff_group',
    'staff_group_member',
    'client_group',
    'client_group_staff',
    'dossier',
    'dossier_collaborator',
    'portal_user',
    'portal_user_dossier',
    'activation_token',
    'outbox',
  ];
  const parts = [];
  for (const table of tables) {
    const { rows } = await service.db.query<{ digest: string }>(
      `SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest FROM ${table} t`,
    );
    parts.push(`${table}:${rows[0].digest}`);
  }
  const keys = await gatewayDb.db
    .query<{ digest: string }>(
      `SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest FROM api_key t`,
    )
    .catch(() => ({ rows: [{ digest: 'n/a' }] }));
  return [...parts, `api_key:${keys.rows[0].digest}`].join(' ');
}

const authenticatedRoutes = routeTable.filter(
  (route): route is Route & { permission: string } => route.auth === 'authenticated',
);

describe('the access matrix covers every route', () => {
  test.each(authenticatedRoutes.map((route) => [route.operationId, route.permission]))(
    '%s (%s) has expectations and a sample request',
    (operationId, permission) => {
      expect(Object.keys(MATRIX)).toContain(permission);
      expect(Object.keys(SAMPLES)).toContain(operationId);
    },
  );
});

describe.each(authenticatedRoutes.map((route) => [`${route.method.toUpperCase()} ${route.path}`, route]))(
  '%s',
  (_name, route) => {
    // refusals first, so that an allowed change cannot hide a refused one
    const order = [...PERSONAS].sort(
      (a, b) => Number(expected(route.permission, a)) - Number(expected(route.permission, b)),
    );
    test.each(order.map((persona) => [persona, expected(route.permission, persona) ? 'allowed' : 'refused'] as const))(
      '%s: %s',
      async (persona, verdict) => {
        const sample = await SAMPLES[route.operationId](world);
        const path = route.path.replace(/\{(\w+)\}/g, (_m, name: string) => sample.params?.[name] ?? 'missing');
        const before = verdict === 'refused' ? await snapshot() : '';
        let call = request(app)
          [route.method](path)
          .query(sample.query ?? {});
        if (persona.startsWith('API key'))
          call = call.set(
            'x-api-key',
            persona === 'API key with the scope' ? `scope:${route.permission}` : 'scope:nothing:read',
          );
        else call = call.set('authorization', bearer(world.callers[persona]));
        const response = sample.body ? await call.send(sample.body) : await call;
        await sample.after?.();
        const refusedByPolicy = [403, 404].includes(response.status) && POLICY_REASONS.has(response.body?.type);
        if (verdict === 'refused') {
          expect({ status: response.status, type: response.body?.type, refusedByPolicy }).toMatchObject({
            refusedByPolicy: true,
          });
          expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
          expect(await snapshot()).toBe(before);
        } else {
          expect({ status: response.status, type: response.body?.type, refusedByPolicy }).toMatchObject({
            refusedByPolicy: false,
          });
          expect(response.status).not.toBe(401);
        }
      },
    );
  },
);
