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

export function callerFromMetadata(metadata: Metadata): Caller | undefined {
  const [value] = metadata.get(CALLER_METADATA_KEY);
  if (!value || typeof value === 'string') return undefined;
  try {
    return decodeCaller(value);
  } catch {
    return undefined;
  }
}

export function systemCaller(service: string, firmId = ''): Caller {
  return { kind: 'system', subjectId: service, firmId, scopes: [] };
}
