/**
 * A streamed multipart/form-data body as its file parts, one at a time: each part's bytes are read as they
 * arrive and the parser waits (backpressure) until the part is read to its end, so neither a part nor the
 * whole body is ever held in memory.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { invalidArgument } from '@kantoor/errors';
import { fileTooLarge } from './http-problem';

export interface FilePart {
  /** the form field the part was sent under */
  field: string;
  /** as the client named it; empty when it gave none */
  fileName: string;
  /** the part's declared Content-Type (text/plain when it declared none, as RFC 7578 says) */
  mediaType: string;
  /** 1-based position among the file parts */
  position: number;
  /**
   * The part's bytes. Read it to its end (or call `skip`) before asking for the next part. A part larger than
   * `maxFileBytes` ends in a 413 error after its first `maxFileBytes` bytes.
   */
  bytes: AsyncIterable<Buffer>;
  /** drops the rest of this part */
  skip(): void;
}

export interface MultipartLimits {
  maxFileBytes: number;
  maxFiles: number;
  /** the refusal of a part past `maxFiles`; default: too many files */
  tooMany?: (maxFiles: number) => Error;
}

export const tooManyFiles = (maxFiles: number) =>
  invalidArgument(`At most ${maxFiles} files go in one request; send the others in another request.`, {
    reason: 'too_many_files',
    violations: [{ field: 'body', message: `has more than ${maxFiles} files` }],
  });

export const malformedMultipart = (why: string) =>
  invalidArgument(`The multipart/form-data body could not be read: ${why}.`, {
    reason: 'malformed_multipart',
    violations: [{ field: 'body', message: why }],
  });

/**
 * The file parts of `body` in the order they arrive. A text field, or more than `maxFiles` files, is refused
 * (400) when it is reached; so is a body that is not well-formed multipart. An error of `body` itself (too
 * large, the client left) ends the iteration with that error.
 */
export async function* fileParts(
  headers: IncomingHttpHeaders,
  body: Readable,
  limits: MultipartLimits,
): AsyncGenerator<FilePart> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers,
      limits: { fileSize: limits.maxFileBytes, files: limits.maxFiles, fields: 1, fieldSize: 1024 },
    });
  } catch (error) {
    throw malformedMultipart(busboyMessage(error));
  }
  type Event = { part: FilePart } | { error: unknown } | { end: true };
  const events: Event[] = [];
  let wake: (() => void) | undefined;
  let failed: unknown;
  let current: Readable | undefined;
  const push = (event: Event) => {
    events.push(event);
    wake?.();
  };
  /** `inLaterPart`: the refusal is of a part after the current one (the parser has read the current one to its end) */
  const fail = (error: unknown, inLaterPart = false) => {
    if (failed) return;
    failed = error;
    // the part being read sees a failure of the body too, so its reader does not wait for bytes that never come;
    // a refused later part (a text field, a file past the limit), which the parser can reach while the current
    // part is still being read, leaves the current part whole: it ends the iteration after it
    if (!inLaterPart) current?.destroy(error as Error);
    push({ error });
  };

  let position = 0;
  parser.on('file', (field, stream, info) => {
    current = stream;
    stream.on('error', () => undefined); // seen by its reader through `bytes`
    push({
      part: {
        field,
        fileName: info.filename ?? '',
        mediaType: info.mimeType.toLowerCase(),
        position: ++position,
        bytes: partBytes(stream, info.filename ?? '', limits.maxFileBytes, () => failed),
        skip: () => void stream.resume(),
      },
    });
  });
  parser.on('field', (name) =>
    fail(
      invalidArgument(`The form field "${name}" is not a file; send each file as a part with a file name.`, {
        reason: 'not_a_file',
        violations: [{ field: `body.${name}`, message: 'is not a file part' }],
      }),
      true,
    ),
  );
  parser.on('fieldsLimit', () =>
    fail(
      invalidArgument('A text field is not accepted here; send each file as a part with a file name.', {
        reason: 'not_a_file',
        violations: [{ field: 'body', message: 'has a part that is not a file' }],
      }),
      true,
    ),
  );
  parser.on('filesLimit', () => fail((limits.tooMany ?? tooManyFiles)(limits.maxFiles), true));
  parser.on('error', (error: Error) => fail(malformedMultipart(busboyMessage(error))));
  parser.on('close', () => push({ end: true }));
  body.on('error', fail);
  body.pipe(parser);

  try {
    for (;;) {
      while (events.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      const event = events.shift()!;
      if ('error' in event) throw event.error;
      if ('end' in event) {
        if (failed) throw failed;
        return;
      }
      yield event.part;
    }
  } finally {
    // stopped early (a refusal, or the consumer gave up): the rest of the body is not parsed
    body.unpipe(parser);
    current?.resume();
  }
}

const busboyMessage = (error: unknown) =>
  (error instanceof Error ? error.message : String(error)).replace(/^Multipart: /, '').toLowerCase();

/**
 * The bytes of one part. It fails with the body's failure: the one `failure` reports (too large, the client left)
 * or, when the parser broke the part off before it reports why (a body that ends inside the part), the same
 * malformed-multipart refusal the parser's error becomes, so the part and the body are refused alike.
 */
async function* partBytes(
  stream: Readable,
  fileName: string,
  limit: number,
  failure: () => unknown,
): AsyncIterable<Buffer> {
  // left early (the service refused the file at its first bytes): the rest of the part is drained, not destroyed;
  // a destroyed part would never ask the parser for more, and the parser would wait for it forever
  try {
    for await (const chunk of stream.iterator({ destroyOnReturn: false })) yield chunk as Buffer;
  } catch (error) {
    throw failure() ?? malformedMultipart(busboyMessage(error));
  } finally {
    if (!stream.readableEnded) stream.resume();
  }
  if ((stream as Readable & { truncated?: boolean }).truncated) throw fileTooLarge(fileName, limit);
}
