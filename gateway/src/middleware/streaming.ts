/**
 * Streams in both directions without holding a body in memory: uploads reach the handler chunk by chunk
 * (counted against the route's limit, hashed for idempotency), downloads are piped to the client with
 * backpressure and stop the source when the client leaves.
 */
import type { Hash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { payloadTooLarge } from './problem';

export interface MeteredUpload {
  /** what the handler reads */
  stream: Readable;
  /** true once the whole body went through the meter (and so through the hash) */
  readonly complete: boolean;
}

/** Passes the body through unchanged, counting it against `limit` and feeding `hash` as it goes. */
export function meterUpload(source: Readable, limit: number, hash?: Hash): MeteredUpload {
  let received = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      received += chunk.length;
      if (received > limit) return done(payloadTooLarge(limit));
      hash?.update(chunk);
      done(null, chunk);
    },
  });
  // a client that goes away ends the request without 'end': the handler must see an error, not a short body
  source.on('error', (error) => meter.destroy(error));
  source.on('close', () => source.readableEnded || meter.destroy(new Error('the client aborted the upload')));
  source.pipe(meter);
  return {
    stream: meter,
    get complete() {
      return meter.writableFinished && !meter.errored;
    },
  };
}

/**
 * Pipes `source` into the response, respecting backpressure. When the client disconnects the source is
 * destroyed (so a gRPC server stream is cancelled) and the promise resolves: nobody is left to tell.
 * When the source fails half-way the connection is cut, so the client cannot mistake a partial body for
 * a whole one; the promise then rejects with the source's error.
 */
export async function pipeToResponse(source: Readable, response: ServerResponse): Promise<void> {
  try {
    await pipeline(source, response);
  } catch (error) {
    if (response.destroyed && !response.writableFinished && (error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') {
      return;
    }
    throw error;
  }
}
