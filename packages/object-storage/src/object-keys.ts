import { invalidArgument } from '@kantoor/errors';

export const MAX_KEY_BYTES = 1024;
/** One byte below the common 255-byte file-name limit, so that the folder store can escape any segment. */
export const MAX_SEGMENT_BYTES = 254;

// Control characters break S3 listings (XML) and file names alike; NUL is the one that truncates paths.
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

function segmentProblem(segment: string): string | null {
  if (segment === '') return 'it has an empty segment ("//" or a trailing "/")';
  if (segment === '.' || segment === '..') return `it has a "${segment}" segment`;
  if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) return `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`;
  return null;
}

function keyProblem(key: unknown, isPrefix: boolean): string | null {
  if (typeof key !== 'string') return 'it is not text';
  if (key === '') return isPrefix ? null : 'it is empty';
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return `it is longer than ${MAX_KEY_BYTES} bytes`;
  if (CONTROL_CHARACTER.test(key)) return 'it contains a control character (such as NUL)';
  if (key.startsWith('/')) return 'it starts with "/"';
  const segments = key.split('/');
  // a prefix may end in the middle of a segment, or right after a "/"
  const whole = isPrefix ? segments.slice(0, -1) : segments;
  for (const segment of whole) {
    const problem = segmentProblem(segment);
    if (problem) return problem;
  }
  return null;
}

export function validateObjectKey(key: string): void {
  const problem = keyProblem(key, false);
  if (problem) {
    throw invalidArgument(`Object key ${JSON.stringify(key)} is not valid: ${problem}.`, {
      reason: 'invalid_object_key',
      violations: [{ field: 'key', message: problem }],
    });
  }
}

export function validateListPrefix(prefix: string): void {
  const problem = keyProblem(prefix, true);
  if (problem) {
    throw invalidArgument(`Prefix ${JSON.stringify(prefix)} is not valid: ${problem}.`, {
      reason: 'invalid_object_key',
      violations: [{ field: 'prefix', message: problem }],
    });
  }
}

/** S3 lists keys in UTF-8 byte order, which differs from JavaScript string order for some characters. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
