import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { create, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { anyPack, timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { AccessFacts, FetchAccessFacts } from '@kantoor/access-policy';
import { encodeEnvelope, InProcessTransport, topicOf } from '@kantoor/events';
import { createServiceClient, type Caller } from '@kantoor/grpc';
import type { ObjectStore } from '@kantoor/object-storage';
import { ArchiveService } from '@kantoor/proto/kantoor/archive/v1/archive_pb';
import { EventEnvelopeSchema } from '@kantoor/proto/kantoor/events/v1/envelope_pb';
import { DocumentStoredSchema } from '@kantoor/proto/kantoor/document_intake/v1/events_pb';
import { embeddedPlatform, startService, type Platform, type RunningService } from '@kantoor/service-runtime';
import type { ArchiveConfig } from '../src/config';
import { createArchiveService } from '../src/main';

export const firmId = randomUUID();
export const dossierId = randomUUID();
export const otherDossierId = randomUUID();
export const adminCaller: Caller = { kind: 'staff', subjectId: 'admin-1', firmId, role: 'admin', scopes: [] };
export const employeeCaller: Caller = { kind: 'staff', subjectId: 'employee-1', firmId, role: 'employee', scopes: [] };
export const strangerCaller: Caller = { kind: 'staff', subjectId: 'employee-2', firmId, role: 'employee', scopes: [] };
export const systemCaller: Caller = { kind: 'system', subjectId: 'invoicing', firmId, scopes: [] };
/** a second firm, with one admin and one dossier */
export const secondFirmId = randomUUID();
export const secondFirmDossierId = randomUUID();
export const secondFirmAdmin: Caller = {
  kind: 'staff',
  subjectId: 'admin-b',
  firmId: secondFirmId,
  role: 'admin',
  scopes: [],
};

type Role = AccessFacts['subject'] extends infer S ? (S extends { role?: infer R } ? R : never) : never;
const firms: Record<string, { staff: Record<string, Role>; dossiers: string[]; deactivated: string[] }> = {
  [firmId]: {
    staff: { 'admin-1': 'admin', 'employee-1': 'employee', 'employee-2': 'employee' },
    dossiers: [dossierId, otherDossierId],
    deactivated: [otherDossierId],
  },
  [secondFirmId]: { staff: { 'admin-b': 'admin' }, dossiers: [secondFirmDossierId], deactivated: [] },
};

/**
 * The directory's facts: in the first firm employee-1 is assigned to both dossiers (the other one deactivated),
 * employee-2 to none; the second firm has admin-b and a dossier of its own.
 */
export const accessFacts: FetchAccessFacts = async (query) => {
  const firm = firms[query.firmId];
  if (!firm) return undefined;
  const role = firm.staff[query.subject.id];
  const facts: AccessFacts = {
    firm: { firmId: query.firmId, onlyAdminsAddClients: false },
    subject: role ? { active: true, role } : undefined,
  };
  if (!query.dossierId) return facts;
  if (!firm.dossiers.includes(query.dossierId)) return undefined;
  facts.dossier = {
    dossierId: query.dossierId,
    firmId: query.firmId,
    status: firm.deactivated.includes(query.dossierId) ? 'deactivated' : 'active',
    assignedStaffIds: ['employee-1'],
    portalUserIds: [],
  };
  return facts;
};

export interface Harness {
  transport: InProcessTransport;
  platform: Platform;
  service: RunningService;
  client: ReturnType<typeof createServiceClient<typeof ArchiveService>>;
  intakeStore: ObjectStore;
  archiveStore: ObjectStore;
  dataDir: string;
  close(): Promise<void>;
}

export async function startArchive(
  overrideStore?: (
    service: string,
    options: { bucket?: string; objectLock?: boolean } | undefined,
    /** the store the embedded platform would give */
    base: () => Promise<ObjectStore>,
  ) => Promise<ObjectStore | undefined>,
  settings: Partial<ArchiveConfig> = {},
): Promise<Harness> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'archive-test-'));
  const transport = new InProcessTransport();
  const base = embeddedPlatform({ dataDir, inMemory: true, transport, logLevel: 'silent' });
  const platform: Platform = {
    ...base,
    mode: 'embedded',
    transport,
    logLevel: 'silent',
    openDatabase: base.openDatabase,
    openObjectStore: async (service, options) =>
      (await overrideStore?.(service, options, () => base.openObjectStore(service, options))) ??
      base.openObjectStore(service, options),
  };
  const definition = createArchiveService({
    accessFacts,
    settings: { ARCHIVE_VERIFY_INTERVAL_MINUTES: 0, ARCHIVE_PURGE_INTERVAL_MINUTES: 0, ...settings },
  });
  const service = await startService(definition, platform, { host: '127.0.0.1', port: 0 });
  const client = createServiceClient(ArchiveService, `127.0.0.1:${service.port}`);
  return {
    transport,
    platform,
    service,
    client,
    dataDir,
    intakeStore: await platform.openObjectStore('document-intake'),
    archiveStore: await platform.openObjectStore('archive', { bucket: 'kantoor-archive', objectLock: true }),
    async close() {
      client.close();
      await service.stop();
      await transport.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function deliver<Desc extends DescMessage>(
  transport: InProcessTransport,
  schema: Desc,
  value: MessageInitShape<Desc> & { firmId: string; dossierId: string },
  id: string = randomUUID(),
): Promise<string> {
  const envelope = create(EventEnvelopeSchema, {
    id,
    type: schema.typeName,
    source: 'document-intake',
    occurredAt: timestampFromDate(new Date()),
    firmId: value.firmId,
    dossierId: value.dossierId,
    payload: anyPack(schema, create(schema, value)),
  });
  await transport.publish([
    {
      topic: topicOf('document-intake'),
      key: value.dossierId,
      value: encodeEnvelope(envelope),
      headers: { 'event-id': id, 'event-type': schema.typeName },
    },
  ]);
  return id;
}

/** What document intake does on an upload: the bytes into its store, then DocumentStored. */
export async function storeInIntake(
  h: Harness,
  document: {
    name: string;
    mailbox?: string;
    type?: 'pdf' | 'ubl';
    bytes?: Buffer;
    issueDate?: string;
    dossier?: string;
    firm?: string;
    createdAt?: Date;
    jpeg?: boolean;
    channel?: string;
    /** split and merge results: the documents they came from */
    sourceDocumentIds?: string[];
    /** scans: the JPEG of each page */
    pages?: Buffer[];
  },
) {
  const documentId = randomUUID();
  const bytes = document.bytes ?? Buffer.from(`%PDF-1.7 ${document.name} ${documentId}`);
  const type = document.type ?? 'pdf';
  const contentType = type === 'ubl' ? 'application/xml' : document.jpeg ? 'image/jpeg' : 'application/pdf';
  const original = await h.intakeStore.put(`documents/${documentId}/original`, bytes, { contentType });
  const pdf = document.jpeg
    ? await h.intakeStore.put(`documents/${documentId}/pdf`, Buffer.concat([Buffer.from('%PDF '), bytes]), {
        contentType: 'application/pdf',
      })
    : undefined;
  const pages = [];
  for (const [index, page] of (document.pages ?? []).entries()) {
    const stored = await h.intakeStore.put(`documents/${documentId}/page-${index + 1}`, page, {
      contentType: 'image/jpeg',
    });
    pages.push({ ...stored, size: BigInt(stored.size), contentType: 'image/jpeg' });
  }
  const event = {
    firmId: document.firm ?? firmId,
    dossierId: document.dossier ?? dossierId,
    documentId,
    mailbox: document.mailbox ?? 'purchase',
    name: document.name,
    channel: document.channel ?? 'upload',
    sourceDocumentIds: document.sourceDocumentIds ?? [],
    pagesOriginals: pages,
    type,
    original: { ...original, size: BigInt(original.size), contentType },
    pdf: pdf
      ? { ...pdf, size: BigInt(pdf.size), contentType: 'application/pdf' }
      : type === 'pdf'
        ? { ...original, size: BigInt(original.size), contentType }
        : undefined,
    issueDate: document.issueDate ?? '',
    createdAt: timestampFromDate(document.createdAt ?? new Date()),
  };
  const eventId = await deliver(h.transport, DocumentStoredSchema, event);
  return { documentId, eventId, event, sha256: original.sha256 };
}

export async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value) || Date.now() > until) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function collect(stream: AsyncIterable<{ part: { case: string | undefined; value?: unknown } }>) {
  const chunks: Buffer[] = [];
  let info: unknown;
  for await (const message of stream) {
    if (message.part.case === 'info') info = message.part.value;
    else if (message.part.case === 'chunk') chunks.push(Buffer.from(message.part.value as Uint8Array));
  }
  return { info, bytes: Buffer.concat(chunks) };
}
