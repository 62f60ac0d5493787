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
/**
 * The request a call is made for (the gateway's request id), for the logs. It travels beside the signed
 * caller rather than in it, so that one user's caller bytes and their signature are the same on every call
 * (see `signedCallers`); it grants nothing, so it needs no signature.
 */
export const REQUEST_ID_METADATA_KEY = 'x-kantoor-request-id';

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
  signedCallers.clear();
  verifiedCallers.clear();
}

const signatureOf = (key: Buffer, callerBytes: Uint8Array) => createHmac('sha256', key).update(callerBytes).digest();

/**
 * The callers this process signed and verified most recently, so that the calls made for one user encode and
 * sign (client) and check and decode (server) that user once rather than on every call: a tenth of a unary
 * call's CPU on each side. A server takes a caller from here only when the call's bytes and signature are
 * exactly those it verified before. Emptied when full: a bound, not an LRU; the next calls fill it again.
 */
const signedCallers = new Map<string, { bytes: Buffer; signature: Buffer | undefined }>();
const verifiedCallers = new Map<string, { signature: Buffer | undefined; caller: Caller }>();
const MAX_KEPT_CALLERS = 1000;

function kept<K, V>(map: Map<K, V>, key: K, value: V): V {
  if (map.size >= MAX_KEPT_CALLERS) map.clear();
  map.set(key, value);
  return value;
}

/** The caller's metadata of an outgoing call: its identity, and its signature when the process has a key. */
export function setCallerMetadata(metadata: Metadata, caller: Caller): void {
  const identity = identityOf(caller);
  const signed = signedCallers.get(identity) ?? kept(signedCallers, identity, signedCaller(caller));
  metadata.set(CALLER_METADATA_KEY, signed.bytes);
  if (signed.signature) metadata.set(CALLER_SIGNATURE_METADATA_KEY, signed.signature);
  if (caller.requestId) metadata.set(REQUEST_ID_METADATA_KEY, caller.requestId);
}

function signedCaller(caller: Caller): { bytes: Buffer; signature: Buffer | undefined } {
  const bytes = encodeCaller(caller);
  return { bytes, signature: signingKey && signatureOf(signingKey, bytes) };
}

/** Everything `encodeCaller` writes, as one string (NUL cannot occur in ids, roles, addresses or scopes). */
const identityOf = (caller: Caller): string =>
  `${caller.kind}\0${caller.subjectId}\0${caller.firmId}\0${caller.role ?? ''}\0${caller.email ?? ''}\0${caller.scopes.join('\0')}\0${caller.scopes.length}\0${caller.impersonation?.dossierId ?? ''}\0${caller.impersonation?.portalUserId ?? ''}\0${caller.impersonation ? 1 : 0}`;

const KIND_TO_PROTO = {
  staff: Caller_Kind.STAFF,
  portal_user: Caller_Kind.PORTAL_USER,
  api_key: Caller_Kind.API_KEY,
  system: Caller_Kind.SYSTEM,
} as const;
const KIND_FROM_PROTO = new Map<Caller_Kind, Caller['kind']>(
  Object.entries(KIND_TO_PROTO).map(([kind, value]) => [value, kind as Caller['kind']]),
);

/** The caller's identity as signed; its request id is not part of it (REQUEST_ID_METADATA_KEY). */
export function encodeCaller(caller: Caller): Buffer {
  const message: CallerMessage = create(CallerSchema, {
    kind: KIND_TO_PROTO[caller.kind],
    subjectId: caller.subjectId,
    firmId: caller.firmId,
    role: caller.role ?? '',
    email: caller.email ?? '',
    scopes: caller.scopes,
    impersonation: caller.impersonation,
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
    // only a component of an earlier version still sends it here
    requestId: message.requestId || undefined,
  };
}

/**
 * The caller a call names, or undefined when it names none, or (with a signing key) when its signature is
 * missing or does not match. A new object every time: the handler may change it.
 */
export function callerFromMetadata(metadata: Metadata): Caller | undefined {
  const [value] = metadata.get(CALLER_METADATA_KEY);
  if (!value || typeof value === 'string') return undefined;
  let signature: Buffer | undefined;
  if (signingKey) {
    const [signed] = metadata.get(CALLER_SIGNATURE_METADATA_KEY);
    if (!signed || typeof signed === 'string') return undefined;
    signature = signed;
  }
  const bytes = value.toString('latin1');
  let verified = verifiedCallers.get(bytes);
  if (!verified) {
    const expected = signingKey && signatureOf(signingKey, value);
    const caller = (!expected || sameSignature(signature!, expected)) && decodedOrNothing(value);
    if (!caller) return undefined;
    verified = kept(verifiedCallers, bytes, { signature: expected, caller });
  } else if (verified.signature && !sameSignature(signature!, verified.signature)) return undefined;
  const [requestId] = metadata.get(REQUEST_ID_METADATA_KEY);
  return copyOf(verified.caller, typeof requestId === 'string' ? requestId : verified.caller.requestId);
}

const sameSignature = (given: Buffer, expected: Buffer) =>
  given.length === expected.length && timingSafeEqual(given, expected);

function decodedOrNothing(bytes: Buffer): Caller | undefined {
  try {
    return decodeCaller(bytes);
  } catch {
    return undefined;
  }
}

const copyOf = (caller: Caller, requestId: string | undefined): Caller => ({
  ...caller,
  scopes: [...caller.scopes],
  impersonation: caller.impersonation && { ...caller.impersonation },
  requestId,
});

export function systemCaller(service: string, firmId = ''): Caller {
  return { kind: 'system', subjectId: service, firmId, scopes: [] };
}
