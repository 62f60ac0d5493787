import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { DomainError, GRPC_STATUS, kindFromGrpcStatus, type FieldViolation } from '@kantoor/errors';

const REASON_KEY = 'x-kantoor-reason';
const VIOLATIONS_KEY = 'x-kantoor-violations';

/** A thrown error as the gRPC status the caller receives; internal errors keep their message to the log. */
export function toGrpcStatus(error: unknown): Partial<StatusObject> {
  const metadata = new Metadata();
  if (error instanceof DomainError) {
    metadata.set(REASON_KEY, error.reason);
    if (error.violations.length > 0) metadata.set(VIOLATIONS_KEY, JSON.stringify(error.violations));
    return {
      code: GRPC_STATUS[error.kind],
      details: error.kind === 'internal' ? 'internal error' : error.message,
      metadata,
    };
  }
  return { code: status.INTERNAL, details: 'internal error', metadata };
}

/** A gRPC failure seen by a client as the DomainError the server raised, so it travels on unchanged. */
export function fromGrpcError(error: ServiceError): DomainError {
  const kind = kindFromGrpcStatus(error.code);
  const reason = error.metadata?.get(REASON_KEY)[0];
  const violationsText = error.metadata?.get(VIOLATIONS_KEY)[0];
  let violations: FieldViolation[] = [];
  if (typeof violationsText === 'string') {
    try {
      violations = JSON.parse(violationsText) as FieldViolation[];
    } catch {
      violations = [];
    }
  }
  const message =
    error.code === status.UNAVAILABLE || error.code === status.DEADLINE_EXCEEDED
      ? `the service is not reachable (${error.details || status[error.code]})`
      : error.details;
  return new DomainError(kind, message, {
    reason: typeof reason === 'string' ? reason : undefined,
    violations,
    cause: error,
  });
}
