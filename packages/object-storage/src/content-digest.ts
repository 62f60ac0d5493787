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
    this.hash.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const found = this.sha256();
    if (this.expected === null || found === this.expected) return callback();
    callback(
      failedPrecondition(
        `The bytes for "${this.key}" have SHA-256 ${found}, not the expected ${this.expected}; nothing was stored.`,
        { reason: 'checksum_mismatch' },
      ),
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
