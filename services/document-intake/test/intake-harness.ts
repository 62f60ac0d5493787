/** The real directory and document-intake services on one in-memory platform, with a firm, a dossier and people. */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { PDFDocument } from 'pdf-lib';
import { InProcessTransport } from '@kantoor/events';
import { createServiceClient, type Caller, type ServiceClient } from '@kantoor/grpc';
import { DocumentIntakeService } from '@kantoor/proto/kantoor/document_intake/v1/document_intake_pb';
import { embeddedPlatform, startService, type Platform, type RunningService } from '@kantoor/service-runtime';
import { createObjectStore, type ObjectStore } from '@kantoor/object-storage';
import { temporaryFolder } from '@kantoor/testing';
import {
  belgianNumber,
  PASSWORD,
  startDirectory,
  TERMS,
  type DirectoryFixture,
} from '../../directory/test/directory-fixture';
import { directoryOver } from '../src/adapters/directory';
import { createDocumentIntakeService } from '../src';
import type { IntakeConfig } from '../src/config';
import type { ImapIntake } from '../src/entry-points/imap/intake-imap-poller';

export interface IntakeHarness {
  fx: DirectoryFixture;
  /** the in-memory platform the services run on */
  platform: Platform;
  service: RunningService;
  client: ServiceClient<typeof DocumentIntakeService>;
  smtpPort: number;
  /** the IMAP poller, when the settings name an IMAP server */
  imap?: ImapIntake;
  admin: Caller;
  support: Caller;
  portal: Caller;
  dossierId: string;
  otherDossierId: string;
  enterpriseNumber: string;
  intakeDomain: string;
  /** the service's object store, as the platform opens it */
  objects: ObjectStore;
  /** the platform's data folder (generated secrets) */
  dataDir: string;
  /** stops the service and starts it again on the same platform (the databases are in memory: only the data folder stays) */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

let seed = 4200;

/** A PDF of `pages` small pages, each saying its number. */
export async function pdf(pages = 1): Promise<Buffer> {
  const doc = await PDFDocument.create();
  for (let i = 0; i < pages; i++) doc.addPage([200, 200]).drawText(`page ${i + 1}`);
  return Buffer.from(await doc.save());
}

export async function startIntake(
  options: { generatedLinkSecret?: boolean; settings?: Partial<IntakeConfig> } = {},
): Promise<IntakeHarness> {
  const transport = new InProcessTransport();
  const folder = await temporaryFolder('kantoor-intake-');
  const platform = embeddedPlatform({ dataDir: folder.path, inMemory: true, transport, logLevel: 'silent' });
  const fx = await startDirectory(platform);
  const admin = await fx.registerFirm();
  const intakeDomain = 'in.peeters.example';
  await fx.directory.updateFirmSettings({ intakeDomain }, { caller: admin });
  const support = await fx.activeStaff(admin, 'support');
  const enterpriseNumber = belgianNumber(seed++);
  const dossier = async (number: string) => {
    const { dossier } = await fx.directory.createDossier(
      { name: `Bakkerij ${number}`, country: 'BE', enterpriseNumber: number, language: 'nl' },
      { caller: admin },
    );
    await fx.directory.activateDossier({ dossierId: dossier!.id, fileManagerId: admin.subjectId }, { caller: admin });
    return dossier!.id;
  };
  const dossierId = await dossier(enterpriseNumber);
  const otherDossierId = await dossier(belgianNumber(seed++));
  await fx.directory.updateDossierSettings(
    { dossierId, senderWhitelist: { items: [{ email: 'boekhouding@leverancier.example', autoSend: true }] } },
    { caller: admin },
  );
  const { portalUser } = await fx.directory.addPortalUser(
    { dossierId, email: `klant-${seed}@bakkerij.example`, name: 'Klant' },
    { caller: admin },
  );
  const added = await fx.events<{ portalUserId: string; activationToken: string }>('PortalUserAdded');
  const token = added.find((event) => event.portalUserId === portalUser!.id)!.activationToken;
  await fx.directory.activatePortalUser({ token, password: PASSWORD }, { caller: fx.operator });
  const portal: Caller = { kind: 'portal_user', subjectId: portalUser!.id, firmId: admin.firmId, scopes: [] };
  await fx.directory.acceptTerms({ version: TERMS }, { caller: portal }).catch(() => undefined);
  await fx.directory
    .changePassword({ currentPassword: PASSWORD, newPassword: `${PASSWORD} 2` }, { caller: portal })
    .catch(() => undefined);

  let smtpPort = 0;
  let imap: ImapIntake | undefined;
  const start = () =>
    startService(
      createDocumentIntakeService({
        // as in production: access facts kept, forgotten on the directory's events
        directory: directoryOver(fx.directory, { keepAccessFacts: true }),
        settings: {
          INTAKE_SMTP_HOST: '127.0.0.1',
          INTAKE_LINK_SECRET: options.generatedLinkSecret ? undefined : 'x'.repeat(40),
          INTAKE_PUBLIC_URL: 'https://kantoor.example',
          ...options.settings,
        },
        onSmtpListening: (port) => (smtpPort = port),
        onImapIntake: (poller) => (imap = poller),
      }),
      platform,
      { host: '127.0.0.1', port: 0 },
    );
  const connect = (running: RunningService) =>
    createServiceClient(DocumentIntakeService, `127.0.0.1:${running.port}`, { timeoutMs: 30_000 });
  const service = await start();
  const client = connect(service);
  // the firm was registered before the service subscribed: it becomes known through a staff member's call
  await client.listDocuments({ dossierId }, { caller: admin });
  const harness: IntakeHarness = {
    fx,
    platform,
    service,
    client,
    smtpPort,
    imap,
    admin,
    support,
    portal,
    dossierId,
    otherDossierId,
    enterpriseNumber,
    intakeDomain,
    objects: await createObjectStore({ kind: 'folder', root: path.join(folder.path, 'objects', 'document-intake') }),
    dataDir: folder.path,
    async restart() {
      harness.client.close();
      await harness.service.stop();
      harness.service = await start();
      harness.client = connect(harness.service);
      harness.smtpPort = smtpPort;
      harness.imap = imap;
    },
    async stop() {
      harness.client.close();
      await harness.service.stop();
      await fx.stop();
      await transport.close();
      await folder.remove();
    },
  };
  return harness;
}

/** What the intake holds: rows, refusals, events and every file of its object store (temporary ones too). */
export async function intakeState(harness: IntakeHarness) {
  const count = async (table: string) =>
    (await harness.service.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n;
  const root = path.join(harness.dataDir, 'objects', 'document-intake');
  const files = existsSync(root)
    ? readdirSync(root, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => path.join(entry.parentPath, entry.name))
        .sort()
    : [];
  return {
    documents: await count('document'),
    refusedFiles: await count('refused_file'),
    events: await count('outbox'),
    files,
  };
}

/** Runs `refused` and checks that it left no document, no refusal record, no event and no object behind. */
export async function expectNothingStoredBy(refused: () => Promise<unknown>, harness: IntakeHarness) {
  const before = await intakeState(harness);
  await refused();
  expect(await intakeState(harness)).toEqual(before);
}

/**
 * Runs `work` while the database refuses to insert the document named `name`, as a full disk or a lost connection
 * would halfway through a mail.
 */
export async function whileDocumentRefused(harness: IntakeHarness, name: string, work: () => Promise<unknown>) {
  await harness.service.db.query(`
    CREATE FUNCTION refuse_one_document() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.name = '${name.replace(/'/g, "''")}' THEN RAISE EXCEPTION 'the database is gone for a moment'; END IF;
      RETURN NEW;
    END $$`);
  await harness.service.db.query(
    'CREATE TRIGGER refuse_one_document BEFORE INSERT ON document FOR EACH ROW EXECUTE FUNCTION refuse_one_document()',
  );
  try {
    await work();
  } finally {
    await harness.service.db.query('DROP TRIGGER refuse_one_document ON document');
    await harness.service.db.query('DROP FUNCTION refuse_one_document');
  }
}
