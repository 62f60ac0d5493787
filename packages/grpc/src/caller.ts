import { createHmac, timingSafeEqual } from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Metadata } from '@grpc/grpc-js';
import { CallerSchema, Caller_Kind, type Caller as CallerMessage } from '@kantoor/proto/kantoor/common/v1/caller_pb';

/** Who makes a call, as services see it. */
export interface Caller {
  kind: 'staff' | 'portal_user' | 'api_key' | 'system';
  subjectId: string;
  firmId: string;
  role?: 'admin' | 'employee' | 'support';
  email?: string;
  scopes: string[];
  impersonation?: { dossierId: string; portalUserId: string };
  requestId?: string;
}

export const CALLER_METADATA_KEY = 'x-kantoor-caller-bin';
/** HMAC-SHA256 of the caller's bytes with the platform's caller signing key */
export const CALLER_SIGNATURE_METADATA_KEY = 'x-kantoor-caller-sig-bin';

/** The shortest caller signing key taken (bytes of its UTF-8 text): 256 bits written as hex or base64 or longer. */
export const MIN_CALLER_SIGNING_KEY_LENGTH = 32;

let signingKey: Buffer | undefined;

/**
 * The key that signs the caller identity of every call this process makes, and without whose signature this
 * process's servers refuse a call (`unauthenticated`). Services trust the caller a call names (the gateway
 * checked the token; a service calling another names itself or the user it acts for); the signature makes
 * sure that only a Kantoor component, which holds the key, can name one: a pod or a local process that can
 * reach a service's port cannot act as a firm's admin. Set once at start: cluster mode from CALLER_SIGNING_KEY
 * (required), embedded mode from a key made at each start and shared with the service threads.
 * Without a key (unit tests of one component) calls are neither signed nor checked.
 */
export function useCallerSigningKey(key: string | undefined): void {
  if (key !== undefined && Buffer.byteLength(key) < MIN_CALLER_SIGNING_KEY_LENGTH)
    throw new Error(`the caller signing key must be at least ${MIN_CALLER_SIGNING_KEY_LENGTH} bytes long`);
  signingKey = key === undefined ? undefined : Buffer.from(key, 'utf8');
}

const signatureOf = (key: Buffer, callerBytes: Uint8Array) => createHmac('sha256', key).update(callerBytes).digest();

/** The caller's metadata of an outgoing call: its identity, and its signature when the process has a key. */
export function setCallerMetadata(metadata: Metadata, caller: Caller): void {
  const bytes = encodeCaller(caller);
  metadata.set(CALLER_METADATA_KEY, bytes);
  if (signingKey) metadata.set(CALLER_SIGNATURE_METADATA_KEY, signatureOf(signingKey, bytes));
}

const KIND_TO_PROTO = {
  staff: Caller_Kind.STAFF,
  portal_user: Caller_Kind.PORTAL_USER,
  api_key: Caller_Kind.API_KEY,
  system: Caller_Kind.SYSTEM,
} as const;
const KIND_FROM_PROTO = new Map<Caller_Kind, Caller['kind']>(
  Object.entries(KIND_TO_PROTO).map(([kind, value]) => [value, kind as Caller['kind']]),
);

export function encodeCaller(caller: Caller): Buffer {
  const message: CallerMessage = create(CallerSchema, {
    kind: KIND_TO_PROTO[caller.kind],
    subjectId: caller.subjectId,
    firmId: caller.firmId,
    role: caller.role ?? '',
    email: caller.email ?? '',
    scopes: caller.scopes,
    impersonation: caller.impersonation,
    requestId: caller.requestId ?? '',
  });
  return Buffer.from(toBinary(CallerSchema, message));
}

export function decodeCaller(bytes: Uint8Array): Caller | undefined {
  const message = fromBinary(CallerSchema, bytes);
  const kind = KIND_FROM_PROTO.get(message.kind);
  if (!kind || !message.subjectId) return undefined;
  return {
    kind,
    subjectId: message.subjectId,
    firmId: message.firmId,
    role: (message.role || undefined) as Caller['role'],
    email: message.email || undefined,
    scopes: [...message.scopes],
    impersonation: message.impersonation
      ? { dossierId: message.impersonation.dossierId, portalUserId: message.impersonation.portalUserId }
      : undefined,
    requestId: message.requestId || undefined,
  };
}

/**
 * The caller a call names, or undefined when it names none, or (with a signing key) when its signature is
 * missing or does not match.
 */
export function callerFromMetadata(metadata: Metadata): Caller | undefined {
  const [value] = metadata.get(CALLER_METADATA_KEY);
  if (!value || typeof value === 'string') return undefined;
  if (signingKey) {
    const [signature] = metadata.get(CALLER_SIGNATURE_METADATA_KEY);
    if (!signature || typeof signature === 'string') return undefined;
    const expected = signatureOf(signingKey, value);
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return undefined;
  }
  try {
    return decodeCaller(value);
  } catch {
    return undefined;
  }
}

export function systemCaller(service: string, firmId = ''): Caller {
  return { kind: 'system', subjectId: service, firmId, scopes: [] };
}
