/**
 * Streams in both directions without holding a body in memory: uploads reach the handler chunk by chunk
 * (counted against the route's limit, hashed for idempotency), downloads are piped to the client with
 * backpressure and stop the source when the client leaves.
 */
import type { Hash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { payloadTooLarge } from './http-problem';

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
  return new Metered(meter);
}

/** A class, not a literal with `get complete()`: see GatewayRequestState in request-context.ts for why. */
class Metered implements MeteredUpload {
  constructor(readonly stream: Transform) {}

  get complete(): boolean {
    return this.stream.writableFinished && !this.stream.errored;
  }
}

/**
 * Pipes `source` into the response, respecting backpressure. When the client disconnects the source is
 * destroyed (so a gRPC server stream is cancelled) and the promise resolves: nobody is left to tell.
 * When the source fails, the promise rejects with its error: if nothing was sent yet (a download refused
 * with NOT_FOUND before its first byte) the response is left intact, so the caller can still answer with a
 * problem; once bytes are out, the connection is cut, so the client cannot take a partial body for a whole.
 */
export function pipeToResponse(source: Readable, response: ServerResponse): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    source.once('error', (error) => {
      source.unpipe(response);
      if (response.headersSent) response.destroy();
      reject(error);
    });
    response.once('finish', () => resolve());
    response.once('close', () => {
      if (!response.writableFinished) source.destroy();
      resolve();
    });
    source.pipe(response);
  });
}

const DISCARD_LIMIT_BYTES = 8 * 1024 * 1024;
const DISCARD_LIMIT_MS = 5000;

/**
 * A refused upload may still be arriving. Closing at once would make the client's next write fail
 * (EPIPE, connection reset) before it reads our answer, so the rest is read and dropped, up to a bound
 * (8 MiB or 5 s); past it the connection is cut.
 */
export function discardUnreadBody(request: IncomingMessage): void {
  if (request.complete || request.destroyed) return;
  let discarded = 0;
  const cut = () => request.socket.destroy();
  const timer = setTimeout(cut, DISCARD_LIMIT_MS).unref();
  request.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > DISCARD_LIMIT_BYTES) cut();
  });
  request.once('close', () => clearTimeout(timer));
  request.unpipe();
  request.resume();
}
