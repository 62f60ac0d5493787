import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';

/** Passes bytes through unchanged while counting them and computing their SHA-256, so nothing is buffered. */
export class ContentDigest extends Transform {
  size = 0;
  private readonly hash = createHash('sha256');
  private digest?: string;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
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
