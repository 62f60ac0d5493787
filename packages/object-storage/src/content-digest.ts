import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { failedPrecondition } from '@kantoor/errors';

/**
 * Passes bytes through unchanged while counting them and computing their SHA-256, so nothing is buffered.
 * Given the SHA-256 the bytes must have, it fails instead of ending when they differ: a store commits an object
 * only once its body has ended, so wrong bytes never become one.
 */
export class ContentDigest extends Transform {
  size = 0;
  private readonly hash = createHash('sha256');
  private digest?: string;

  constructor(
    private readonly key: string,
    private readonly expected: string | null = null,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.observe(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    callback(this.mismatch());
  }

  /** Counts and hashes a chunk; for a writer that takes the bytes itself rather than through the stream. */
  observe(chunk: Buffer): void {
    this.hash.update(chunk);
    this.size += chunk.length;
  }

  /** Once all bytes are observed: the refusal when they are not the expected ones, else null. */
  mismatch(): Error | null {
    const found = this.sha256();
    if (this.expected === null || found === this.expected) return null;
    return failedPrecondition(
      `The bytes for "${this.key}" have SHA-256 ${found}, not the expected ${this.expected}; nothing was stored.`,
      { reason: 'checksum_mismatch' },
    );
  }

  /** Only once the stream has ended. */
  sha256(): string {
    this.digest ??= this.hash.digest('hex');
    return this.digest;
  }
}

/** Bytes already in memory become a one-chunk stream so both kinds of body take the same path. */
export function toReadable(body: NodeJS.ReadableStream | Buffer | Uint8Array): NodeJS.ReadableStream {
  if (Buffer.isBuffer(body)) return Readable.from([body]);
  if (body instanceof Uint8Array) return Readable.from([Buffer.from(body.buffer, body.byteOffset, body.byteLength)]);
  return body;
}
