import { invalidArgument } from '@kantoor/errors';
import { PDFDocument } from 'pdf-lib';
import { PdfStructureError, readPdfStructure, type ReadAll, type ReadRange } from './pdf-structure';

export type OriginalFormat = 'pdf' | 'jpeg' | 'xml';

const refuse = (reason: string, message: string) => invalidArgument(message, { reason });

/** Decides the type from the first bytes; the name and the claimed type are only checked against it. */
export function sniffFormat(head: Uint8Array): OriginalFormat | undefined {
  const bytes = Buffer.from(head.subarray(0, 1024));
  if (bytes.subarray(0, 1024).indexOf('%PDF-') !== -1 && bytes.indexOf('%PDF-') < 1024) return 'pdf';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  const text = bytes
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .trimStart();
  if (text.startsWith('<?xml') || /^<([A-Za-z_][\w.-]*:)?(Invoice|CreditNote)[\s>]/.test(text)) return 'xml';
  return undefined;
}

/** The names accepted for each type; a name says what its content must be. */
const EXTENSIONS: Readonly<Record<string, OriginalFormat>> = {
  pdf: 'pdf',
  jpg: 'jpeg',
  jpeg: 'jpeg',
  jpe: 'jpeg',
  xml: 'xml',
  ubl: 'xml',
};

/** The Content-Types a client may claim for each type, with their usual aliases. */
const CLAIMED_TYPES: Readonly<Record<string, OriginalFormat>> = {
  'application/pdf': 'pdf',
  'application/x-pdf': 'pdf',
  'image/jpeg': 'jpeg',
  'image/jpg': 'jpeg',
  'image/pjpeg': 'jpeg',
  'application/xml': 'xml',
  'text/xml': 'xml',
};
/** Types that claim nothing about the content: an empty one, or "some bytes". */
const NO_CLAIM = ['', 'application/octet-stream'];

/** A Content-Type as its media type alone: `Image/JPEG; name=x` → `image/jpeg`. */
const mediaTypeOf = (contentType: string) => contentType.split(';')[0].trim().toLowerCase();

/**
 * Refuses anything but PDF, JPEG and UBL, and a file whose content is not what its name or its claimed
 * Content-Type says (the type the client declared for it; empty or application/octet-stream claims nothing).
 */
export function checkFormat(fileName: string, head: Uint8Array, contentType = ''): OriginalFormat {
  const format = checkNamedFormat(fileName, head);
  const claimed = mediaTypeOf(contentType);
  if (NO_CLAIM.includes(claimed)) return format;
  const named = `"${fileName || 'the file'}"`;
  if (!Object.hasOwn(CLAIMED_TYPES, claimed)) {
    throw refuse(
      'unsupported_type',
      `${named} was sent as ${claimed}; a document is sent as application/pdf, image/jpeg or application/xml.`,
    );
  }
  if (CLAIMED_TYPES[claimed] !== format) {
    throw refuse(
      'content_type_mismatch',
      `${named} was sent as ${claimed} but its content is ${format.toUpperCase()}.`,
    );
  }
  return format;
}

function checkNamedFormat(fileName: string, head: Uint8Array): OriginalFormat {
  const format = sniffFormat(head);
  const extension = /\.([A-Za-z0-9]+)$/.exec(fileName)?.[1]?.toLowerCase();
  if (!format) {
    throw refuse('unsupported_type', `"${fileName}" is not a PDF, JPEG or UBL file; only those are accepted.`);
  }
  if (extension && !Object.hasOwn(EXTENSIONS, extension)) {
    throw refuse(
      'unsupported_type',
      `"${fileName}": files of type .${extension} are not accepted (PDF, JPEG, UBL only).`,
    );
  }
  if (extension && EXTENSIONS[extension] !== format) {
    throw refuse(
      'content_mismatch',
      `"${fileName}" is named as ${EXTENSIONS[extension].toUpperCase()} but its content is ${format.toUpperCase()}.`,
    );
  }
  return format;
}

/** A PDF where it is: its size, ranges of it, and the whole of it once more as a stream. */
export interface PdfSource {
  size: number;
  read: ReadRange;
  readAll: ReadAll;
}

/** A PDF in memory (scanned pages, renditions) as a source. */
export const pdfInMemory = (bytes: Uint8Array): PdfSource => ({
  size: bytes.length,
  read: async (start, length) => Buffer.from(bytes.subarray(start, start + length)),
  readAll: async function* () {
    yield Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  },
});

/**
 * Counts a PDF's pages from its structure (pdf-structure.ts), so that a stored upload is checked without
 * reading it into memory; encrypted, incomplete and unreadable files are refused.
 */
export async function inspectPdf(source: PdfSource | Uint8Array, fileName: string): Promise<{ pages: number }> {
  const pdf = source instanceof Uint8Array ? pdfInMemory(source) : source;
  const tail = (await pdf.read(Math.max(0, pdf.size - 2048), 2048)).toString('latin1');
  if (!tail.includes('%%EOF')) throw refuse('corrupt_pdf', `"${fileName}" is a damaged PDF (it is incomplete).`);
  let pages: number;
  try {
    ({ pages } = await readPdfStructure(pdf.read, pdf.size, pdf.readAll));
  } catch (error) {
    if (!(error instanceof PdfStructureError)) throw error;
    if (error.encrypted) {
      throw refuse(
        'encrypted_pdf',
        `"${fileName}" is a password-protected (encrypted) PDF; remove the protection and try again.`,
      );
    }
    throw refuse('corrupt_pdf', `"${fileName}" is a damaged PDF and cannot be read.`);
  }
  if (pages === 0) throw refuse('corrupt_pdf', `"${fileName}" is a PDF without pages.`);
  return { pages };
}

/**
 * New PDFs from page groups (1-based page numbers) of one PDF, one at a time: each part is made when the one
 * before was taken, so only one is in memory. Every group is checked before the first part is made.
 */
export async function* splitPdf(bytes: Uint8Array, groups: number[][]): AsyncGenerator<Uint8Array> {
  const source = await PDFDocument.load(bytes, { updateMetadata: false });
  const count = source.getPageCount();
  for (const group of groups) {
    if (group.length === 0) throw refuse('empty_page_group', 'Every part of a split needs at least one page.');
    const bad = group.find((page) => !Number.isInteger(page) || page < 1 || page > count);
    if (bad !== undefined)
      throw refuse('page_out_of_range', `Page ${bad} does not exist; the document has ${count} pages.`);
  }
  for (const group of groups) {
    const target = await PDFDocument.create();
    for (const page of await target.copyPages(
      source,
      group.map((page) => page - 1),
    ))
      target.addPage(page);
    yield await target.save();
  }
}

/**
 * One PDF from several, in the given order. A part may be given as a function that reads it: it is then read
 * when its turn comes and let go after, so the sources are not all in memory at once.
 */
export async function mergePdfs(
  parts: Array<Uint8Array | (() => Promise<Uint8Array>)>,
): Promise<{ bytes: Uint8Array; pages: number }> {
  const target = await PDFDocument.create();
  for (const part of parts) {
    const source = await PDFDocument.load(typeof part === 'function' ? await part() : part, { updateMetadata: false });
    for (const page of await target.copyPages(source, source.getPageIndices())) target.addPage(page);
  }
  return { bytes: await target.save(), pages: target.getPageCount() };
}
