import { invalidArgument } from '@kantoor/errors';
import type { ByteRange, PutOptions } from './object-store';

export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
/** Metadata names the adapters use themselves (x-amz-meta-retain-until, x-amz-meta-legal-hold on S3). */
export const RESERVED_METADATA = ['retain-until', 'legal-hold'];
// S3 allows 2 KB of user metadata in total; what is left after our own entries and the encoding of values.
const MAX_METADATA_BYTES = 1536;
const METADATA_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const CONTENT_TYPE = /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+(\s*;[\x20-\x7e]*)?$/;

export interface ValidPut {
  contentType: string;
  retainUntil: Date | null;
  metadata: Record<string, string>;
  /** lowercase hex, or null: any bytes */
  sha256: string | null;
}

const SHA256 = /^[0-9a-f]{64}$/i;

function refuse(field: string, message: string, reason: string): never {
  throw invalidArgument(`${message}.`, { reason, violations: [{ field, message }] });
}

export function validatePutOptions(options: PutOptions = {}): ValidPut {
  const contentType = options.contentType ?? DEFAULT_CONTENT_TYPE;
  if (contentType.length > 255 || !CONTENT_TYPE.test(contentType)) {
    refuse('contentType', `Content type ${JSON.stringify(contentType)} is not a media type`, 'invalid_content_type');
  }
  const retainUntil = options.retainUntil ?? null;
  if (retainUntil !== null && !(retainUntil instanceof Date && Number.isFinite(retainUntil.getTime()))) {
    refuse('retainUntil', 'The retain-until date is not a valid date', 'invalid_retention');
  }
  const metadata = { ...(options.metadata ?? {}) };
  let bytes = 0;
  for (const [name, value] of Object.entries(metadata)) {
    if (!METADATA_NAME.test(name)) {
      refuse(
        `metadata.${name}`,
        `Metadata name "${name}" must be lowercase letters, digits and dashes`,
        'invalid_metadata',
      );
    }
    if (RESERVED_METADATA.includes(name)) {
      refuse(`metadata.${name}`, `Metadata name "${name}" is reserved for the object store`, 'invalid_metadata');
    }
    if (typeof value !== 'string') refuse(`metadata.${name}`, `Metadata "${name}" must be text`, 'invalid_metadata');
    bytes += name.length + encodeURIComponent(value).length;
  }
  if (bytes > MAX_METADATA_BYTES) {
    refuse(
      'metadata',
      `Metadata takes ${bytes} bytes once encoded, more than ${MAX_METADATA_BYTES}`,
      'invalid_metadata',
    );
  }
  const sha256 = options.sha256 === undefined ? null : options.sha256;
  if (sha256 !== null && (typeof sha256 !== 'string' || !SHA256.test(sha256))) {
    refuse('sha256', 'The expected SHA-256 must be 64 hexadecimal digits', 'invalid_checksum');
  }
  return { contentType, retainUntil, metadata, sha256: sha256?.toLowerCase() ?? null };
}

/** null means the whole object (a range from 0 without an end is the whole object, as S3 clients send it). */
export function validateRange(range: ByteRange | undefined): ByteRange | null {
  if (range === undefined) return null;
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0)
    refuse('range.start', 'A range must start at a byte offset of 0 or more', 'invalid_range');
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) {
    refuse('range.end', 'A range must end at or after its start (the end byte is included)', 'invalid_range');
  }
  return start === 0 && end === undefined ? null : { start, end };
}

export function rangeNotSatisfiable(key: string, start: number, size: number) {
  return invalidArgument(`Object "${key}" has ${size} bytes; a range cannot start at byte ${start}.`, {
    reason: 'range_not_satisfiable',
    violations: [{ field: 'range.start', message: `must be below ${size}` }],
  });
}
