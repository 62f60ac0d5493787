import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { DomainError, GRPC_STATUS, kindFromGrpcStatus, type FieldViolation } from '@kantoor/errors';

const REASON_KEY = 'x-kantoor-reason';
const VIOLATIONS_KEY = 'x-kantoor-violations';

/**
 * JSON with every character outside printable ASCII written as `\uXXXX`: a gRPC text header carries nothing else
 * (grpc-js refuses the value), and violations may echo what a user typed.
 */
const asciiJson = (value: unknown): string =>
  JSON.stringify(value).replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** A thrown error as the gRPC status the caller receives; internal errors keep their message to the log. */
export function toGrpcStatus(error: unknown): Partial<StatusObject> {
  const metadata = new Metadata();
  if (error instanceof DomainError) {
    metadata.set(REASON_KEY, error.reason);
    if (error.violations.length > 0) metadata.set(VIOLATIONS_KEY, asciiJson(error.violations));
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
  // A status without our reason comes from grpc-js, not from the service: its details name addresses and system
  // errors ("No connection established. Last error: connect ECONNREFUSED 10.0.3.4:50051"), which the answer to
  // a client must not show; they stay in the cause, which the gateway logs.
  const fromTransport =
    typeof reason !== 'string' && (error.code === status.UNAVAILABLE || error.code === status.DEADLINE_EXCEEDED);
  const message = fromTransport ? `the service is not reachable (${status[error.code]})` : error.details;
  return new DomainError(kind, message, {
    reason: typeof reason === 'string' ? reason : undefined,
    violations,
    cause: error,
  });
}
