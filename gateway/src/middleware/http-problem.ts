/** Refusals that belong to HTTP itself rather than to the domain (405, 413, 415), so have no ErrorKind. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly title: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpProblem';
  }
}

export const payloadTooLarge = (limit: number) =>
  new HttpProblem(413, 'payload_too_large', 'The request body is too large', `The body may be at most ${limit} bytes.`);

export const unsupportedMediaType = (accepted: readonly string[]) =>
  new HttpProblem(
    415,
    'unsupported_media_type',
    'Unsupported media type',
    `The body must be one of: ${accepted.join(', ')}.`,
  );

/** One file of a multipart body over the per-file limit (the rest of the body may still be fine). */
export const fileTooLarge = (fileName: string, limit: number) =>
  new HttpProblem(
    413,
    'file_too_large',
    'The file is too large',
    `${fileName ? `"${fileName}"` : 'A file'} is larger than the ${limit} bytes a file may have.`,
  );
