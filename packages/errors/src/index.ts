/**
 * Domain errors: the one vocabulary every service uses to refuse something. Each kind maps to one gRPC
 * status and one HTTP status, so a refusal raised deep in a service reaches the caller of the gateway as
 * the same problem+json `type`, whatever path it took.
 */
export type ErrorKind =
  | 'invalid_argument'
  | 'unauthenticated'
  | 'permission_denied'
  | 'not_found'
  | 'already_exists'
  | 'conflict'
  | 'failed_precondition'
  | 'resource_exhausted'
  | 'unavailable'
  | 'deadline_exceeded'
  | 'internal';

export interface FieldViolation {
  field: string;
  message: string;
}

export interface DomainErrorOptions {
  /** stable machine-readable reason within the kind, e.g. `last_admin`, `invalid_enterprise_number` */
  reason?: string;
  violations?: FieldViolation[];
  cause?: unknown;
}

export class DomainError extends Error {
  readonly kind: ErrorKind;
  readonly reason: string;
  readonly violations: FieldViolation[];

  constructor(kind: ErrorKind, message: string, options: DomainErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DomainError';
    this.kind = kind;
    this.reason = options.reason ?? kind;
    this.violations = options.violations ?? [];
  }
}

export const invalidArgument = (message: string, options?: DomainErrorOptions) =>
  new DomainError('invalid_argument', message, options);
export const notFound = (message: string, options?: DomainErrorOptions) =>
  new DomainError('not_found', message, options);
export const permissionDenied = (message: string, options?: DomainErrorOptions) =>
  new DomainError('permission_denied', message, options);
export const unauthenticated = (message: string, options?: DomainErrorOptions) =>
  new DomainError('unauthenticated', message, options);
export const alreadyExists = (message: string, options?: DomainErrorOptions) =>
  new DomainError('already_exists', message, options);
export const conflict = (message: string, options?: DomainErrorOptions) =>
  new DomainError('conflict', message, options);
export const failedPrecondition = (message: string, options?: DomainErrorOptions) =>
  new DomainError('failed_precondition', message, options);
export const resourceExhausted = (message: string, options?: DomainErrorOptions) =>
  new DomainError('resource_exhausted', message, options);
export const unavailable = (message: string, options?: DomainErrorOptions) =>
  new DomainError('unavailable', message, options);

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}

/**
 * An error as it crosses to another thread (postMessage keeps no class): a domain error keeps its kind, reason
 * and violations; any other error only its message.
 */
export interface PlainError {
  message: string;
  kind?: ErrorKind;
  reason?: string;
  violations?: FieldViolation[];
}

export function toPlainError(error: unknown): PlainError {
  if (error instanceof DomainError)
    return { message: error.message, kind: error.kind, reason: error.reason, violations: error.violations };
  return { message: error instanceof Error ? error.message : String(error) };
}

/** The error `toPlainError` made `plain` of: a DomainError again, or an Error with the message. */
export function fromPlainError(plain: PlainError): Error {
  return plain.kind
    ? new DomainError(plain.kind, plain.message, { reason: plain.reason, violations: plain.violations })
    : new Error(plain.message);
}

/** gRPC status codes (numeric values of grpc.status), kept here so that this package needs no gRPC library. */
export const GRPC_STATUS: Record<ErrorKind, number> = {
  invalid_argument: 3,
  deadline_exceeded: 4,
  not_found: 5,
  already_exists: 6,
  permission_denied: 7,
  resource_exhausted: 8,
  failed_precondition: 9,
  conflict: 10, // ABORTED
  internal: 13,
  unavailable: 14,
  unauthenticated: 16,
};

const KIND_BY_GRPC_STATUS = new Map<number, ErrorKind>(
  Object.entries(GRPC_STATUS).map(([kind, code]) => [code, kind as ErrorKind]),
);

export function kindFromGrpcStatus(code: number): ErrorKind {
  if (code === 1) return 'unavailable'; // CANCELLED
  if (code === 11) return 'invalid_argument'; // OUT_OF_RANGE
  if (code === 12) return 'internal'; // UNIMPLEMENTED
  return KIND_BY_GRPC_STATUS.get(code) ?? 'internal';
}

export const HTTP_STATUS: Record<ErrorKind, number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  conflict: 409,
  failed_precondition: 422,
  resource_exhausted: 429,
  unavailable: 503,
  deadline_exceeded: 504,
  internal: 500,
};

export const PROBLEM_TYPE_BASE = 'https://kantoor.dev/problems/';

/** RFC 9457 problem details as the gateway answers them. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  requestId?: string;
  errors?: FieldViolation[];
}

const TITLES: Record<ErrorKind, string> = {
  invalid_argument: 'The request is not valid',
  unauthenticated: 'Authentication is required',
  permission_denied: 'Not allowed',
  not_found: 'Not found',
  already_exists: 'Already exists',
  conflict: 'Conflict',
  failed_precondition: 'The request cannot be carried out in the current state',
  resource_exhausted: 'Too many requests',
  unavailable: 'Service unavailable',
  deadline_exceeded: 'The request took too long',
  internal: 'Internal error',
};

export function toProblem(error: DomainError, requestId?: string): ProblemDetails {
  const problem: ProblemDetails = {
    type: PROBLEM_TYPE_BASE + error.reason.replace(/_/g, '-'),
    title: TITLES[error.kind],
    status: HTTP_STATUS[error.kind],
    // internal errors never leak their message
    detail: error.kind === 'internal' ? 'An unexpected error occurred.' : error.message,
  };
  if (requestId) problem.requestId = requestId;
  if (error.violations.length > 0) problem.errors = error.violations;
  return problem;
}
